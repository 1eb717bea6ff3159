package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// tagged returns lines from..to of the log tag, one per number.
func tagged(tag string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s %04d\n", tag, i)
	}
	return b.String()
}

// ackReader reads a source in a goroutine, acknowledging every chunk, and counts the
// lines it read (each line of the tests is unique) and the streams they came in.
type ackReader struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // Guards the fields below.
	lines   map[string]int
	streams map[string]map[uint64]bool // by path of the chunk
	lost    uint64
	err     error
}

func startAckReader(t *testing.T, src Source, max int) *ackReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &ackReader{cancel: cancel, done: make(chan struct{}), lines: map[string]int{}, streams: map[string]map[uint64]bool{}}
	go func() {
		defer close(r.done)
		for {
			c, err := src.Next(ctx, max)
			if err == nil {
				err = checkChunk(&c)
			}
			if err == nil {
				err = src.Ack(c.Pos)
			}
			r.mu.Lock()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					r.err = err
				}
				r.mu.Unlock()
				return
			}
			r.lost += c.Lost
			for l := range strings.Lines(string(c.Data)) {
				r.lines[l]++
			}
			p := filepath.Base(c.Pos.Path)
			if r.streams[p] == nil {
				r.streams[p] = map[uint64]bool{}
			}
			r.streams[p][c.Stream] = true
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *ackReader) stop() {
	r.cancel()
	<-r.done
}

// waitLines waits until every line of want was read (ticking w), then checks that each was
// read exactly once and that nothing else was read.
func (r *ackReader) waitLines(t *testing.T, w *ManualWaker, want string) {
	t.Helper()
	wl := map[string]int{}
	for l := range strings.Lines(want) {
		wl[l]++
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.err != nil {
			t.Fatalf("Next or Ack: %v", r.err)
		}
		for l := range wl {
			if r.lines[l] == 0 {
				return fmt.Errorf("waiting for %q (%d lines read)", l, len(r.lines))
			}
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	var bad []string
	for l, n := range r.lines {
		if n != wl[l] {
			bad = append(bad, fmt.Sprintf("%q read %d times, want %d", strings.TrimSuffix(l, "\n"), n, wl[l]))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Fatalf("%d lines wrong:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// openSet opens a Set that the caller closes (a restart closes it and opens another on
// the same state directory).
func openSet(t *testing.T, cfg Config) *Set {
	t.Helper()
	s, err := New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGlobResumesKnownStreamsByIdentity: a glob's matches renamed or deleted while the
// shipper was down are resumed by the identity of their file (device, inode, head)
// wherever it is in its directory, whether or not the live name returns: every line
// after the checkpoint is read exactly once, a renamed file that the pattern now matches
// is not read again as a new match (even with FromBeginning), a file gone entirely is
// counted, a checkpoint past its expiry is not resumed, and the streams whose path is
// gone are dropped (checkpoint removed) once drained and acknowledged.
func TestGlobResumesKnownStreamsByIdentity(t *testing.T) {
	dir := t.TempDir()
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	cfg.CheckpointExpiry = 24 * time.Hour
	pattern := filepath.Join(dir, "*.log")
	p := func(name string) string { return filepath.Join(dir, name) }
	// a: rotated (a.log.1), live name never returns; b: moved to a name that is neither a
	// match nor a rotated name; c: renamed to another match; d: deleted; e: rotated and
	// recreated; f: renamed to another match and recreated; x: rotated, its checkpoint
	// past the expiry.
	tags := []string{"a", "b", "c", "d", "e", "f", "x"}
	for _, tag := range tags {
		appendFile(t, p(tag+".log"), tagged(tag, 1, 10))
	}

	cfg.FromBeginning = true
	s := openSet(t, cfg)
	g, err := s.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	r := startAckReader(t, g, cfg.ChunkMax)
	var all string
	for _, tag := range tags {
		all += tagged(tag, 1, 10)
	}
	r.waitLines(t, w, all)
	r.stop()
	g.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// While the shipper is down.
	for _, tag := range tags {
		appendFile(t, p(tag+".log"), tagged(tag, 11, 20))
	}
	rename := func(from, to string) {
		t.Helper()
		if err := os.Rename(p(from), p(to)); err != nil {
			t.Fatal(err)
		}
	}
	rename("a.log", "a.log.1")
	rename("b.log", "b.log.done")
	rename("c.log", "c-old.log")
	if err := os.Remove(p("d.log")); err != nil {
		t.Fatal(err)
	}
	rename("e.log", "e.log.1")
	appendFile(t, p("e.log"), tagged("e", 21, 25))
	rename("f.log", "f-old.log")
	appendFile(t, p("f.log"), tagged("f", 21, 25))
	rename("x.log", "x.log.1")
	st, err := OpenStore(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, name := range []string{st.File(p("x.log")), st.File(p("x.log")) + ".prev"} {
		os.Chtimes(name, old, old)
	}
	st.Close()

	// The restart, reading matches without a checkpoint from their beginning: a renamed
	// file read as a new match would be read twice.
	s = openSet(t, cfg)
	t.Cleanup(func() { s.Close() })
	g, err = s.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() }) // after the reader stops
	r = startAckReader(t, g, cfg.ChunkMax)
	want := tagged("a", 11, 20) + tagged("b", 11, 20) + tagged("c", 11, 20) +
		tagged("e", 11, 25) + tagged("f", 11, 25)
	r.waitLines(t, w, want)
	// c continues its stream at its new name; after the restart it is followed there.
	appendFile(t, p("c-old.log"), tagged("c", 21, 22))
	want += tagged("c", 21, 22)
	r.waitLines(t, w, want)
	r.mu.Lock()
	if n := len(r.streams["c-old.log"]); n != 1 {
		t.Errorf("c-old.log read in %d streams", n)
	}
	r.mu.Unlock()
	// d.log, deleted with lines written after the shipper's last look (it had read and
	// acknowledged all it saw): counted as a file gone, no byte known lost, no jump.
	if gone, lost, jumps := testutil.ToFloat64(s.m.FilesGone), testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.StreamJumps); gone != 1 || lost != 0 || jumps != 0 {
		t.Errorf("checkpointed files gone %v, lost bytes %v, stream jumps %v; want 1, 0, 0 (d.log)", gone, lost, jumps)
	}
	// Drained and acknowledged, the streams whose path is gone are dropped: only the live
	// files are followed, and only their checkpoints are left (x's expired).
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		ps := g.Paths()
		slices.Sort(ps)
		// f-old.log, drained by f's stream and left wholly read once it moved on to the
		// new f.log, is a file a stream read and left: no stream of its own while it
		// holds no more than was read, as after a restart (Glob.readBefore).
		if want := []string{p("c-old.log"), p("e.log"), p("f.log")}; !slices.Equal(ps, want) {
			return fmt.Errorf("following %q, want %q", ps, want)
		}
		var left []string
		for _, tag := range []string{"a", "b", "c", "d", "x"} {
			if _, found, _ := s.store.Load(p(tag + ".log")); found {
				left = append(left, tag+".log")
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("checkpoints of %q left", left)
		}
		return nil
	})
	for _, f := range []string{"c-old.log", "e.log", "f.log"} {
		if _, found, _ := s.store.Load(p(f)); !found {
			t.Errorf("no checkpoint of %s", f)
		}
	}
	if v := testutil.ToFloat64(s.m.CheckpointsExpired); v < 1 {
		t.Errorf("checkpoints expired %v, want x.log's", v)
	}
	// A late writer on f-old.log: its lines are shipped once (not lost, not read again
	// from the file's start): it is followed from where f's stream left it.
	appendFile(t, p("f-old.log"), tagged("f", 26, 27))
	want += tagged("f", 26, 27)
	r.waitLines(t, w, want)
}

// TestGlobResumeInodeHeldByAnotherFile: a checkpointed file deleted while the shipper was
// down leaves its inode number to the next file created (ext4 reuses it at once), and a
// file renamed while down may be rewritten under its old inode with another head. The
// stream of the checkpoint does not walk through, or reserve, a file holding another
// head under its inode: that file is a new match, read by its own stream, and the
// stream whose file is gone counts it gone. (Reserved, the reused inode was read as the
// deleted file's generation, in its stream, and the new match was never followed.)
func TestGlobResumeInodeHeldByAnotherFile(t *testing.T) {
	dir := t.TempDir()
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	cfg.FromBeginning = true
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, tag := range []string{"d", "f"} {
		appendFile(t, p(tag+".log"), tagged(tag, 1, 10))
	}
	s := openSet(t, cfg)
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := startAckReader(t, g, cfg.ChunkMax)
	r.waitLines(t, w, tagged("d", 1, 10)+tagged("f", 1, 10))
	r.stop()
	g.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// While the shipper is down: d.log deleted and g.log created (on ext4 under d.log's
	// inode number); f.log renamed to k.log and rewritten there with another head (its
	// inode, whatever the file system).
	fi, err := os.Stat(p("d.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p("d.log")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p("g.log"), tagged("g", 1, 5))
	if gi, err := os.Stat(p("g.log")); err == nil && !os.SameFile(fi, gi) {
		dev, ino, _ := fileID(gi)
		t.Logf("g.log did not get d.log's inode number (%d:%d); only k.log holds another file's inode", dev, ino)
	}
	if err := os.Rename(p("f.log"), p("k.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("k.log"), []byte(tagged("k", 1, 5)), 0o644); err != nil {
		t.Fatal(err)
	}

	s = openSet(t, cfg)
	t.Cleanup(func() { s.Close() })
	g, err = s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() }) // after the reader stops
	r = startAckReader(t, g, cfg.ChunkMax)
	r.waitLines(t, w, tagged("g", 1, 5)+tagged("k", 1, 5))
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		ps := g.Paths()
		slices.Sort(ps)
		if want := []string{p("g.log"), p("k.log")}; !slices.Equal(ps, want) {
			return fmt.Errorf("following %q, want %q", ps, want)
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range []string{"d.log", "f.log"} {
		if n := len(r.streams[name]); n != 0 {
			t.Errorf("%d chunks of %s's stream after the restart; its file is gone", n, name)
		}
	}
	for _, name := range []string{"g.log", "k.log"} {
		if n := len(r.streams[name]); n != 1 {
			t.Errorf("%s read in %d streams, want its own", name, n)
		}
	}
}

// TestMarksFollowFileRenamedDuringReload: a file new to a reloaded configuration starts
// where it stood when the reload was taken (its mark); renamed before the new sources
// open (rotated during the swap), it is found by identity and drained from its mark,
// then the file that replaced it, if any, from its beginning. A glob's marked match whose
// path does not come back is drained and dropped.
func TestMarksFollowFileRenamedDuringReload(t *testing.T) {
	dir := t.TempDir()
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := os.Mkdir(p("g"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p("a.log"), tagged("a", 1, 5))   // a path added, rotated and recreated
	appendFile(t, p("g/c.log"), tagged("c", 1, 5)) // a match of a glob added, rotated
	appendFile(t, p("g/d.log"), tagged("d", 1, 5)) // another, rotated and recreated
	appendFile(t, p("g/e.log"), tagged("e", 1, 5)) // another, renamed to another match
	appendFile(t, p("g/f.log"), tagged("f", 1, 5)) // another, not renamed
	marks := TakeMarks(nil, []string{p("a.log"), p("g/*.log")})
	// Between the signal and the new sources.
	appendFile(t, p("a.log"), tagged("a", 6, 10))
	os.Rename(p("a.log"), p("a.log.1"))
	appendFile(t, p("a.log"), tagged("a", 11, 12))
	for _, tag := range []string{"c", "d", "e", "f"} {
		appendFile(t, p("g/"+tag+".log"), tagged(tag, 6, 10))
	}
	os.Rename(p("g/c.log"), p("g/c.log.1"))
	os.Rename(p("g/d.log"), p("g/d.log.1"))
	appendFile(t, p("g/d.log"), tagged("d", 11, 12))
	os.Rename(p("g/e.log"), p("g/e-old.log"))

	cfg.Since = marks
	s := openSet(t, cfg)
	t.Cleanup(func() { s.Close() })
	tl, err := s.OpenFile(p("a.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() }) // after the readers stop
	g, err := s.OpenGlob(p("g/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	ra := startAckReader(t, tl, cfg.ChunkMax)
	rg := startAckReader(t, g, cfg.ChunkMax)
	ra.waitLines(t, w, tagged("a", 6, 12))
	rg.waitLines(t, w, tagged("c", 6, 10)+tagged("d", 6, 12)+tagged("e", 6, 10)+tagged("f", 6, 10))
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		ps := g.Paths()
		slices.Sort(ps)
		if want := []string{p("g/d.log"), p("g/e-old.log"), p("g/f.log")}; !slices.Equal(ps, want) {
			return fmt.Errorf("following %q, want %q", ps, want)
		}
		return nil
	})
	if n := testutil.ToFloat64(s.m.FilesMissed); n != 0 {
		t.Errorf("%v files counted missed", n)
	}
}

// TestGlobMatchRenamedToMatchReadOnce: a followed match renamed, while the shipper runs,
// to a name the pattern matches (job-1.log -> job-1-done.log) is not read again from its
// beginning as a new match: identity decides, the stream that follows the file goes on
// reading it; lines appended after the rename arrive once.
func TestGlobMatchRenamedToMatchReadOnce(t *testing.T) {
	dir := t.TempDir()
	cfg, w := testConfig(t)
	s := openSet(t, cfg)
	t.Cleanup(func() { s.Close() })
	p := func(name string) string { return filepath.Join(dir, name) }
	g, err := s.OpenGlob(p("*.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	r := startAckReader(t, g, cfg.ChunkMax)
	appendFile(t, p("job-1.log"), tagged("job", 1, 5)) // appears after start: from its beginning
	r.waitLines(t, w, tagged("job", 1, 5))
	if err := os.Rename(p("job-1.log"), p("job-1-done.log")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p("job-1-done.log"), tagged("job", 6, 8))
	appendFile(t, p("other.log"), tagged("other", 1, 1)) // a scan after the rename was seen
	r.waitLines(t, w, tagged("job", 1, 8)+tagged("other", 1, 1))
	testsupport.EventuallyErr(t, func() error {
		w.Tick() // a full rescan too
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.claimed[p("job-1-done.log")]; !ok {
			return errors.New("job-1-done.log not claimed")
		}
		return nil
	})
	r.waitLines(t, w, tagged("job", 1, 8)+tagged("other", 1, 1))
}

// TestGlobClaimForgottenWithFile: the claim on a match renamed from another (not read as
// a stream of its own) goes with the file: deleted, the name is forgotten, and a new file
// there is a new match, read from its beginning.
func TestGlobClaimForgottenWithFile(t *testing.T) {
	dir := t.TempDir()
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	s := openSet(t, cfg)
	t.Cleanup(func() { s.Close() })
	p := func(name string) string { return filepath.Join(dir, name) }
	g, err := s.OpenGlob(p("*.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	r := startAckReader(t, g, cfg.ChunkMax)
	appendFile(t, p("job-1.log"), tagged("job", 1, 2))
	r.waitLines(t, w, tagged("job", 1, 2))
	if err := os.Rename(p("job-1.log"), p("job-1-done.log")); err != nil {
		t.Fatal(err)
	}
	claimed := func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		_, ok := g.claimed[p("job-1-done.log")]
		return ok
	}
	testsupport.Eventually(t, func() bool { w.Tick(); return claimed() }, "job-1-done.log claimed")
	if err := os.Remove(p("job-1-done.log")); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, func() bool { w.Tick(); return !claimed() && len(g.Paths()) == 0 }, "claim and match released")
	appendFile(t, p("job-1-done.log"), tagged("again", 1, 1))
	r.waitLines(t, w, tagged("job", 1, 2)+tagged("again", 1, 1))
}
