package shipper

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
)

// TestWrittenLossCountedAfterHello: a restart whose first chunk jumps (the checkpointed
// file gone after a crash: [0, 700) destroyed, the rest of the jump unused) puts a loss
// notice for [0, 700) in the window before the collector's hello of this run is in:
// the collector says hello only once it gets the notice (lateHello), so the send loop
// surely took the notice first. Its cursor then is the one loaded from CursorsFile,
// older than what it has (saved once, at 0, before it reported: the shipper was killed
// before the paced next save). The shipper counts in collector_lost_bytes_total what
// the collector lacks of the notice by the hello, as the collector counts its gap, not
// by the loaded cursor: on main the whole notice was counted for a collector that had
// every byte (TestShipKilledCheckpointedFileGone, 2 of 15 runs under load). A required
// collector that never reports lacks the whole notice: it is counted once, when the
// notice leaves the window.
func TestWrittenLossCountedAfterHello(t *testing.T) {
	const (
		stream = 9
		lost   = 700 // [0, lost): destroyed; the collector had [0, had) of it
	)
	line := []byte("a line\n")
	jump := lost + source.LossGap
	for _, tc := range []struct {
		name     string
		had      int
		required bool // a required collector "gamma" that never comes
	}{
		{name: "collector has every byte", had: lost},
		{name: "collector has a part", had: 300},
		{name: "required collector never comes", had: lost, required: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := sockPath(t)
			startTestDaemon(t, sock)
			addr := "unix:" + sock
			stateDir := t.TempDir()
			// What a run killed long before its next paced save left: alpha's cursor
			// at the offset ordered to it before it reported (tracker.owe).
			doc := `{"version":1,"collectors":[{"name":"alpha","streams":{"9":0}}]}`
			if err := os.WriteFile(filepath.Join(stateDir, CursorsFile), []byte(doc), 0o640); err != nil {
				t.Fatal(err)
			}
			fc := newFakeCollector(t, addr, "www", "alpha")
			fc.lateHello = true
			if tc.had > 0 {
				fc.ends[stream], fc.bases[stream] = uint64(tc.had), 0
				fc.out[stream] = bytes.Repeat([]byte("x"), tc.had)
			}
			fc.start()
			ch := source.Chunk{Stream: stream, Offset: jump, Span: uint64(len(line)), Data: line, Lines: 1,
				Lost: jump, Unused: []source.OffsetRange{{From: lost, To: jump}},
				Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: uint64(len(line))}}
			cfg := writtenConfig(addr, stateDir)
			if tc.required {
				cfg.RequireCollectors = []string{"gamma"}
			}
			rs := startShipper(t, cfg, &jumpSource{chunks: []source.Chunk{ch}})
			rs.waitAcked(t, uint64(len(line)))
			if e := fc.end(stream); e != jump+uint64(len(line)) {
				t.Fatalf("collector end %d, want %d", e, jump+uint64(len(line)))
			}
			fc.mu.Lock()
			gaps := fc.gaps
			fc.mu.Unlock()
			if want := uint64(lost - tc.had); gaps != want {
				t.Errorf("collector counted a gap of %d bytes, want %d", gaps, want)
			}
			if n := testutil.ToFloat64(rs.m.LossNotices); n != 1 {
				t.Errorf("loss notices %v, want 1", n)
			}
			if err := rs.stop(); err != nil {
				t.Fatal(err)
			}
			if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("alpha")); v != float64(gaps) {
				t.Errorf("collector_lost_bytes_total{alpha} %v, want %d (what alpha counted)", v, gaps)
			}
			if tc.required {
				if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("gamma")); v != lost {
					t.Errorf("collector_lost_bytes_total{gamma} %v, want %d (required, it lacks the whole notice)", v, lost)
				}
			}
			if len(fc.bad) > 0 {
				t.Errorf("collector saw bad batches: %v", fc.bad)
			}
		})
	}
}

// TestWrittenLossReturnAfterJumpUnused: a restart whose first chunk jumps past every
// offset a run may have used (Chunk.Unused: [700, 700+LossGap), the 100 bytes below
// it destroyed) announces the jump as unused and [600, 700) as lost. Collector alpha,
// loaded from CursorsFile at the checkpoint (600) and away, returns once the notices
// left the window (beta wrote them): it lacks [600, checkpoint) and gets a loss notice
// for the 100 bytes lost and an unused notice for the jump, never a loss notice of 4
// GiB. collector_lost_bytes_total{alpha} is what alpha counts: the 100 bytes, and the
// line the source cannot send again (it cannot be re-read). Delta, present with no
// record of the stream, gets those notices first of the stream: it counts them too,
// and so does the shipper.
func TestWrittenLossReturnAfterJumpUnused(t *testing.T) {
	const (
		stream = 9
		ck     = 600 // the checkpoint: every collector waited for has [0, ck)
		lost   = 700 // [ck, lost) destroyed, [lost, jump) unused
	)
	line := []byte("a line\n")
	jump := lost + source.LossGap
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	stateDir := t.TempDir()
	doc := `{"version":1,"collectors":[{"name":"alpha","streams":{"9":600}}]}`
	if err := os.WriteFile(filepath.Join(stateDir, CursorsFile), []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	had := func(fc *fakeCollector) {
		fc.ends[stream], fc.bases[stream] = ck, 0
		fc.out[stream] = bytes.Repeat([]byte("x"), ck)
	}
	beta := newFakeCollector(t, addr, "www", "beta")
	had(beta)
	beta.start()
	ch := source.Chunk{Stream: stream, Offset: jump, Span: uint64(len(line)), Data: line, Lines: 1,
		Lost: jump - ck, Unused: []source.OffsetRange{{From: lost, To: jump}},
		Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: uint64(len(line))}}
	rs := startShipper(t, writtenConfig(addr, stateDir), &jumpSource{chunks: []source.Chunk{ch}})
	rs.waitAcked(t, uint64(len(line)))
	// Delta joins now, with no record of the stream: the notices alpha gets are the
	// first it gets of it, and it counts them too.
	delta := newFakeCollector(t, addr, "www", "delta")
	delta.start()
	// The shipper knows delta (its first report read) before alpha's notices: else
	// they reach delta (it joined before them in the agreed order) while the shipper,
	// yet to read its report, does not count them for it (a test race, 1 run in 60).
	testsupport.EventuallyErr(t, func() error {
		mfs, err := rs.reg.Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() != "logspread_shipper_collector_stalled" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "collector" && lp.GetValue() == "delta" {
						return nil
					}
				}
			}
		}
		return errors.New("the shipper does not know collector delta yet")
	})
	alpha := newFakeCollector(t, addr, "www", "alpha")
	had(alpha)
	alpha.start()
	for _, fc := range []*fakeCollector{alpha, delta} {
		testsupport.EventuallyErr(t, func() error {
			if e := fc.end(stream); e != jump+uint64(len(line)) {
				return fmt.Errorf("%s's end %d, want %d", fc.name, e, jump+uint64(len(line)))
			}
			return nil
		})
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	for _, fc := range []*fakeCollector{alpha, beta, delta} {
		fc.mu.Lock()
		gaps, unknown, bad := fc.gaps, fc.unknown, fc.bad
		fc.mu.Unlock()
		if want := uint64(lost - ck); gaps < want || unknown != 1 {
			t.Errorf("%s counted a gap of %d bytes and %d of unknown size, want at least %d and 1", fc.name, gaps, unknown, want)
		}
		if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues(fc.name)); v != float64(gaps) {
			t.Errorf("collector_lost_bytes_total{%s} %v, want %d (what it counted)", fc.name, v, gaps)
		}
		if len(bad) > 0 {
			t.Errorf("%s saw bad batches: %v", fc.name, bad)
		}
	}
}

// TestWrittenLossFirstHeardCounted: a real collector, present, with no record of a
// stream, whose first message of it is a loss notice, or that has of it only a batch
// not ordered yet (no report of it is in), lacks all the notice declares: it counts
// the whole notice as a gap (a stream it has from the notice on). The shipper counts
// the same in collector_lost_bytes_total (before, countLoss skipped a collector not
// required without a cursor for the stream: 0 counted).
func TestWrittenLossFirstHeardCounted(t *testing.T) {
	const (
		stream = 9
		lost   = 100 // [from, from+lost) destroyed, the rest of the jump unused
	)
	line := []byte("a line\n")
	mk := func(off uint64) source.Chunk {
		return source.Chunk{Stream: stream, Offset: off, Span: uint64(len(line)), Data: line, Lines: 1,
			Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: off + uint64(len(line))}}
	}
	jumpFrom := func(from uint64) source.Chunk {
		ch := mk(from + lost + source.LossGap)
		ch.Lost = lost + source.LossGap
		ch.Unused = []source.OffsetRange{{From: from + lost, To: ch.Offset}}
		return ch
	}
	for _, tc := range []struct {
		name   string
		chunks []source.Chunk
		late   bool // the collector joins once the notice is in the window
	}{
		{name: "loss notice first", chunks: []source.Chunk{jumpFrom(0)}},
		{name: "after a batch not ordered yet", chunks: []source.Chunk{mk(0), jumpFrom(uint64(len(line)))}},
		{name: "collector joins after the notice", chunks: []source.Chunk{jumpFrom(0)}, late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := sockPath(t)
			startTestDaemon(t, sock)
			addr := "unix:" + sock
			var nc *namedCollector
			if !tc.late {
				nc = startNamedCollector(t, addr, t.TempDir(), "alpha")
			}
			stateDir := t.TempDir()
			rs := startShipper(t, writtenConfig(addr, stateDir), &jumpSource{chunks: tc.chunks})
			if tc.late {
				testsupport.EventuallyErr(t, func() error {
					if n := testutil.ToFloat64(rs.m.LossNotices); n != 1 {
						return fmt.Errorf("loss notices %v, want 1", n)
					}
					return nil
				})
				nc = startNamedCollector(t, addr, t.TempDir(), "alpha")
			}
			rs.waitAcked(t, uint64(len(line)*len(tc.chunks)))
			if err := rs.stop(); err != nil {
				t.Fatal(err)
			}
			if g := nc.gapBytes(t); g != lost {
				t.Errorf("collector counted %v gap bytes, want %d", g, lost)
			}
			if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("alpha")); v != lost {
				t.Errorf("collector_lost_bytes_total{alpha} %v, want %d (what alpha counted)", v, lost)
			}
		})
	}
}

// rewindSource is a jumpSource that can go back (a Rewinder): after Rewind it returns
// its chunks again from the one after pos (from the first for nil).
type rewindSource struct {
	jumpSource
	all []source.Chunk
}

func newRewindSource(gate chan struct{}, chunks ...source.Chunk) *rewindSource {
	return &rewindSource{jumpSource: jumpSource{chunks: chunks, gate: gate}, all: chunks}
}

func (r *rewindSource) Rewind(pos *source.Checkpoint) error {
	i := 0
	if pos != nil {
		for i < len(r.all) && r.all[i].Pos.Offset != pos.Offset {
			i++
		}
		i++
	}
	r.chunks = r.all[min(i, len(r.all)):]
	return nil
}

// TestWrittenLossRewindCountedOnce: a loss notice in the window is counted for alpha,
// present (paused: it writes nothing, so its cursor stays below the notice). Gamma,
// loaded from CursorsFile at 0 and away (the checkpoint waits for it), returns lacking
// what left the window: the source rewinds, the notice is dropped and, read again,
// announced again. Each collector counts the 100 lost bytes once (it gets the notice
// read again); so does collector_lost_bytes_total (before: twice for both, 200).
func TestWrittenLossRewindCountedOnce(t *testing.T) {
	const (
		stream = 9
		lost   = 100
	)
	line := []byte("a line\n")
	mk := func(off uint64) source.Chunk {
		return source.Chunk{Stream: stream, Offset: off, Span: uint64(len(line)), Data: line, Lines: 1,
			Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: off + uint64(len(line))}}
	}
	c1 := mk(uint64(len(line)) + lost)
	c1.Lost = lost
	end := c1.End()
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	stateDir := t.TempDir()
	doc := `{"version":1,"collectors":[{"name":"gamma","streams":{"9":0}}]}`
	if err := os.WriteFile(filepath.Join(stateDir, CursorsFile), []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	alpha := newFakeCollector(t, addr, "www", "alpha")
	alpha.start()
	gate := make(chan struct{})
	rs := startShipper(t, writtenConfig(addr, stateDir), newRewindSource(gate, mk(0), c1))
	rs.waitAcked(t, uint64(len(line)))
	alpha.setPaused(true)
	close(gate)
	testsupport.EventuallyErr(t, func() error {
		if n := testutil.ToFloat64(rs.m.LossNotices); n != 1 {
			return fmt.Errorf("loss notices %v, want 1", n)
		}
		return nil
	})
	alpha.setPaused(false)
	gamma := newFakeCollector(t, addr, "www", "gamma")
	gamma.ends[stream], gamma.bases[stream] = 0, 0
	gamma.start()
	for _, fc := range []*fakeCollector{alpha, gamma} {
		testsupport.EventuallyErr(t, func() error {
			if e := fc.end(stream); e != end {
				return fmt.Errorf("%s's end %d, want %d", fc.name, e, end)
			}
			return nil
		})
	}
	if n := testutil.ToFloat64(rs.m.Rewinds); n != 1 {
		t.Errorf("rewinds %v, want 1", n)
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	for _, fc := range []*fakeCollector{alpha, gamma} {
		fc.mu.Lock()
		gaps, bad := fc.gaps, fc.bad
		fc.mu.Unlock()
		if gaps != lost {
			t.Errorf("%s counted a gap of %d bytes, want %d", fc.name, gaps, lost)
		}
		if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues(fc.name)); v != float64(gaps) {
			t.Errorf("collector_lost_bytes_total{%s} %v, want %d (what it counted)", fc.name, v, gaps)
		}
		if len(bad) > 0 {
			t.Errorf("%s saw bad batches: %v", fc.name, bad)
		}
	}
}

// keeperSource is a jumpSource that knows the offsets a run before announced unused
// (an UnusedKeeper, as source.Tailer and source.Glob are from their record of
// generations).
type keeperSource struct {
	jumpSource
	unused []source.OffsetRange
}

func (k *keeperSource) UnusedRanges(uint64) []source.OffsetRange { return k.unused }

// TestWrittenLossReturnBelowEarlierJump: a run before this one jumped past every
// offset a run may have used ([700, 700+LossGap), announced unused then), and the
// checkpoint passed the jump and 50 bytes after it. Alpha stopped cleanly long before
// (not waited for: its loaded cursor stays at 700) and returns: it lacks [700, the
// checkpoint), of which only the 50 bytes (and the line past them, which the source
// cannot send again) are lost: it gets an unused notice for the jump and a loss notice
// for the rest, and collector_lost_bytes_total{alpha} is what it counts (before, the
// jump was counted and sent as 4 GiB lost).
func TestWrittenLossReturnBelowEarlierJump(t *testing.T) {
	const (
		stream = 9
		cur    = 700 // alpha's cursor, where the jump starts
		after  = 50  // bytes after the jump, below the first chunk of this run
	)
	line := []byte("a line\n")
	ck := cur + source.LossGap + after
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	stateDir := t.TempDir()
	doc := `{"version":1,"collectors":[{"name":"alpha","streams":{"9":700},"final":true}]}`
	if err := os.WriteFile(filepath.Join(stateDir, CursorsFile), []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	beta := newFakeCollector(t, addr, "www", "beta")
	beta.ends[stream], beta.bases[stream] = ck, 0
	beta.start()
	ch := source.Chunk{Stream: stream, Offset: ck, Span: uint64(len(line)), Data: line, Lines: 1,
		Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: ck + uint64(len(line))}}
	src := &keeperSource{jumpSource: jumpSource{chunks: []source.Chunk{ch}},
		unused: []source.OffsetRange{{From: cur, To: cur + source.LossGap}}}
	rs := startShipper(t, writtenConfig(addr, stateDir), src)
	rs.waitAcked(t, uint64(len(line)))
	alpha := newFakeCollector(t, addr, "www", "alpha")
	alpha.ends[stream], alpha.bases[stream] = cur, 0
	alpha.start()
	testsupport.EventuallyErr(t, func() error {
		if e := alpha.end(stream); e != ch.End() {
			return fmt.Errorf("alpha's end %d, want %d", e, ch.End())
		}
		return nil
	})
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	alpha.mu.Lock()
	gaps, unknown, bad := alpha.gaps, alpha.unknown, alpha.bad
	alpha.mu.Unlock()
	if want := uint64(after + len(line)); gaps != want || unknown != 1 {
		t.Errorf("alpha counted a gap of %d bytes and %d of unknown size, want %d and 1", gaps, unknown, want)
	}
	if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("alpha")); v != float64(gaps) {
		t.Errorf("collector_lost_bytes_total{alpha} %v, want %d (what it counted)", v, gaps)
	}
	if len(bad) > 0 {
		t.Errorf("alpha saw bad batches: %v", bad)
	}
}

// ackedSource is a jumpSource that records the checkpoints acknowledged to it.
type ackedSource struct {
	jumpSource
	mu    sync.Mutex
	acked []source.Checkpoint
}

func (a *ackedSource) Ack(cp source.Checkpoint) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acked = append(a.acked, cp)
	return nil
}

// lastAcked returns the offset of the last checkpoint acknowledged (0: none).
func (a *ackedSource) lastAcked() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.acked) == 0 {
		return 0
	}
	return a.acked[len(a.acked)-1].Offset
}

// TestTakeLossWithoutData: a loss at the end of what a source has (a rotated generation
// compressed before it was read, and nothing written since) comes as a chunk without
// data (Span 0, Lost n: source's lossChunk). The send loop sends no batch for it, only
// its loss notice: the collector counts a gap of exactly n bytes and its end moves past
// it, and the notice's acknowledgement acknowledges the chunk's checkpoint to the
// source (takeLoss), so that a restart does not count the loss again.
func TestTakeLossWithoutData(t *testing.T) {
	const (
		stream = 9
		lost   = 700
	)
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	fc := newFakeCollector(t, addr, "www", "alpha")
	fc.start()
	line := []byte("a line\n")
	n := uint64(len(line))
	first := source.Chunk{Stream: stream, Offset: 0, Span: n, Data: line, Lines: 1,
		Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: n}}
	loss := source.Chunk{Stream: stream, Offset: n + lost, Lost: lost,
		Pos: source.Checkpoint{Path: "x", Stream: stream, Offset: n + lost}}
	src := &ackedSource{jumpSource: jumpSource{chunks: []source.Chunk{first, loss}, gate: make(chan struct{})}}
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), src)
	rs.waitAcked(t, n)
	close(src.gate)
	testsupport.EventuallyErr(t, func() error {
		if got := src.lastAcked(); got != n+lost {
			return fmt.Errorf("source acknowledged up to %d, want %d (the loss notice's checkpoint)", got, n+lost)
		}
		return nil
	})
	if e := fc.end(stream); e != n+lost {
		t.Fatalf("collector end %d, want %d", e, n+lost)
	}
	fc.mu.Lock()
	gaps, out := fc.gaps, string(fc.out[stream])
	fc.mu.Unlock()
	if gaps != lost {
		t.Errorf("collector counted a gap of %d bytes, want %d", gaps, lost)
	}
	if out != string(line) {
		t.Errorf("collector wrote %q, want %q (no batch for the chunk without data)", out, line)
	}
	if v := testutil.ToFloat64(rs.m.LossNotices); v != 1 {
		t.Errorf("loss notices %v, want 1", v)
	}
}
