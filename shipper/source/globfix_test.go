package source

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestGlobCopyTruncateCopyMatches: a glob that matches copytruncate's copy (logs/* with
// app.log.1) ships each line once: the copy is drained by app.log's stream, not
// followed again as a new match from its beginning, and no file is counted missed.
func TestGlobCopyTruncateCopyMatches(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.MkdirAll(p("logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	s := openSet(t, cfg)
	g, err := s.OpenGlob(p("logs/*"))
	if err != nil {
		t.Fatal(err)
	}
	r := startAckReader(t, g, cfg.ChunkMax)
	want := tagged("g1", 1, 5)
	appendFile(t, p("logs/app.log"), want)
	r.waitLines(t, w, want)
	more := tagged("g2", 1, 5)
	appendFile(t, p("logs/app.log"), more)
	want += more
	b, err := os.ReadFile(p("logs/app.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("logs/app.log.1"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p("logs/app.log"), 0); err != nil {
		t.Fatal(err)
	}
	more = tagged("g3", 1, 5)
	appendFile(t, p("logs/app.log"), more)
	want += more
	r.waitLines(t, w, want)
	// A later line in each: still once.
	more = tagged("g4", 1, 2)
	appendFile(t, p("logs/app.log"), more)
	want += more
	r.waitLines(t, w, want)
	// The copy, drained by app.log's stream, is a file read and left: no stream of its
	// own (a stream of it would read it again from its start).
	waitCopyRead(t, w, g, p("logs/app.log.1"))
	r.waitLines(t, w, want)
	if n := testutil.ToFloat64(s.m.FilesMissed); n != 0 {
		t.Errorf("files_missed = %v, want 0", n)
	}
	if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
		t.Errorf("lost_bytes = %v, want 0", n)
	}

	r.stop()
	g.Close()
	s.Close()

	// After a restart, the copy is still a file read and left (the record of
	// generations of app.log's stream): not read again.
	s = openSet(t, cfg)
	defer s.Close()
	g, err = s.OpenGlob(p("logs/*"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r = startAckReader(t, g, cfg.ChunkMax)
	want = tagged("g5", 1, 3)
	appendFile(t, p("logs/app.log"), want)
	r.waitLines(t, w, want)
	waitCopyRead(t, w, g, p("logs/app.log.1"))
	r.waitLines(t, w, want)
}

// waitCopyRead waits until the glob g took its match m for a file a stream read and
// left (Glob.read), failing if m became a stream of its own.
func waitCopyRead(t *testing.T, w *ManualWaker, g *Glob, m string) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.children[m]; ok {
			t.Fatalf("%s followed as a stream of its own", m)
		}
		if _, ok := g.read[m]; !ok {
			return fmt.Errorf("%s not known as read yet", m)
		}
		return nil
	})
}

// countHandler counts the records logged with each message.
type countHandler struct {
	next slog.Handler // also gets every record
	mu   sync.Mutex
	n    map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return h.next.Handle(context.Background(), r)
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for m, k := range h.n {
		if strings.HasPrefix(m, prefix) {
			n += k
		}
	}
	return n
}

// TestGlobClaimLoggedOnce: a new match holding the file another match's stream
// follows (renamed to it while followed) is logged once, not at every scan, and, once
// that stream left the file wholly read, is a file read and left (no stream of its own,
// its lines shipped once), however many scans run.
func TestGlobClaimLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	h := &countHandler{next: testsupport.Logger(t).Handler(), n: map[string]int{}}
	s, err := New(cfg, slog.New(h), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := s.OpenGlob(p("*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r := startAckReader(t, g, cfg.ChunkMax)
	want := tagged("job", 1, 5)
	appendFile(t, p("job.log"), want)
	r.waitLines(t, w, want)
	mustRename(t, p("job.log"), p("job-done.log"))
	more := tagged("job", 6, 8) // written to the renamed file by its writer
	appendFile(t, p("job-done.log"), more)
	want += more
	r.waitLines(t, w, want)
	// A new job.log: job's stream leaves the renamed file for it (its record of
	// followed sources still names the renamed file: nothing acknowledged since).
	r.stop()
	appendFile(t, p("job.log"), tagged("next", 1, 1))
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		fi, err := os.Stat(p("job-done.log"))
		if err != nil {
			return err
		}
		if dev, ino, _ := fileID(fi); s.owned([2]uint64{dev, ino}, p("job-done.log")) {
			return fmt.Errorf("job-done.log still read by job's stream")
		}
		return nil
	})
	const claimed = "a new match is the file another match follows"
	// Scans (each a Waker tick) look at job-done.log again.
	scans := testutil.ToFloat64(s.m.GlobRescans)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := testutil.ToFloat64(s.m.GlobRescans) - scans; n < 20 {
			return fmt.Errorf("%v scans", n)
		}
		return nil
	})
	r = startAckReader(t, g, cfg.ChunkMax)
	r.waitLines(t, w, tagged("next", 1, 1))
	if n := h.count(claimed); n > 1 {
		t.Errorf("%q logged %d times, want at most once", claimed, n)
	}
}

// TestGlobReadBeforeOutOfDescriptors: after a restart, a glob's rotated name that is a
// file another stream read and left (logrotate's "extension .log": app.1.log ->
// app.2.log) and that cannot be opened for want of a descriptor (EMFILE) when first
// looked up is not taken for a new file read from its start: it is told at the next
// scan, and its lines are not shipped again.
func TestGlobReadBeforeOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.MkdirAll(p("logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	s := openSet(t, cfg)
	g, err := s.OpenGlob(p("logs/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := startAckReader(t, g, cfg.ChunkMax)
	want := tagged("g1", 1, 5)
	appendFile(t, p("logs/app.log"), want)
	r.waitLines(t, w, want)
	mustRename(t, p("logs/app.log"), p("logs/app.1.log"))
	more := tagged("g2", 1, 5)
	appendFile(t, p("logs/app.log"), more)
	want += more
	r.waitLines(t, w, want)
	r.stop()
	g.Close()
	s.Close()

	// The first open of app.2.log by a glob's look-up fails with EMFILE.
	var hit atomic.Bool
	h := func(name string) error {
		if name == p("logs/app.2.log") && strings.Contains(string(debug.Stack()), "readBefore") && hit.CompareAndSwap(false, true) {
			return syscall.EMFILE
		}
		return nil
	}
	openFault.Store(&h)
	defer openFault.Store(nil)
	mustRename(t, p("logs/app.1.log"), p("logs/app.2.log"))
	mustRename(t, p("logs/app.log"), p("logs/app.1.log"))
	s = openSet(t, cfg)
	defer s.Close()
	g, err = s.OpenGlob(p("logs/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r = startAckReader(t, g, cfg.ChunkMax)
	want = tagged("g3", 1, 5)
	appendFile(t, p("logs/app.log"), want)
	r.waitLines(t, w, want)
	if !hit.Load() {
		t.Fatal("the fault was never hit")
	}
	waitCopyRead(t, w, g, p("logs/app.2.log"))
	r.waitLines(t, w, want)
	if n := testutil.ToFloat64(s.m.FileErrors.WithLabelValues(FileErrorLimit)); n != 1 {
		t.Errorf("file_errors{reason=fd_limit} = %v, want 1", n)
	}
}

// TestGlobLeftFileShrunk: a glob's rotated name that another stream read and left,
// truncated since to a smaller size (truncate -s N, its first lines kept) and written
// to, is read on from where it stops holding what was read, as the stream that left it
// would read it: its kept lines are not shipped again, the lines written are shipped
// once, whether they make it longer than where it was left or not.
func TestGlobLeftFileShrunk(t *testing.T) {
	for _, late := range []int{1, 2, 9} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			dir := t.TempDir()
			p := func(n string) string { return filepath.Join(dir, n) }
			if err := os.MkdirAll(p("logs"), 0o755); err != nil {
				t.Fatal(err)
			}
			cfg, w := testConfig(t)
			cfg.RotateWait = 10 * time.Millisecond
			s := openSet(t, cfg)
			defer s.Close()
			g, err := s.OpenGlob(p("logs/*.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r := startAckReader(t, g, cfg.ChunkMax)
			want := tagged("g1", 1, 5)
			appendFile(t, p("logs/app.log"), want)
			r.waitLines(t, w, want)
			mustRename(t, p("logs/app.log"), p("logs/app.1.log"))
			more := tagged("g2", 1, 5)
			appendFile(t, p("logs/app.log"), more)
			want += more
			r.waitLines(t, w, want)
			// app.log's stream left app.1.log.
			testsupport.EventuallyErr(t, func() error {
				w.Tick()
				fi, err := os.Stat(p("logs/app.1.log"))
				if err != nil {
					return err
				}
				if dev, ino, _ := fileID(fi); s.ownedBy([2]uint64{dev, ino}) != nil {
					return fmt.Errorf("app.1.log still read")
				}
				return nil
			})
			// truncate -s N: its first 3 lines kept; then written to.
			if err := os.Truncate(p("logs/app.1.log"), int64(len(tagged("g1", 1, 3)))); err != nil {
				t.Fatal(err)
			}
			more = tagged("late", 1, late)
			appendFile(t, p("logs/app.1.log"), more)
			want += more
			r.waitLines(t, w, want)
			// A line after them in each file: once too.
			more = tagged("end", 1, 1)
			appendFile(t, p("logs/app.1.log"), more)
			want += more
			r.waitLines(t, w, want)
		})
	}
}

// TestGlobRotatedNamesNoStreams: a glob whose rotated names also match (logrotate's
// "extension .log": app.log -> app.1.log -> app.2.log) gives the rotated names drained
// by app.log's stream no stream of their own, while running as after a restart (one
// rule: a file a stream read and left), and every line is shipped once.
func TestGlobRotatedNamesNoStreams(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.MkdirAll(p("logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	onlyLive := func(g *Glob) {
		t.Helper()
		testsupport.EventuallyErr(t, func() error {
			w.Tick()
			if ps := g.Paths(); len(ps) != 1 || ps[0] != p("logs/app.log") {
				return fmt.Errorf("following %q, want only app.log", ps)
			}
			return nil
		})
	}
	s := openSet(t, cfg)
	g, err := s.OpenGlob(p("logs/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := startAckReader(t, g, cfg.ChunkMax)
	want := ""
	for n := 1; n <= 3; n++ {
		more := tagged(fmt.Sprint("g", n), 1, 5)
		appendFile(t, p("logs/app.log"), more)
		want += more
		r.waitLines(t, w, want)
		for k := n - 1; k >= 1; k-- {
			mustRename(t, p(fmt.Sprintf("logs/app.%d.log", k)), p(fmt.Sprintf("logs/app.%d.log", k+1)))
		}
		mustRename(t, p("logs/app.log"), p("logs/app.1.log"))
	}
	more := tagged("g4", 1, 5)
	appendFile(t, p("logs/app.log"), more)
	want += more
	r.waitLines(t, w, want)
	onlyLive(g)
	r.waitLines(t, w, want)
	r.stop()
	g.Close()
	s.Close()

	s = openSet(t, cfg)
	defer s.Close()
	g, err = s.OpenGlob(p("logs/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r = startAckReader(t, g, cfg.ChunkMax)
	want = tagged("g5", 1, 5)
	appendFile(t, p("logs/app.log"), want)
	r.waitLines(t, w, want)
	onlyLive(g)
	r.waitLines(t, w, want)
}
