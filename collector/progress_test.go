package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// progressWatcher is a plain Spread client joined to a presence group: it collects the
// progress reports multicast there.
type progressWatcher struct {
	reports chan envelope.Progress
}

func watchProgress(t *testing.T, addr, group string) *progressWatcher {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: "pwatch", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Join(envelope.PresenceGroup(group)); err != nil {
		t.Fatal(err)
	}
	// The join is asynchronous: wait until it is delivered, so no report sent after
	// this returns is missed.
	for {
		var m spreadlink.Message
		if err := conn.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Changed == conn.PrivateGroup() {
			break
		}
	}
	w := &progressWatcher{reports: make(chan envelope.Progress, 100000)}
	done := make(chan struct{})
	go func() { // owned: ends when conn is closed (cleanup below waits for it)
		defer close(done)
		defer close(w.reports)
		var m spreadlink.Message
		for conn.Receive(&m) == nil {
			if !m.Service.IsRegular() || m.MessType != envelope.MessTypeProgress {
				continue
			}
			var p envelope.Progress
			if err := envelope.ParseProgress(m.Data, &p); err != nil {
				t.Errorf("bad progress report: %v", err)
				continue
			}
			w.reports <- p
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return w
}

// next returns the next report.
func (w *progressWatcher) next(t *testing.T) envelope.Progress {
	t.Helper()
	return testsupport.Receive(t, w.reports, "a progress report")
}

// until reads reports until cond holds for one, and returns that one.
func (w *progressWatcher) until(t *testing.T, what string, cond func(envelope.Progress) bool) envelope.Progress {
	t.Helper()
	for {
		if p := testsupport.Receive(t, w.reports, "a report with %s", what); cond(p) {
			return p
		}
	}
}

func endOf(p envelope.Progress, stream uint64) (uint64, bool) {
	for _, s := range p.Streams {
		if s.Stream == stream {
			return s.End, true
		}
	}
	return 0, false
}

// TestCollectorProgressMidStream: a collector that first has a stream in its middle
// (it joined while the stream flowed) reports the range it has, from there: a shipper
// must not take it to have the start. Once a resend fills what lies below, the range
// starts at the stream's start.
func TestCollectorProgressMidStream(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	w := watchProgress(t, addr, "www")
	cfg := testConfig(t, addr)
	cfg.Name = "col-m"
	newTestCollector(t, cfg, nil).start(t)
	if p := w.next(t); len(p.Streams) != 0 {
		t.Fatalf("first report %+v, want the hello with no streams", p)
	}
	s := newSender(t, addr, 41)
	low, high, tail := testLines("H", 0, 50), testLines("H", 50, 50), testLines("T", 100, 50)
	x := uint64(len(low) + len(high))
	s.batchAt([]string{"www"}, x, tail)
	want := envelope.StreamProgress{Stream: 41, From: x, End: x + uint64(len(tail))}
	if p := w.next(t); len(p.Streams) != 1 || p.Streams[0] != want {
		t.Fatalf("report %+v, want %+v", p, want)
	}
	s.batchAt([]string{"www"}, 0, low)
	want = envelope.StreamProgress{Stream: 41, From: 0, End: uint64(len(low))}
	if p := w.next(t); len(p.Streams) != 1 || p.Streams[0] != want {
		t.Fatalf("report %+v, want %+v (the lowest range)", p, want)
	}
	s.batchAt([]string{"www"}, uint64(len(low)), high)
	want = envelope.StreamProgress{Stream: 41, From: 0, End: x + uint64(len(tail))}
	if p := w.next(t); len(p.Streams) != 1 || p.Streams[0] != want {
		t.Fatalf("report %+v, want %+v", p, want)
	}
}

// TestCollectorProgress reads the reports with a plain client joined to ~www: a hello
// with the collector's name and no streams, then after the flushes the ends of the
// streams that moved (and only those), up to every byte sent; a restarted collector's
// hello covers every stream it has state for, in several reports when there are more
// than envelope.MaxProgressEntries; a clean stop ends with a final report.
func TestCollectorProgress(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	w := watchProgress(t, addr, "www")
	cfg := testConfig(t, addr)
	cfg.Name = "col-a"
	c := newTestCollector(t, cfg, nil).start(t)
	if p := w.next(t); p.Name != "col-a" || p.Flags != 0 || len(p.Streams) != 0 {
		t.Fatalf("first report %+v, want the hello of col-a with no streams", p)
	}
	s1, s2 := newSender(t, addr, 31), newSender(t, addr, 32)
	a, b := testLines("A", 0, 300), testLines("B", 0, 200)
	for _, p := range splitLines(a, 30) {
		s1.batch("www", p)
	}
	for _, p := range splitLines(b, 20) {
		s2.batch("www", p)
	}
	ends := map[uint64]uint64{}
	for ends[31] != uint64(len(a)) || ends[32] != uint64(len(b)) {
		p := w.next(t)
		if p.Name != "col-a" || p.Flags != 0 {
			t.Fatalf("report %+v", p)
		}
		for _, sp := range p.Streams {
			if sp.End < ends[sp.Stream] || sp.End == ends[sp.Stream] {
				t.Fatalf("report %+v: stream %d did not move (was %d)", p, sp.Stream, ends[sp.Stream])
			}
			ends[sp.Stream] = sp.End
		}
	}
	// Only stream 31 moves now: the report names it alone.
	more := testLines("A", 300, 10)
	s1.batch("www", more)
	if p := w.next(t); len(p.Streams) != 1 || p.Streams[0] != (envelope.StreamProgress{Stream: 31, End: uint64(len(a) + len(more))}) {
		t.Fatalf("report %+v, want stream 31 alone at %d", p, len(a)+len(more))
	}
	testsupport.Eventually(t, func() bool { return counter(c.m.ProgressReports) >= 3 }, "progress reports counted")
	c.stop(t)
	if p := w.next(t); p.Flags != envelope.ProgressFinal || len(p.Streams) != 0 {
		t.Fatalf("last report %+v, want a final one with nothing left to report", p)
	}

	// A restart with state for more streams than one report holds.
	st, err := LoadState(filepath.Join(cfg.Dir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	const extra = envelope.MaxProgressEntries + 10
	for i := range extra {
		st.Streams[uint64(1000+i)] = StreamState{Base: 5, Written: []Span{{5, 50}}, Groups: []string{"www"}}
	}
	st.Streams[99] = StreamState{Base: 0, Written: []Span{{0, 10}}, Groups: []string{"other"}} // not this group's
	if err := SaveState(filepath.Join(cfg.Dir, StateFileName), st); err != nil {
		t.Fatal(err)
	}
	c2 := newTestCollector(t, cfg, nil).start(t)
	seen := map[uint64]uint64{}
	msgs := 0
	for len(seen) < extra+2 {
		p := w.next(t)
		msgs++
		if len(p.Streams) > envelope.MaxProgressEntries {
			t.Fatalf("report with %d entries", len(p.Streams))
		}
		for _, sp := range p.Streams {
			seen[sp.Stream] = sp.End
		}
	}
	if msgs < 2 || seen[31] != uint64(len(a)+len(more)) || seen[32] != uint64(len(b)) || seen[1000] != 50 {
		t.Errorf("hello: %d reports, ends 31:%d 32:%d 1000:%d", msgs, seen[31], seen[32], seen[1000])
	}
	if _, ok := seen[99]; ok {
		t.Error("hello reports a stream of another group")
	}
	c2.stop(t)
}

// blockDir makes the directory the segments of "sub/{group}.log.zst" go into a regular
// file, so creating a segment fails (ENOTDIR), even as root, where permissions do not
// stop writes; unblock removes it.
func blockDir(t *testing.T, cfg *Config) (unblock func()) {
	t.Helper()
	cfg.Logs[0].Template = "sub/{group}.log.zst"
	sub := filepath.Join(cfg.Dir, "sub")
	if err := os.WriteFile(sub, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(sub); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollectorStalled blocks the segment directory (see blockDir): the collector
// reports itself stalled with the reason, keeps the lines, and once the directory can
// be created writes every line once, reports unstalled and its progress up to the end.
func TestCollectorStalled(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	w := watchProgress(t, addr, "www")
	cfg := testConfig(t, addr)
	cfg.Name = "col-s"
	cfg.FlushBytes = 4 << 10
	unblock := blockDir(t, &cfg)
	var logs testsupport.Buffer
	c := newTestCollector(t, cfg, &logs).start(t)
	w.next(t) // hello
	s := newSender(t, addr, 41)
	lines := testLines("S", 0, 400)
	batches := splitLines(lines, 20)
	for _, p := range batches[:10] {
		s.batch("www", p)
	}
	p := w.until(t, "the stalled flag", func(p envelope.Progress) bool { return p.Flags&envelope.ProgressStalled != 0 })
	if p.Reason != envelope.StallOther || p.Name != "col-s" {
		t.Errorf("stalled report %+v, want reason other (ENOTDIR)", p)
	}
	if c.Healthy() == nil || testutil.ToFloat64(c.m.Stalled) != 1 || testutil.ToFloat64(c.m.StalledReason.WithLabelValues("other")) != 1 {
		t.Error("not unhealthy or stalled metrics not set")
	}
	logs.WaitMatch(t, `stalled: cannot write.*reason=other`)
	for _, p := range batches[10:] {
		s.batch("www", p)
	}
	unblock()
	p = w.until(t, "unstalled", func(p envelope.Progress) bool { return p.Flags&envelope.ProgressStalled == 0 })
	if p.Reason != envelope.StallNone {
		t.Errorf("unstalled report %+v", p)
	}
	w.until(t, "the end of the stream", func(p envelope.Progress) bool {
		e, ok := endOf(p, 41)
		return ok && e == uint64(len(lines))
	})
	if testutil.ToFloat64(c.m.Stalled) != 0 || testutil.ToFloat64(c.m.StalledReason.WithLabelValues("other")) != 0 {
		t.Error("stalled metrics still set")
	}
	c.stop(t)
	if got := readLog(t, cfg.Dir, "sub/www"); !bytes.Equal(got, lines) {
		t.Fatalf("%d bytes written, want %d", len(got), len(lines))
	}
}

// TestCollectorStoppedWhileStalled: a stop while writes fail gives up after the stop
// timeout, sends no final report, and says how many lines and bytes it could not
// write.
func TestCollectorStoppedWhileStalled(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	w := watchProgress(t, addr, "www")
	cfg := testConfig(t, addr)
	cfg.DrainTimeout = 300 * time.Millisecond
	blockDir(t, &cfg)
	var logs testsupport.Buffer
	c := newTestCollector(t, cfg, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }() // owned: waited for below
	defer func() {
		cancel()
		<-done
	}()
	w.next(t) // hello
	s := newSender(t, addr, 51)
	lines := testLines("T", 0, 50)
	s.batch("www", lines)
	w.until(t, "the stalled flag", func(p envelope.Progress) bool { return p.Flags&envelope.ProgressStalled != 0 })
	cancel()
	err := testsupport.Receive(t, done, "Run's return")
	done <- nil
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d lines (%d bytes) not written", 50, len(lines))) {
		t.Errorf("Run = %v, want the 50 lines (%d bytes) it could not write", err, len(lines))
	}
	logs.WaitMatch(t, `stopped with lines not written.*lines=50`)
	for {
		select {
		case p, ok := <-w.reports:
			if ok && p.Flags&envelope.ProgressFinal != 0 {
				t.Fatalf("final report %+v from a collector that could not write", p)
			}
			if ok {
				continue
			}
		default:
		}
		break
	}
}

func TestStallReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want envelope.StallReason
	}{
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, envelope.StallPermission},
		{fmt.Errorf("segment: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.EROFS}), envelope.StallPermission},
		{syscall.EPERM, envelope.StallPermission},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, envelope.StallNoSpace},
		{syscall.EDQUOT, envelope.StallNoSpace},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}, envelope.StallIO},
		{syscall.EISDIR, envelope.StallOther},
		{errors.New("something"), envelope.StallOther},
	} {
		if got := stallReason(tc.err); got != tc.want {
			t.Errorf("stallReason(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestWriteRetryBackoff drives the retries of a failing write (ENOSPC) on an injected
// clock: the waits follow spreadlink.Backoff from 50ms up to WriteRetryMax (each in
// [d/2, d]), the collector is stalled with reason no_space meanwhile, and once the disk
// has room again every line is written once and it is no longer stalled.
func TestWriteRetryBackoff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.Logs = []LogConfig{{Group: "www", Template: "{group}.log.zst"}}
	cfg.FlushBytes = 1 << 10
	cfg.WriteRetryMax = 400 * time.Millisecond
	c := newTestCollector(t, cfg, nil)
	ffs := useFlakyFS(t, c.Collector)
	ffs.setFailing(true)
	w, err := c.newWriterSet()
	if err != nil {
		t.Fatal(err)
	}
	defer w.release()
	var slept []time.Duration
	var reasons []float64
	w.sleep = func(_ context.Context, d time.Duration) bool {
		slept = append(slept, d)
		reasons = append(reasons, testutil.ToFloat64(c.m.StalledReason.WithLabelValues("no_space")))
		if len(slept) == 6 {
			ffs.setFailing(false) // room again
		}
		return true
	}
	lines := testLines("R", 0, 60)
	var off uint64
	for _, p := range splitLines(lines, 10) {
		it := newItem()
		it.kind, it.messType, it.logs = itemData, envelope.MessTypeBatch, []int{0}
		it.data = envelope.AppendBatch(it.data[:0], envelope.BatchHeader{Stream: 61, Offset: off, Lines: uint32(bytes.Count(p, []byte{'\n'}))}, p)
		off += uint64(len(p))
		if err := w.handle(t.Context(), it); err != nil {
			t.Fatal(err)
		}
		freeItem(it)
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{50, 100, 200, 400, 400, 400}
	if len(slept) != len(want) {
		t.Fatalf("waited %v, want %d waits", slept, len(want))
	}
	for i, d := range slept {
		hi := want[i] * time.Millisecond
		if d < hi/2 || d > hi {
			t.Errorf("wait %d: %v, want within [%v, %v]", i+1, d, hi/2, hi)
		}
		if reasons[i] != 1 {
			t.Errorf("wait %d: stalled_reason{reason=\"no_space\"} = %v, want 1", i+1, reasons[i])
		}
	}
	if testutil.ToFloat64(c.m.Stalled) != 0 || c.stall.Load() != nil {
		t.Error("still stalled after the writes succeeded")
	}
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, lines) {
		t.Fatalf("%d bytes written, want %d", len(got), len(lines))
	}
}

// TestCollectorHelloOnShipperJoin: a collector that is already running says hello again
// in ~www when a shipper (private name 's...') joins it, with every stream it has, so
// that a shipper started after the collectors learns their names at once; other
// members joining (logspread tail, tools) cause no report.
func TestCollectorHelloOnShipperJoin(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	w := watchProgress(t, addr, "www")
	cfg := testConfig(t, addr)
	cfg.Name = "col-h"
	c := newTestCollector(t, cfg, nil).start(t)
	w.next(t) // the hello once it joined
	s1, s2 := newSender(t, addr, 31), newSender(t, addr, 32)
	a, b := testLines("A", 0, 100), testLines("B", 0, 50)
	s1.batch("www", a)
	s2.batch("www", b)
	ends := func(p envelope.Progress) (uint64, uint64) {
		e1, _ := endOf(p, 31)
		e2, _ := endOf(p, 32)
		return e1, e2
	}
	for got1, got2 := false, false; !got1 || !got2; {
		e1, e2 := ends(w.next(t))
		got1 = got1 || e1 == uint64(len(a))
		got2 = got2 || e2 == uint64(len(b))
	}

	join := func(name string) {
		t.Helper()
		conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: name, Membership: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := conn.Join(envelope.PresenceGroup("www")); err != nil {
			t.Fatal(err)
		}
		for {
			var m spreadlink.Message
			if err := conn.Receive(&m); err != nil {
				t.Fatal(err)
			}
			if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Changed == conn.PrivateGroup() {
				return
			}
		}
	}
	// Not a shipper: no hello. The next report is the one of the next flush, with the
	// one stream that moved.
	join("rtail1")
	more := testLines("A", 100, 5)
	s1.batch("www", more)
	if p := w.next(t); len(p.Streams) != 1 || p.Streams[0].Stream != 31 {
		t.Fatalf("report %+v after a tail joined, want the flush of stream 31 alone (no hello)", p)
	}
	// A shipper: the hello with every stream, although none moved.
	join("s1234567")
	p := w.next(t)
	if e1, e2 := ends(p); p.Name != "col-h" || p.Flags != 0 || e1 != uint64(len(a)+len(more)) || e2 != uint64(len(b)) {
		t.Fatalf("report %+v after a shipper joined, want col-h's hello with streams 31 at %d and 32 at %d", p, len(a)+len(more), len(b))
	}
	c.stop(t)
}
