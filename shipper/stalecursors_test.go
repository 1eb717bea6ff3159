package shipper

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
)

// namedCollector is a real collector with its metrics registry.
type namedCollector struct {
	*shipCollector
	reg *prometheus.Registry
}

// gapBytes returns the bytes of gaps the collector counted.
func (nc *namedCollector) gapBytes(t *testing.T) float64 {
	return testsupport.Gather(t, nc.reg, "logspread_collector_gap_bytes_total")
}

// startNamedCollector runs a real collector named name writing the group "www" as
// plain segments into dir (its state there too), stopped at the end of the test.
func startNamedCollector(t *testing.T, addr, dir, name string) *namedCollector {
	t.Helper()
	cfg := collector.DefaultConfig()
	cfg.Spread = addr
	cfg.Name = name
	cfg.Dir = dir
	cfg.Logs = []collector.LogConfig{{Group: "www", Template: "www.log"}}
	cfg.Compression = segment.CompressNone
	cfg.FlushInterval = 10 * time.Millisecond
	cfg.ReconnectMin = 10 * time.Millisecond
	cfg.ReconnectMax = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := collector.New(cfg, testsupport.Logger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &shipCollector{c: c, cancel: cancel, done: make(chan struct{})}
	go func() { // owned: stop waits for done
		defer close(sc.done)
		sc.err = c.Run(ctx)
	}()
	t.Cleanup(func() { sc.stop(t) })
	testsupport.EventuallyErr(t, c.Healthy)
	return &namedCollector{sc, reg}
}

// stdinRun is one run of a stdin shipper on the state directory of cfg: a new source
// set (locking the directory), the journal reading a pipe, a sender with AckWritten.
type stdinRun struct {
	s  *source.Set
	j  *source.Journal
	pw *io.PipeWriter
	rs *runningShipper
}

// startStdinRun starts a run whose input holds first (journaled before the sender
// starts, as when Apache wrote while its logger was being respawned).
func startStdinRun(t *testing.T, cfg source.Config, addr string, first []byte) *stdinRun {
	t.Helper()
	s, err := source.New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	j, err := s.OpenJournal("test", pr)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	r := &stdinRun{s: s, j: j, pw: pw}
	r.write(t, first)
	testsupport.EventuallyErr(t, func() error {
		if f := j.Fill(); f.Unacknowledged < uint64(len(first)) {
			return fmt.Errorf("journal holds %+v, want %d bytes", f, len(first))
		}
		return nil
	})
	r.rs = startShipper(t, writtenConfig(addr, cfg.StateDir), j)
	t.Cleanup(func() { r.stop(t) })
	return r
}

// write writes b to the input, from a goroutine the journal's reading ends.
func (r *stdinRun) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := r.pw.Write(b); err != nil {
		t.Fatal(err)
	}
}

// stop stops the sender, then closes the journal and the source set.
func (r *stdinRun) stop(t *testing.T) {
	t.Helper()
	if r.s == nil {
		return
	}
	if err := r.rs.stop(); err != nil {
		t.Errorf("shipper: %v", err)
	}
	r.pw.Close()
	r.j.Close()
	r.s.Close()
	r.s = nil
}

// TestWrittenStaleCursorsNoFalseLoss: the collectors' cursors a stdin shipper loads at
// a restart may be older than the journal's checkpoint (collectors.json is saved apart
// from checkpoints, paced: a SIGKILL between the saves; or its previous copy, used when
// the file is corrupt). The journal resumes at its checkpoint, and nothing was lost:
// no loss notice is sent, no loss is logged or counted, and no collector counts a gap,
// not even one that has no record of the stream (before, the sender compared the first
// chunk with the oldest cursor and announced the bytes between as lost: "stream jumps
// forward", and a collector without them counted a gap). Every line arrives once.
func TestWrittenStaleCursorsNoFalseLoss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale func(t *testing.T, cursors string, old []byte)
	}{
		{"older file", func(t *testing.T, cursors string, old []byte) {
			if err := os.WriteFile(cursors, old, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"previous copy of a zeroed file", func(t *testing.T, cursors string, old []byte) {
			if err := os.WriteFile(cursors, make([]byte, len(old)), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cursors+".prev", old, 0o640); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := sockPath(t)
			startTestDaemon(t, sock)
			addr := "unix:" + sock
			adir := t.TempDir()
			a := startNamedCollector(t, addr, adir, "alpha")
			cfg, _ := testConfig(t)
			part1, part2, part3 := testContent(61, 300), testContent(62, 400), testContent(63, 200)
			cursors := filepath.Join(cfg.StateDir, CursorsFile)

			r := startStdinRun(t, cfg, addr, part1)
			r.rs.waitAcked(t, uint64(len(part1)))
			r.stop(t)
			old, err := os.ReadFile(cursors)
			if err != nil {
				t.Fatal(err)
			}

			r = startStdinRun(t, cfg, addr, part2)
			r.rs.waitAcked(t, uint64(len(part2)))
			r.stop(t)
			a.stop(t)
			tc.stale(t, cursors, old)

			// The restart takes its first chunk before any collector is there (as in
			// a respawn on a busy pipe, where it comes before the collectors' hellos);
			// then beta, without any record of the stream, joins, and alpha comes back.
			r = startStdinRun(t, cfg, addr, part3)
			testsupport.EventuallyErr(t, func() error {
				if st := r.rs.Stats(); st.ReadBytes == 0 {
					return fmt.Errorf("nothing taken into the window yet (stats %+v)", st)
				}
				return nil
			})
			bdir := t.TempDir()
			b := startNamedCollector(t, addr, bdir, "beta")
			a = startNamedCollector(t, addr, adir, "alpha")
			r.rs.waitAcked(t, uint64(len(part3)))
			all := slices.Concat(part1, part2, part3)
			testsupport.EventuallyErr(t, func() error {
				if got := collectorOutput(t, adir); !bytes.Equal(got, all) {
					return fmt.Errorf("alpha has %d bytes, want %d", len(got), len(all))
				}
				if got := collectorOutput(t, bdir); !bytes.Equal(got, part3) {
					return fmt.Errorf("beta has %d bytes, want %d", len(got), len(part3))
				}
				return nil
			})
			if n := testutil.ToFloat64(r.rs.m.LossNotices); n != 0 {
				t.Errorf("loss notices %v, want 0: nothing was lost", n)
			}
			for _, name := range []string{"alpha", "beta"} {
				if v := testutil.ToFloat64(r.rs.m.CollectorLost.WithLabelValues(name)); v != 0 {
					t.Errorf("collector_lost_bytes_total{%s} %v, want 0", name, v)
				}
			}
			r.stop(t)
			a.stop(t)
			b.stop(t)
			if v := a.gapBytes(t); v != 0 {
				t.Errorf("alpha counted %v bytes of gaps, want 0", v)
			}
			if v := b.gapBytes(t); v != 0 {
				t.Errorf("beta counted %v bytes of gaps, want 0", v)
			}
		})
	}
}

// TestWrittenJournalLossAtRestartAnnounced: a real jump where a stdin shipper resumes
// is still announced with its exact size. The journal's first segment is deleted while
// the shipper is down, its bytes not sent (the only collector had stopped cleanly): at
// the restart the journal starts after its checkpoint, and reports the bytes between
// (Chunk.Lost) with the first chunk. The collector, back, counts a gap of exactly those
// bytes, and has every other line once; the shipper counts them lost for it.
func TestWrittenJournalLossAtRestartAnnounced(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	adir := t.TempDir()
	a := startNamedCollector(t, addr, adir, "alpha")
	cfg, _ := testConfig(t)
	cfg.JournalSegment = 4 << 10
	part1, part2, part3 := testContent(64, 300), testContent(65, 400), testContent(66, 200)

	r := startStdinRun(t, cfg, addr, part1)
	r.rs.waitAcked(t, uint64(len(part1)))
	a.stop(t)
	r.write(t, part2) // journaled, not sent: no collector
	dir := r.j.Dir()
	segs := func() []string {
		out, err := filepath.Glob(filepath.Join(dir, "*.jnl"))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	testsupport.EventuallyErr(t, func() error {
		if f := r.j.Fill(); f.Unacknowledged < uint64(len(part2)) {
			return fmt.Errorf("journal holds %+v, want %d bytes", f, len(part2))
		}
		return nil
	})
	r.stop(t)
	ss := segs()
	if len(ss) < 2 {
		t.Fatalf("journal segments %v, want several", ss)
	}
	// The first segment holds the journal offsets up to where the second starts.
	var start1, start2 uint64
	if _, err := fmt.Sscanf(filepath.Base(ss[0]), "%016x", &start1); err != nil {
		t.Fatalf("segment name %s: %v", ss[0], err)
	}
	if _, err := fmt.Sscanf(filepath.Base(ss[1]), "%016x", &start2); err != nil {
		t.Fatalf("segment name %s: %v", ss[1], err)
	}
	if start1 != uint64(len(part1)) || start2 <= start1 {
		t.Fatalf("segments start at %d and %d, part 1 has %d bytes", start1, start2, len(part1))
	}
	if err := os.Remove(ss[0]); err != nil {
		t.Fatal(err)
	}
	lost := start2 - start1

	a = startNamedCollector(t, addr, adir, "alpha")
	r = startStdinRun(t, cfg, addr, part3)
	rest := slices.Concat(part2[lost:], part3)
	r.rs.waitAcked(t, uint64(len(rest)))
	want := slices.Concat(part1, rest)
	testsupport.EventuallyErr(t, func() error {
		if got := collectorOutput(t, adir); !bytes.Equal(got, want) {
			return fmt.Errorf("alpha has %d bytes, want %d", len(got), len(want))
		}
		return nil
	})
	if n := testutil.ToFloat64(r.rs.m.LossNotices); n != 1 {
		t.Errorf("loss notices %v, want 1", n)
	}
	if v := testutil.ToFloat64(r.rs.m.CollectorLost.WithLabelValues("alpha")); v != float64(lost) {
		t.Errorf("collector_lost_bytes_total{alpha} %v, want %d", v, lost)
	}
	r.stop(t)
	a.stop(t)
	if v := a.gapBytes(t); v != float64(lost) {
		t.Errorf("alpha counted %v bytes of gaps, want exactly %d", v, lost)
	}
}

// TestWrittenStaleCursorsTailerNoFalseLoss: the same for a followed file. The tailer
// resumes at its checkpoint, above the cursors of an older collectors.json: nothing
// was lost, no loss notice is sent, and neither a collector that has the stream nor
// one without any record of it counts a gap.
func TestWrittenStaleCursorsTailerNoFalseLoss(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	adir := t.TempDir()
	a := startNamedCollector(t, addr, adir, "alpha")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	path := filepath.Join(t.TempDir(), "access.log")
	part1, part2, part3 := testContent(67, 300), testContent(68, 400), testContent(69, 200)
	cursors := filepath.Join(cfg.StateDir, CursorsFile)
	type run struct {
		s  *source.Set
		tl *source.Tailer
		rs *runningShipper
	}
	start := func() run {
		t.Helper()
		s, err := source.New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		tl, err := s.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		return run{s, tl, startShipper(t, writtenConfig(addr, cfg.StateDir), tl)}
	}
	stop := func(r run) {
		t.Helper()
		if err := r.rs.stop(); err != nil {
			t.Errorf("shipper: %v", err)
		}
		r.tl.Close()
		r.s.Close()
	}

	writeFile(t, path, part1)
	r := start()
	r.rs.waitAcked(t, uint64(len(part1)))
	stop(r)
	old, err := os.ReadFile(cursors)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, string(part2))
	r = start()
	r.rs.waitAcked(t, uint64(len(part2)))
	stop(r)
	a.stop(t)
	if err := os.WriteFile(cursors, old, 0o640); err != nil {
		t.Fatal(err)
	}

	appendFile(t, path, string(part3))
	r = start()
	testsupport.EventuallyErr(t, func() error {
		if st := r.rs.Stats(); st.ReadBytes == 0 {
			return fmt.Errorf("nothing taken into the window yet (stats %+v)", st)
		}
		return nil
	})
	bdir := t.TempDir()
	b := startNamedCollector(t, addr, bdir, "beta")
	a = startNamedCollector(t, addr, adir, "alpha")
	r.rs.waitAcked(t, uint64(len(part3)))
	all := slices.Concat(part1, part2, part3)
	testsupport.EventuallyErr(t, func() error {
		if got := collectorOutput(t, adir); !bytes.Equal(got, all) {
			return fmt.Errorf("alpha has %d bytes, want %d", len(got), len(all))
		}
		if got := collectorOutput(t, bdir); !bytes.Equal(got, part3) {
			return fmt.Errorf("beta has %d bytes, want %d", len(got), len(part3))
		}
		return nil
	})
	if n := testutil.ToFloat64(r.rs.m.LossNotices); n != 0 {
		t.Errorf("loss notices %v, want 0: nothing was lost", n)
	}
	stop(r)
	a.stop(t)
	b.stop(t)
	if v := a.gapBytes(t); v != 0 {
		t.Errorf("alpha counted %v bytes of gaps, want 0", v)
	}
	if v := b.gapBytes(t); v != 0 {
		t.Errorf("beta counted %v bytes of gaps, want 0", v)
	}
}

// TestWrittenBehindCollectorAtRestart: a collector that stopped cleanly is not waited
// for, and the journal's checkpoint passes what it has; the bytes between are then
// reclaimed. When it is back at the restart, it lacks bytes the journal no longer
// holds: it gets a loss notice for exactly them (counted as a gap by it and as lost
// for it by the shipper), then every later line; the collector that stayed counts no
// gap.
func TestWrittenBehindCollectorAtRestart(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	adir, bdir := t.TempDir(), t.TempDir()
	a := startNamedCollector(t, addr, adir, "alpha")
	b := startNamedCollector(t, addr, bdir, "beta")
	cfg, _ := testConfig(t)
	part1, part2, part3 := testContent(70, 300), testContent(71, 400), testContent(72, 200)

	r := startStdinRun(t, cfg, addr, part1)
	r.rs.waitAcked(t, uint64(len(part1)))
	testsupport.EventuallyErr(t, func() error {
		if got := collectorOutput(t, adir); !bytes.Equal(got, part1) {
			return fmt.Errorf("alpha has %d bytes, want %d", len(got), len(part1))
		}
		return nil
	})
	a.stop(t) // a clean stop: no longer waited for
	r.write(t, part2)
	r.rs.waitAcked(t, uint64(len(part1)+len(part2)))
	r.stop(t)

	a = startNamedCollector(t, addr, adir, "alpha")
	r = startStdinRun(t, cfg, addr, part3)
	r.rs.waitAcked(t, uint64(len(part3)))
	testsupport.EventuallyErr(t, func() error {
		if got, want := collectorOutput(t, adir), slices.Concat(part1, part3); !bytes.Equal(got, want) {
			return fmt.Errorf("alpha has %d bytes, want %d", len(got), len(want))
		}
		if got, want := collectorOutput(t, bdir), slices.Concat(part1, part2, part3); !bytes.Equal(got, want) {
			return fmt.Errorf("beta has %d bytes, want %d", len(got), len(want))
		}
		return nil
	})
	if v := testutil.ToFloat64(r.rs.m.CollectorLost.WithLabelValues("alpha")); v != float64(len(part2)) {
		t.Errorf("collector_lost_bytes_total{alpha} %v, want %d", v, len(part2))
	}
	if v := testutil.ToFloat64(r.rs.m.CollectorLost.WithLabelValues("beta")); v != 0 {
		t.Errorf("collector_lost_bytes_total{beta} %v, want 0", v)
	}
	r.stop(t)
	a.stop(t)
	b.stop(t)
	if v := a.gapBytes(t); v != float64(len(part2)) {
		t.Errorf("alpha counted %v bytes of gaps, want exactly %d", v, len(part2))
	}
	if v := b.gapBytes(t); v != 0 {
		t.Errorf("beta counted %v bytes of gaps, want 0", v)
	}
}
