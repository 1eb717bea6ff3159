package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fillState makes every write to the state directory fail with ENOSPC until the
// returned function is called (or the test ends).
func fillState(t *testing.T) (free func()) {
	t.Helper()
	h := func(string) error { return syscall.ENOSPC }
	stateFault.Store(&h)
	free = func() { stateFault.CompareAndSwap(&h, nil) }
	t.Cleanup(free)
	return free
}

// warnHandler counts the records logged at warning level or above, and every record by
// message.
type warnHandler struct {
	next slog.Handler // also gets every record

	mu    sync.Mutex // Guards the fields below.
	warns []string
	n     map[string]int
}

func newWarnHandler(t *testing.T) *warnHandler {
	return &warnHandler{next: testsupport.Logger(t).Handler(), n: map[string]int{}}
}

func (h *warnHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *warnHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	if r.Level >= slog.LevelWarn {
		h.warns = append(h.warns, r.Message)
	}
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}
func (h *warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnHandler) WithGroup(string) slog.Handler      { return h }

func (h *warnHandler) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.warns...)
}

func (h *warnHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// ackingModel reads a source as a collector does (each line kept by stream and offset:
// a line sent again at the same place is dropped) and acknowledges every chunk,
// counting the acknowledgements whose checkpoint could not be saved (the shipper
// retries them; the source goes on).
type ackingModel struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex // Guards the fields below.
	lines    map[[2]uint64]string
	ackFails int
	err      error
}

func readAcking(t *testing.T, src Source) *ackingModel {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &ackingModel{cancel: cancel, done: make(chan struct{}), lines: map[[2]uint64]string{}}
	go func() {
		defer close(m.done)
		for {
			c, err := src.Next(ctx, 64<<10)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					m.mu.Lock()
					m.err = err
					m.mu.Unlock()
				}
				return
			}
			aerr := src.Ack(c.Pos)
			m.mu.Lock()
			if aerr != nil {
				m.ackFails++
			}
			off := c.Offset
			for l := range strings.Lines(string(c.Data)) {
				m.lines[[2]uint64{c.Stream, off}] = l
				off += uint64(len(l))
			}
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *ackingModel) stop() {
	m.cancel()
	<-m.done
}

// counts returns how many times each line was written (by distinct stream and offset).
func (m *ackingModel) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := map[string]int{}
	for _, l := range m.lines {
		n[l]++
	}
	return n
}

// wait waits until every line of want was written at least once.
func (m *ackingModel) wait(t *testing.T, w *ManualWaker, want []string) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		m.mu.Lock()
		err := m.err
		m.mu.Unlock()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		n := m.counts()
		missing := 0
		for _, l := range want {
			if n[l] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d lines not written yet", missing, len(want))
		}
		return nil
	})
}

// writeMatches appends lines from..to of each of n files dir/fNNN.log (created if
// needed) and returns them.
func writeMatches(t *testing.T, dir string, n, from, to int) []string {
	t.Helper()
	var all []string
	for i := range n {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for k := from; k <= to; k++ {
			l := fmt.Sprintf("f%03d line %d\n", i, k)
			b.WriteString(l)
			all = append(all, l)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return all
}

// TestGlobStateFullShipsNewMatches: a glob followed from an empty directory; the state
// directory becomes full (every write fails with ENOSPC) and 40 matches appear: each is
// followed and its lines shipped from its beginning all the same, and the failures are
// logged once (one warning for the whole state directory, not one per save, match or
// try), counted in logspread_shipper_state_save_errors_total; once space is back, one
// notice says saves succeed again.
func TestGlobStateFullShipsNewMatches(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	cfg, w := testConfig(t)
	h := newWarnHandler(t)
	reg := prometheus.NewRegistry()
	s, err := New(cfg, slog.New(h), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	before := len(h.warnings()) // "pattern matches no file yet"
	free := fillState(t)
	want := writeMatches(t, dir, n, 1, 5)
	m := readAcking(t, g)
	m.wait(t, w, want)
	// More scans and writes while full: no more warnings.
	want = append(want, writeMatches(t, dir, n, 6, 10)...)
	m.wait(t, w, want)
	for range 5 {
		w.Tick()
	}
	if got := s.m.StateSaveErrors; testutil.ToFloat64(got) < n {
		t.Errorf("state_save_errors_total = %v, want at least %d (one per match at least)", testutil.ToFloat64(got), n)
	}
	if ws := h.warnings()[before:]; len(ws) != 1 {
		t.Errorf("%d warnings while the state directory is full, want 1:\n%s", len(ws), strings.Join(ws[:min(len(ws), 20)], "\n"))
	}
	free()
	want = append(want, writeMatches(t, dir, n, 11, 12)...)
	m.wait(t, w, want)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if h.count(stateSavedAgain) == 0 {
			return errors.New("no notice that state is saved again")
		}
		return nil
	})
	if got := h.count(stateSavedAgain); got != 1 {
		t.Errorf("%d notices that state is saved again, want 1", got)
	}
	for l, k := range m.counts() {
		if k != 1 {
			t.Errorf("%q written %d times, want once", l, k)
		}
	}
}

// TestGlobStateFullRestartReadsNewMatchesFromStart: matches that appeared while the state
// directory was full were shipped, but nothing of them was saved (no checkpoint, no
// record); the shipper stops (its stop checkpoints fail too) and starts again with space
// back, without FromBeginning. Those matches appeared after the pattern's first start:
// each is read from its beginning (every line shipped, the lines written while it was
// down too), never from its end, as the same stream at the same offsets (matchStream):
// a collector writes each line once over both runs.
func TestGlobStateFullRestartReadsNewMatchesFromStart(t *testing.T) {
	const n = 30
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.log")
	cfg, w := testConfig(t)
	s1 := newSources(t, cfg)
	g1, err := s1.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	free := fillState(t)
	want := writeMatches(t, dir, n, 1, 5)
	m1 := readAcking(t, g1)
	m1.wait(t, w, want)
	m1.stop()
	g1.Close()
	s1.Close()
	free()
	want = append(want, writeMatches(t, dir, n, 6, 8)...)

	m2 := restartGlob(t, cfg, pattern, want)
	// Every line in the second run (lines 1-5 again, read from the start), and each
	// written once over both runs (by stream and offset, as a collector drops them).
	onceOverRuns(t, m1, m2)
}

// onceOverRuns checks that every line the last run wrote was written once in it, and
// that every line of all runs was written once over them (by stream and offset, as a
// collector drops a line sent again at the same place).
func onceOverRuns(t *testing.T, runs ...*ackingModel) {
	t.Helper()
	for l, k := range runs[len(runs)-1].counts() {
		if k != 1 {
			t.Errorf("%q written %d times in the last run, want once", l, k)
		}
	}
	all := map[[2]uint64]string{}
	for _, m := range runs {
		m.mu.Lock()
		maps.Copy(all, m.lines)
		m.mu.Unlock()
	}
	times := map[string]int{}
	for _, l := range all {
		times[l]++
	}
	bad := 0
	for l, k := range times {
		if k != 1 && bad < 10 {
			bad++
			t.Errorf("%q written %d times over the runs, want once", l, k)
		}
	}
}

// TestGlobStateFullAtFirstStart: the state directory is full at the pattern's first
// start, so its marker cannot be written (only an empty file named for its salt);
// matches that appear are shipped all the same and the marker is written by the first
// scan after space is back. A restart then reads
// every match without a checkpoint from its beginning: the lines written while the
// shipper was down are shipped, not skipped as at a first start.
func TestGlobStateFullAtFirstStart(t *testing.T) {
	const n = 5
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.log")
	cfg, w := testConfig(t)
	s1 := newSources(t, cfg)
	free := fillState(t)
	g1, err := s1.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	want := writeMatches(t, dir, n, 1, 3)
	m1 := readAcking(t, g1)
	m1.wait(t, w, want)
	free()
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if mk, err := s1.store.followedGlob(absPath(pattern)); err != nil || !mk.before || mk.salt == 0 || mk.named {
			return fmt.Errorf("pattern not marked yet (%+v, %v)", mk, err)
		}
		return nil
	})
	m1.stop()
	g1.Close()
	s1.Close()
	want = append(want, writeMatches(t, dir, n, 4, 6)...)

	restartGlob(t, cfg, pattern, want[n*3:]) // lines 4-6 of each: written while down
}

// restartGlob opens pattern again in a new set of sources (cfg, with a waker of its
// own), as a restarted shipper does, and reads it, acknowledging, until want arrived.
func restartGlob(t *testing.T, cfg Config, pattern string, want []string) *ackingModel {
	t.Helper()
	w := NewManualWaker()
	cfg.Waker = w
	g, err := newSources(t, cfg).OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	m := readAcking(t, g)
	m.wait(t, w, want)
	return m
}
