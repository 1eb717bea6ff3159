package shipper

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeCollector is a scripted collector: a plain spreadlink client that joins the group
// and its presence group under a collector's private name and reports, after every batch
// it "writes", the written range of the batch's stream (envelope.MessTypeProgress). It
// keeps per stream the contiguous range it has from the first offset it got (its base,
// the From of its reports):
// a batch at the end is written, one below it is a duplicate, one above it (a hole) is
// dropped until the hole is filled or declared lost (envelope.FlagLost). Its state
// survives reconnects, as a collector's state file does.
type fakeCollector struct {
	dec   envelope.Decoder // guarded by mu
	t     testing.TB
	addr  string
	group string
	name  string

	mu      sync.Mutex // Guards the fields below.
	ends    map[uint64]uint64
	bases   map[uint64]uint64 // the offset at which it first had the stream
	out     map[uint64][]byte
	gaps    uint64 // bytes loss notices declared that it did not have
	unknown int    // unused notices over offsets it did not have (gaps of unknown size)
	paused  bool   // write (and report) nothing
	dropped uint64 // bytes of batches not written while paused
	// fill writes a batch below the stream's base once it and the batches kept with it
	// reach the base (a real collector writes whatever it lacks); prev holds what was
	// written before forget.
	fill    bool
	below   map[uint64][]envelope.BatchHeader
	bodies  map[uint64][][]byte
	prev    map[uint64][]byte
	stalled envelope.StallReason
	// lateHello holds the hello a shipper's join asks for until the next batch
	// arrives; it is sent just before that batch is taken (the state it reports is the
	// one before the batch). helloDue: a hello is held.
	lateHello bool
	helloDue  bool
	conn      *spreadlink.Conn
	wg        sync.WaitGroup
	bad       []string
}

func newFakeCollector(t testing.TB, addr, group, name string) *fakeCollector {
	fc := &fakeCollector{t: t, addr: addr, group: group, name: name, ends: map[uint64]uint64{}, bases: map[uint64]uint64{}, out: map[uint64][]byte{},
		below: map[uint64][]envelope.BatchHeader{}, bodies: map[uint64][][]byte{}, prev: map[uint64][]byte{}}
	t.Cleanup(func() {
		fc.crash() // its reader stopped: the decoder is no longer used
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if zd, ok := fc.dec.Decompressor.(*zstd.Decoder); ok {
			zd.Close()
		}
	})
	return fc
}

// start connects (a new private name every time), joins, says hello and serves until
// crash or stop. It returns once the hello was sent.
func (fc *fakeCollector) start() {
	fc.t.Helper()
	c, err := spreadlink.Dial(context.Background(), spreadlink.Config{Address: fc.addr,
		Name: envelope.RandomPrivateName(envelope.CollectorPrefix), Membership: true})
	if err != nil {
		fc.t.Fatal(err)
	}
	presence := envelope.PresenceGroup(fc.group)
	if err := c.Join(fc.group); err != nil {
		fc.t.Fatal(err)
	}
	if err := c.Join(presence); err != nil {
		fc.t.Fatal(err)
	}
	fc.mu.Lock()
	fc.conn = c
	fc.mu.Unlock()
	hello := make(chan struct{})
	fc.wg.Go(func() { fc.run(c, hello) })
	testsupport.Done(fc.t, hello, "fake collector %s joined", fc.name)
}

func (fc *fakeCollector) run(c *spreadlink.Conn, hello chan struct{}) {
	presence := envelope.PresenceGroup(fc.group)
	var m spreadlink.Message
	for {
		if err := c.Receive(&m); err != nil {
			return
		}
		switch {
		case m.Service.IsRegMemb() && m.Sender == presence && m.Membership != nil && m.Membership.Changed == c.PrivateGroup():
			fc.mu.Lock()
			fc.report(c, slices.Collect(maps.Keys(fc.ends)), 0)
			fc.mu.Unlock()
			if hello != nil {
				close(hello)
				hello = nil
			}
		case m.Service.IsRegMemb() && m.Sender == presence && m.Membership != nil && m.Service&spreadlink.CausedByJoin != 0 &&
			envelope.MemberName(m.Membership.Changed) != "" && envelope.MemberName(m.Membership.Changed)[0] == envelope.ShipperPrefix:
			// A shipper joined: say hello to it too, or a shipper that restarted would
			// not know this member's name until a stream moves (and nothing moves when
			// everything it resends is a duplicate).
			fc.mu.Lock()
			if fc.lateHello {
				fc.helloDue = true
			} else {
				fc.report(c, slices.Collect(maps.Keys(fc.ends)), 0)
			}
			fc.mu.Unlock()
		case m.Service.IsRegular() && m.MessType == envelope.MessTypeBatch:
			fc.batch(c, m.Data)
		}
	}
}

func (fc *fakeCollector) batch(c *spreadlink.Conn, msg []byte) {
	fc.mu.Lock()
	if fc.dec.Decompressor == nil {
		zd, zerr := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if zerr != nil {
			fc.mu.Unlock()
			fc.t.Error(zerr)
			return
		}
		fc.dec.Decompressor = zd
	}
	b, err := fc.dec.Decode(msg) // batch v2 (zstd) or v1
	h, body := b.Header, b.Body
	defer fc.mu.Unlock()
	if err != nil {
		fc.bad = append(fc.bad, err.Error())
		return
	}
	if fc.helloDue {
		fc.helloDue = false
		fc.report(c, slices.Collect(maps.Keys(fc.ends)), 0)
	}
	if fc.paused {
		fc.dropped += h.Span
		return // not written: a resend or a rewind brings it again
	}
	end, has := fc.ends[h.Stream]
	switch {
	case fc.fill && has && !h.IsLoss() && !h.IsUnused() && h.End() <= fc.bases[h.Stream]:
		fc.below[h.Stream] = append(fc.below[h.Stream], h)
		fc.bodies[h.Stream] = append(fc.bodies[h.Stream], bytes.Clone(body))
		for moved := true; moved; {
			moved = false
			for i, b := range fc.below[h.Stream] {
				if b.End() == fc.bases[h.Stream] {
					fc.out[h.Stream] = append(bytes.Clone(fc.bodies[h.Stream][i]), fc.out[h.Stream]...)
					fc.bases[h.Stream] = b.Offset
					fc.below[h.Stream] = slices.Delete(fc.below[h.Stream], i, i+1)
					fc.bodies[h.Stream] = slices.Delete(fc.bodies[h.Stream], i, i+1)
					moved = true
					break
				}
			}
		}
	case h.IsLoss():
		if has && h.Offset <= end && h.End() > end {
			fc.gaps += h.End() - end
			fc.ends[h.Stream] = h.End()
		} else if !has {
			// The first it gets of the stream: it has the stream from there, and lacks
			// the notice's bytes (as a real collector counts them).
			fc.gaps += h.Span
			fc.ends[h.Stream], fc.bases[h.Stream] = h.End(), h.Offset
		}
	case h.IsUnused():
		if has && h.Offset <= end && h.End() > end {
			fc.unknown++
			fc.ends[h.Stream] = h.End()
		}
	case !has || h.Offset == end:
		if !has {
			fc.bases[h.Stream] = h.Offset
		}
		fc.out[h.Stream] = append(fc.out[h.Stream], body...)
		fc.ends[h.Stream] = h.End()
	case h.Offset < end:
		if h.End() > end {
			fc.bad = append(fc.bad, fmt.Sprintf("batch [%d,%d) overlaps the written end %d", h.Offset, h.End(), end))
		}
		return // a duplicate
	default:
		return // a hole before it: wait for the resend
	}
	if fc.stalled == envelope.StallNone {
		fc.report(c, []uint64{h.Stream}, 0)
	}
}

// report multicasts a progress report for streams; fc.mu is held.
func (fc *fakeCollector) report(c *spreadlink.Conn, streams []uint64, flags envelope.ProgressFlags) {
	p := &envelope.Progress{Name: fc.name, Flags: flags}
	if fc.stalled != envelope.StallNone {
		p.Flags |= envelope.ProgressStalled
		p.Reason = fc.stalled
	}
	slices.Sort(streams)
	for _, s := range streams {
		p.Streams = append(p.Streams, envelope.StreamProgress{Stream: s, From: fc.bases[s], End: fc.ends[s]})
	}
	b, err := envelope.AppendProgress(nil, p)
	if err != nil {
		fc.bad = append(fc.bad, err.Error())
		return
	}
	c.Multicast(spreadlink.Agreed, envelope.PresenceGroup(fc.group), envelope.MessTypeProgress, b)
}

// setPaused stops (or resumes) writing: nothing received meanwhile is written.
func (fc *fakeCollector) setPaused(p bool) {
	fc.mu.Lock()
	fc.paused = p
	fc.mu.Unlock()
}

// setStalled reports a stall (or its end, StallNone, with the current progress).
func (fc *fakeCollector) setStalled(r envelope.StallReason) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.stalled = r
	if fc.conn != nil {
		fc.report(fc.conn, slices.Collect(maps.Keys(fc.ends)), 0)
	}
}

// forget makes the collector lose what it knows of stream while it stays present (its
// state, or a stream record it dropped); what it wrote moves to prev.
func (fc *fakeCollector) forget(stream uint64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.prev[stream] = append(fc.prev[stream], fc.out[stream]...)
	delete(fc.out, stream)
	delete(fc.ends, stream)
	delete(fc.bases, stream)
}

// crash disconnects without a final report.
func (fc *fakeCollector) crash() {
	fc.mu.Lock()
	c := fc.conn
	fc.conn = nil
	fc.mu.Unlock()
	if c != nil {
		c.Abort()
	}
	fc.wg.Wait()
}

func (fc *fakeCollector) end(stream uint64) uint64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.ends[stream]
}

// expect waits until fc has written want for stream, exactly.
func (fc *fakeCollector) expect(stream uint64, want []byte) {
	fc.t.Helper()
	testsupport.EventuallyErr(fc.t, func() error {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if got := fc.out[stream]; !bytes.Equal(got, want) {
			return fmt.Errorf("collector %s has %d bytes of stream %d, want %d (first difference at %d; bad %v)",
				fc.name, len(got), stream, len(want), firstDiff(got, want), fc.bad)
		}
		return nil
	})
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.bad) > 0 {
		fc.t.Errorf("collector %s: bad messages %v", fc.name, fc.bad)
	}
}

// writtenConfig is testSendConfig with written acknowledgements and its state dir.
func writtenConfig(addr, stateDir string) Config {
	c := testSendConfig(addr, "www")
	c.Ack = AckWritten
	c.StateDir = stateDir
	c.CheckpointInterval = 0
	return c
}

// checkpointAt waits until the checkpoint of path stands at offset.
func checkpointAt(t *testing.T, s *source.Set, path string, offset uint64) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		cp, _, err := s.Store().Load(path)
		if err != nil || cp.Offset != offset {
			return fmt.Errorf("checkpoint at %d (%v), want %d", cp.Offset, err, offset)
		}
		return nil
	})
}

// shipFile writes content to a new file and opens a tailer of it (from its beginning).
func shipFile(t *testing.T, content []byte) (*source.Set, string, *source.Tailer) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, content)
	return s, path, openTailer(t, s, path)
}

// TestWrittenWaitsForProgress: with AckWritten, a batch that reached the collector
// is not acknowledged (the window holds it, the checkpoint stays) until the collector
// reports it written; then everything is acknowledged and the checkpoint advances.
func TestWrittenWaitsForProgress(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	fc := newFakeCollector(t, addr, "www", "alpha")
	fc.setPaused(true)
	fc.start()
	content := testContent(31, 3000)
	s, path, tl := shipFile(t, content)
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), tl)
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); st.SentBytes != uint64(len(content)) || st.InFlight == 0 {
			return fmt.Errorf("stats %+v: want everything sent and in flight", st)
		}
		return nil
	})
	// Everything was sent; the markers come back; nothing may be acknowledged.
	testsupport.EventuallyErr(t, func() error {
		if n := testutil.ToFloat64(rs.m.MarkersSent); n == 0 {
			return fmt.Errorf("no marker sent")
		}
		return nil
	})
	if st := rs.Stats(); st.AckedBytes != 0 {
		t.Fatalf("acknowledged %d bytes the collector did not write", st.AckedBytes)
	}
	// The paused collector dropped what it got and crashes: the shipper has to send it
	// all again when it is back.
	fc.crash()
	fc.setPaused(false)
	fc.start()
	fc.expect(tl.Stream(), content)
	rs.waitAcked(t, uint64(len(content)))
	checkpointAt(t, s, path, uint64(len(content)))
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWrittenStalledHolds: a collector that reports it cannot write holds the window
// (with the stalled metric and its reason) until it writes again.
func TestWrittenStalledHolds(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	content := testContent(32, 2000)
	s, path, tl := shipFile(t, content)
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), tl)
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); !st.WaitingForCollector {
			return fmt.Errorf("stats %+v: want the shipper waiting for a collector", st)
		}
		return nil
	})
	// Its hello, which the shipper sees, says it is stalled.
	fc := newFakeCollector(t, addr, "www", "alpha")
	fc.setStalled(envelope.StallNoSpace)
	fc.start()
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs.m.CollectorStalled.WithLabelValues("alpha", "no_space")); v != 1 {
			return fmt.Errorf("stalled{alpha,no_space} = %v", v)
		}
		if st := rs.Stats(); st.SentBytes != uint64(len(content)) {
			return fmt.Errorf("stats %+v: want everything sent", st)
		}
		if fc.end(tl.Stream()) != uint64(len(content)) {
			return fmt.Errorf("collector has %d", fc.end(tl.Stream()))
		}
		return nil
	})
	if st := rs.Stats(); st.AckedBytes != 0 {
		t.Fatalf("acknowledged %d bytes for a stalled collector", st.AckedBytes)
	}
	fc.setStalled(envelope.StallNone)
	rs.waitAcked(t, uint64(len(content)))
	checkpointAt(t, s, path, uint64(len(content)))
	if v := testutil.ToFloat64(rs.m.CollectorStalled.WithLabelValues("alpha", "none")); v != 0 {
		t.Errorf("stalled{alpha,none} = %v after the stall", v)
	}
	fc.expect(tl.Stream(), content)
}

// TestWrittenAbsentRewind: a collector that crashes is waited for: the other goes on,
// the checkpoint stays at what the absent one wrote; when it comes back the shipper
// reads the file again from there, and both have every line exactly once.
func TestWrittenAbsentRewind(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	a := newFakeCollector(t, addr, "www", "alpha")
	b := newFakeCollector(t, addr, "www", "beta")
	a.start()
	b.start()
	part1, part2 := testContent(33, 2000), testContent(34, 3000)
	s, path, tl := shipFile(t, part1)
	stateDir := t.TempDir()
	rs := startShipper(t, writtenConfig(addr, stateDir), tl)
	a.expect(tl.Stream(), part1)
	b.expect(tl.Stream(), part1)
	checkpointAt(t, s, path, uint64(len(part1)))
	b.crash()
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs.m.AbsentCollectors); v != 1 {
			return fmt.Errorf("absent collectors %v", v)
		}
		return nil
	})
	appendFile(t, path, string(part2))
	all := append(bytes.Clone(part1), part2...)
	a.expect(tl.Stream(), all)
	rs.waitAcked(t, uint64(len(all)))
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs.m.CollectorHeld.WithLabelValues("beta")); v != float64(len(part2)) {
			return fmt.Errorf("held for beta %v, want %d", v, len(part2))
		}
		return nil
	})
	checkpointAt(t, s, path, uint64(len(part1))) // held for beta
	b.start()
	b.expect(tl.Stream(), all)
	a.expect(tl.Stream(), all)
	checkpointAt(t, s, path, uint64(len(all)))
	if n := testutil.ToFloat64(rs.m.Rewinds); n < 1 {
		t.Errorf("rewinds %v", n)
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	if a.gaps != 0 || b.gaps != 0 {
		t.Errorf("gaps: alpha %d, beta %d", a.gaps, b.gaps)
	}
}

// TestWrittenRequiredLate: with required collectors, a shipper started before them
// keeps its checkpoint at the start until both have written everything: the one that
// joins later gets the whole file by a rewind.
func TestWrittenRequiredLate(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	content := testContent(35, 4000)
	s, path, tl := shipFile(t, content)
	cfg := writtenConfig(addr, t.TempDir())
	cfg.RequireCollectors = []string{"alpha", "beta"}
	rs := startShipper(t, cfg, tl)
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs.m.AbsentCollectors); v != 2 {
			return fmt.Errorf("absent collectors %v, want the 2 required ones", v)
		}
		return nil
	})
	a := newFakeCollector(t, addr, "www", "alpha")
	a.start()
	a.expect(tl.Stream(), content)
	rs.waitAcked(t, uint64(len(content)))
	checkpointAt(t, s, path, 0)
	b := newFakeCollector(t, addr, "www", "beta")
	b.start()
	b.expect(tl.Stream(), content)
	a.expect(tl.Stream(), content)
	checkpointAt(t, s, path, uint64(len(content)))
}

// TestWrittenAbsentTimeout: after the absent timeout the shipper stops waiting, counts
// what the collector lacks, advances the checkpoint, and when the collector returns
// sends it a loss notice for what can no longer be resent.
func TestWrittenAbsentTimeout(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	a := newFakeCollector(t, addr, "www", "alpha")
	b := newFakeCollector(t, addr, "www", "beta")
	a.start()
	b.start()
	part1, part2 := testContent(36, 1000), testContent(37, 1500)
	s, path, tl := shipFile(t, part1)
	cfg := writtenConfig(addr, t.TempDir())
	cfg.AbsentTimeout = 50 * time.Millisecond
	rs := startShipper(t, cfg, tl)
	b.expect(tl.Stream(), part1)
	a.expect(tl.Stream(), part1)
	checkpointAt(t, s, path, uint64(len(part1)))
	// beta writes nothing more, then crashes once everything was sent: its absent timeout
	// ends with exactly part2 lacking.
	b.setPaused(true)
	appendFile(t, path, string(part2))
	all := append(bytes.Clone(part1), part2...)
	a.expect(tl.Stream(), all)
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); st.SentBytes != uint64(len(all)) {
			return fmt.Errorf("sent %d bytes, want %d", st.SentBytes, len(all))
		}
		return nil
	})
	b.crash()
	b.setPaused(false)
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs.m.CollectorTimedOut.WithLabelValues("beta")); v != float64(len(part2)) {
			return fmt.Errorf("timed out bytes of beta %v, want %d", v, len(part2))
		}
		return nil
	})
	checkpointAt(t, s, path, uint64(len(all)))
	b.start()
	testsupport.EventuallyErr(t, func() error {
		if e := b.end(tl.Stream()); e != uint64(len(all)) {
			return fmt.Errorf("beta's end %d, want %d", e, len(all))
		}
		return nil
	})
	b.mu.Lock()
	gaps, out := b.gaps, len(b.out[tl.Stream()])
	b.mu.Unlock()
	if gaps != uint64(len(part2)) || out != len(part1) {
		t.Errorf("beta: gap %d bytes, %d written; want a gap of %d after %d", gaps, out, len(part2), len(part1))
	}
	if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("beta")); v != float64(len(part2)) {
		t.Errorf("lost bytes of beta %v, want %d", v, len(part2))
	}
}

// jumpSource returns scripted chunks, then waits for the end of the run.
type jumpSource struct {
	chunks []source.Chunk
	// gate, if set, holds every chunk after the first until it is closed.
	gate  chan struct{}
	given int
}

func (j *jumpSource) Next(ctx context.Context, _ int) (source.Chunk, error) {
	if len(j.chunks) == 0 {
		<-ctx.Done()
		return source.Chunk{}, ctx.Err()
	}
	if j.gate != nil && j.given > 0 {
		select {
		case <-j.gate:
		case <-ctx.Done():
			return source.Chunk{}, ctx.Err()
		}
	}
	c := j.chunks[0]
	j.chunks = j.chunks[1:]
	j.given++
	return c, nil
}
func (j *jumpSource) Ack(source.Checkpoint) error { return nil }
func (j *jumpSource) Close() error                { return nil }

// TestWrittenJumpLossNotice: a stream that jumps forward (a chunk above the end of what
// was sent before) is preceded by a loss notice, so that a collector counts the gap and
// its written end moves past it instead of waiting for the hole to fill.
func TestWrittenJumpLossNotice(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	fc := newFakeCollector(t, addr, "www", "alpha")
	fc.start()
	line := []byte("a line\n")
	mk := func(off uint64) source.Chunk {
		return source.Chunk{Stream: 9, Offset: off, Span: uint64(len(line)), Data: line, Lines: 1,
			Pos: source.Checkpoint{Path: "x", Stream: 9, Offset: off + uint64(len(line))}}
	}
	src := &jumpSource{chunks: []source.Chunk{mk(0), mk(7), mk(7 + source.LossGap)}}
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), src)
	rs.waitAcked(t, 21)
	if e := fc.end(9); e != 21+source.LossGap-7 {
		t.Fatalf("collector end %d", e)
	}
	fc.mu.Lock()
	gaps := fc.gaps
	fc.mu.Unlock()
	if gaps != source.LossGap-7 {
		t.Errorf("collector counted %d bytes of gap, want %d", gaps, source.LossGap-7)
	}
	if n := testutil.ToFloat64(rs.m.LossNotices); n != 1 {
		t.Errorf("loss notices %v", n)
	}
}

// TestWrittenJumpUnusedNotice: a jump whose offsets the source says hold no byte as far
// as it can tell (Chunk.Unused: past every offset a crashed run may have used) gets an
// unused notice for them and a loss notice for the rest only: the collector counts the
// bytes known lost, and a gap of unknown size, never the 4 GiB jump as lost bytes.
func TestWrittenJumpUnusedNotice(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	fc := newFakeCollector(t, addr, "www", "alpha")
	fc.start()
	line := []byte("a line\n")
	mk := func(off uint64) source.Chunk {
		return source.Chunk{Stream: 9, Offset: off, Span: uint64(len(line)), Data: line, Lines: 1,
			Pos: source.Checkpoint{Path: "x", Stream: 9, Offset: off + uint64(len(line))}}
	}
	// 100 bytes destroyed after offset 7 (lost, or sent by the crashed run), then
	// unused offsets up to the jump.
	jump := mk(7 + source.LossGap)
	jump.Lost, jump.Unused = source.LossGap, []source.OffsetRange{{From: 107, To: 7 + source.LossGap}}
	// The jump is sent once the collector acknowledged the first chunk (its report of
	// the stream is in; TestWrittenLossFirstHeardCounted sends it before).
	src := &jumpSource{chunks: []source.Chunk{mk(0), jump}, gate: make(chan struct{})}
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), src)
	rs.waitAcked(t, 7)
	close(src.gate)
	rs.waitAcked(t, 14)
	if e := fc.end(9); e != 14+source.LossGap {
		t.Fatalf("collector end %d", e)
	}
	fc.mu.Lock()
	gaps, unknown := fc.gaps, fc.unknown
	fc.mu.Unlock()
	if gaps != 100 || unknown != 1 {
		t.Errorf("collector counted %d bytes of gap and %d gaps of unknown size, want 100 and 1", gaps, unknown)
	}
	if n, u := testutil.ToFloat64(rs.m.LossNotices), testutil.ToFloat64(rs.m.UnusedNotices); n != 1 || u != 1 {
		t.Errorf("loss notices %v, unused notices %v; want 1 and 1", n, u)
	}
	if v := testutil.ToFloat64(rs.m.CollectorLost.WithLabelValues("alpha")); v != 100 {
		t.Errorf("lost bytes of alpha %v, want 100", v)
	}
}

// TestWrittenCursorsPersist: the collectors' cursors survive a shipper restart: a
// collector that crashed while the first shipper ran is still waited for by the second
// (the checkpoint stays at what it wrote), and gets the rest when it returns.
func TestWrittenCursorsPersist(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	a := newFakeCollector(t, addr, "www", "alpha")
	b := newFakeCollector(t, addr, "www", "beta")
	a.start()
	b.start()
	part1, part2 := testContent(38, 1000), testContent(39, 1200)
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, part1)
	stateDir := t.TempDir()
	tl := openTailer(t, s, path)
	rs := startShipper(t, writtenConfig(addr, stateDir), tl)
	b.expect(tl.Stream(), part1)
	a.expect(tl.Stream(), part1)
	// Beta's report of part1 in (and the checkpoint saved there) before it crashes:
	// received is not yet reported, and under load the report came after the crash
	// (the checkpoint stayed below part1 for good: 1 CI run).
	checkpointAt(t, s, path, uint64(len(part1)))
	b.crash()
	appendFile(t, path, string(part2))
	all := append(bytes.Clone(part1), part2...)
	a.expect(tl.Stream(), all)
	rs.waitAcked(t, uint64(len(all)))
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	checkpointAt(t, s, path, uint64(len(part1)))
	// A new shipper, as after a restart: the tailer resumes at the checkpoint (beta's
	// cursor), and beta, still absent, holds it there.
	tl2 := openTailer(t, s, path)
	rs2 := startShipper(t, writtenConfig(addr, stateDir), tl2)
	testsupport.EventuallyErr(t, func() error {
		if v := testutil.ToFloat64(rs2.m.AbsentCollectors); v != 1 {
			return fmt.Errorf("absent collectors %v, want beta", v)
		}
		return nil
	})
	rs2.waitAcked(t, uint64(len(part2)))
	checkpointAt(t, s, path, uint64(len(part1)))
	b.start()
	b.expect(tl.Stream(), all)
	checkpointAt(t, s, path, uint64(len(all)))
	a.expect(tl.Stream(), all)
}

// TestWrittenFromAboveCheckpointResent: a collector that is present and not required,
// and that reports a stream only from above the checkpoint (it lost what it had received
// below: its state, or a record it forgot, with no hello naming the stream), gets the
// bytes below resent: the window and the checkpoint move on. Before, nothing resent
// them, and its flights held the window for good.
func TestWrittenFromAboveCheckpointResent(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	a := newFakeCollector(t, addr, "www", "alpha")
	b := newFakeCollector(t, addr, "www", "beta")
	b.fill = true
	a.start()
	b.start()
	part1, part2, part3 := testContent(43, 1000), testContent(44, 800), testContent(45, 600)
	s, path, tl := shipFile(t, part1)
	rs := startShipper(t, writtenConfig(addr, t.TempDir()), tl)
	a.expect(tl.Stream(), part1)
	b.expect(tl.Stream(), part1)
	checkpointAt(t, s, path, uint64(len(part1)))
	// b receives part 2 and loses it, then forgets the stream.
	b.setPaused(true)
	appendFile(t, path, string(part2))
	a.expect(tl.Stream(), slices.Concat(part1, part2))
	testsupport.EventuallyErr(t, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.dropped != uint64(len(part2)) {
			return fmt.Errorf("beta dropped %d bytes, want %d", b.dropped, len(part2))
		}
		return nil
	})
	b.forget(tl.Stream())
	b.setPaused(false)
	appendFile(t, path, string(part3))
	all := slices.Concat(part1, part2, part3)
	a.expect(tl.Stream(), all)
	testsupport.EventuallyErr(t, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if got := slices.Concat(b.prev[tl.Stream()], b.out[tl.Stream()]); !bytes.Equal(got, all) {
			return fmt.Errorf("beta has %d bytes, want %d (first difference at %d)", len(got), len(all), firstDiff(got, all))
		}
		return nil
	})
	rs.waitAcked(t, uint64(len(all)))
	checkpointAt(t, s, path, uint64(len(all)))
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
}
