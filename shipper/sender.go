package shipper

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
)

// flight is one batch sent and not yet acknowledged: a slot of the window ring, whose
// buffer is reused by later batches.
type flight struct {
	seq    uint64
	gen    uint64 // the presence generation of its last send (see sendLoop.gen)
	sent   bool   // multicast at least once
	src    int
	msg    []byte // batch: the encoded envelope; legacy: the lines to send, one message each
	lines  uint32
	span   uint64
	pos    source.Checkpoint
	sentAt time.Time

	// AckWritten:
	stream uint64
	off    uint64 // logical offset of the batch
	loss   bool   // a notice (envelope.FlagLost, FlagUnused): no position to save
	// lost: a loss notice (envelope.FlagLost), whose bytes each collector it reaches
	// counts as a gap for what it lacks of them; counted names the collectors whose
	// part of it was counted (or found to be none): the others' count waits for their
	// first report, or the notice leaving the window (countLoss, settleLoss, finalLoss).
	lost    bool
	counted []string
	// fresh and freshSpan are the lines and logical bytes of the flight not
	// acknowledged before (Tally): what its acknowledgement counts.
	fresh     uint32
	freshSpan uint64
	ordered   bool // a marker came back for its last send; set says who must write it
	set       ackSet
	mark      uint64 // the tracker's marker count when it was ordered (tracker.reaches)
}

// end returns the logical end of the flight's range.
func (f *flight) end() uint64 { return f.off + f.span }

// marker is an ack marker sent on the current session and not yet delivered back.
type marker struct {
	id     uint64 // the marker's body (envelope.AppendAck): unique within a Run
	seq    uint64 // the last batch sent before it
	gen    uint64 // the presence generation it was sent in
	sentAt time.Time
}

// event is what the reader saw, in delivery order: a marker of ours that came back, or
// a change of the presence group's membership.
type event struct {
	marker uint64 // >0: the marker with this id came back; the fields below are unused
	// A presence change (several in a row are merged into one without AckWritten):
	dirtied bool // some moment without a collector (a membership without one, or a transitional one)
	known   bool // count is the number of collectors after the change (a regular membership)
	count   int
	members []string // AckWritten: the members after the change (a regular membership)
	// AckWritten: a progress report (progress != nil) from member.
	progress *envelope.Progress
	member   string
}

// session is one Spread connection with its reader goroutine.
type session struct {
	conn     *spreadlink.Conn
	priv     string
	presence string        // the presence group watched; "" without RequireCollector
	written  bool          // AckWritten: read progress reports and member lists
	wake     chan struct{} // capacity 1: events were queued
	done     chan struct{} // closed when the reader has ended
	err      error         // the reader's error; read after done

	mu     sync.Mutex // Guards events.
	events []event

	timer    *time.Timer  // ack timeout watchdog
	deadline atomic.Int64 // unix nanoseconds the oldest marker is due; 0: none
	timedOut atomic.Bool
	gotAck   bool // owned by the send loop
}

// read receives deliveries until the connection fails, queueing (in delivery order)
// the markers that come back from our own private group and the membership changes of
// the presence group. It never blocks on the send loop, so the daemon can always
// deliver to us; the queue stays short, since markers are bounded by the window and
// consecutive membership changes are merged.
func (ss *session) read() {
	defer close(ss.done)
	var m spreadlink.Message
	var last uint64
	for {
		if err := ss.conn.Receive(&m); err != nil {
			ss.err = err
			return
		}
		switch {
		case ss.written && m.Service.IsRegular() && m.MessType == envelope.MessTypeProgress:
			p := new(envelope.Progress)
			if envelope.IsCollector(m.Sender) && envelope.ParseProgress(m.Data, p) == nil {
				ss.push(event{progress: p, member: m.Sender})
			}
		case m.Service.IsRegular():
			if m.MessType != envelope.MessTypeAck || m.Sender != ss.priv {
				continue
			}
			id, err := envelope.ParseAck(m.Data)
			if err != nil || id <= last {
				continue
			}
			last = id
			ss.push(event{marker: id})
		case ss.presence != "" && m.Sender == ss.presence && m.Service.IsRegMemb():
			n := envelope.CountCollectors(m.Groups)
			e := event{dirtied: n == 0, known: true, count: n}
			if ss.written {
				e.members = slices.Clone(m.Groups)
			}
			ss.push(e)
		case ss.presence != "" && m.Sender == ss.presence && m.Service.IsTransition():
			// The configuration changes: who stays is known only with the next regular
			// membership. Until then, conservatively, no collector.
			ss.push(event{dirtied: true})
		}
	}
}

// push queues e for the send loop, merging consecutive presence changes.
func (ss *session) push(e event) {
	ss.mu.Lock()
	if k := len(ss.events) - 1; !ss.written && e.marker == 0 && k >= 0 && ss.events[k].marker == 0 {
		p := &ss.events[k]
		p.dirtied = p.dirtied || e.dirtied
		p.known, p.count = e.known, e.count
	} else {
		ss.events = append(ss.events, e)
	}
	ss.mu.Unlock()
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// arm sets the due time of the oldest outstanding marker (zero: none).
func (ss *session) arm(due time.Time) {
	var d int64
	if !due.IsZero() {
		d = due.UnixNano()
	}
	if prev := ss.deadline.Swap(d); prev == 0 && d != 0 {
		ss.timer.Reset(time.Until(due))
	}
}

// expire runs on the watchdog timer: it aborts the connection once the oldest marker is
// overdue (which also unblocks a send stuck on a daemon that stopped reading).
func (ss *session) expire() {
	d := ss.deadline.Load()
	if d == 0 {
		return
	}
	if wait := time.Until(time.Unix(0, d)); wait > 0 {
		ss.timer.Reset(wait)
		return
	}
	ss.timedOut.Store(true)
	ss.conn.Abort()
}

// sendLoop is the state of one Run: the window, the session and the finite sources.
// It is owned by the goroutine calling Shipper.Run.
type sendLoop struct {
	s     *Shipper
	cfg   Config
	in    chan pumpItem
	ack   *acker
	srcs  []source.Source
	pumps []pumpCtl
	pctx  context.Context // the pumps' parent context

	nsrc, neof int
	eof        []bool // per source: its end (io.EOF) was taken
	fatal      error

	// AckWritten (nil tr otherwise): the collectors, the streams, the absent timer.
	tr      *tracker
	streams map[uint64]*streamState
	// counted holds per stream the end of what flights in the window (or acknowledged)
	// count as fresh (flight.fresh); a rewind lowers it to what was acknowledged.
	counted      map[uint64]uint64
	expiry       *time.Timer
	expiryAt     time.Time
	cursorsSave  time.Time   // when the cursors were last handed to the acker
	metricsAt    time.Time   // when the per-collector gauges were last set
	metricsTimer *time.Timer // refreshes the gauges metricsEvery after metricsAt
	metricsArmed bool
	lossBuf      []byte

	// AckOrdered (nil settle otherwise): settled notices (settle.go).
	settle      map[uint64]*settleState
	settleTimer *time.Timer
	settleArmed bool      // settleTimer runs
	settledAt   time.Time // when settled notices were last sent

	ring   []flight // the window: ring[head], ... n slots
	head   int
	n      int
	bytes  int    // bytes held by the n flights
	seq    uint64 // last sequence number assigned
	marked uint64 // last seq covered by a marker sent on the current session

	sess      *session
	cur       atomic.Pointer[session] // for the drain watchdog
	markers   []marker
	markerID  uint64 // last marker id used
	evBuf     []event
	connected bool // a session was up before (the next one is a reconnect)
	fullSince time.Time

	// Presence (RequireCollector; see the package documentation). A marker releases
	// flights only when it was sent in generation gen, came back while !dirty, and the
	// flights were last sent in generation gen.
	gen        uint64 // presence generation: bumped at every connect and every collector return
	dirty      bool   // a moment without a collector since gen began (or not known yet)
	fresh      bool   // no presence change seen yet on this session (our own join is next)
	collectors int    // collectors in the presence group, as last seen
	warned     bool   // "no collector" was logged since a collector was last present
	waiting    bool   // counting time without a collector

	draining bool
	ackBuf   [envelope.AckLen]byte
}

func newSendLoop(s *Shipper, srcs []source.Source, ack *acker) *sendLoop {
	l := &sendLoop{
		s: s, cfg: s.cfg, in: make(chan pumpItem), ack: ack, srcs: srcs, nsrc: len(srcs),
		eof: make([]bool, len(srcs)), pumps: make([]pumpCtl, len(srcs)),
		// One spare slot: a loss notice may precede a chunk taken into the last free one.
		ring:    make([]flight, s.cfg.Window+1),
		counted: map[uint64]uint64{},
	}
	if s.cfg.written() {
		l.tr = newTracker(s.cfg.RequireCollectors, s.cfg.AbsentTimeout)
		l.streams = map[uint64]*streamState{}
	}
	if s.cfg.settles() {
		l.settle = map[uint64]*settleState{}
	}
	return l
}

// run is the send loop. It returns nil when every source ended and everything was
// acknowledged, or after the drain that follows cancellation; the source error that
// ended the run otherwise.
func (l *sendLoop) run(ctx context.Context) error {
	ctxDone := ctx.Done()
	var drainTimer *time.Timer
	// The sources forget streams (AckWritten): the first Forgetter's signal (sources of
	// one state directory share it; the acker's rounds cover others).
	var forgotten <-chan struct{}
	if l.tr != nil {
		for _, src := range l.srcs {
			if f, ok := src.(Forgetter); ok {
				forgotten = f.Forgotten()
				break
			}
		}
	}
	defer func() {
		if drainTimer != nil {
			drainTimer.Stop()
		}
		l.stopSettle()
		l.endSession(true)
		if l.expiry != nil {
			l.expiry.Stop()
		}
		if l.metricsTimer != nil {
			l.metricsTimer.Stop()
		}
		l.saveCursors(true)
		l.noteFull(false)
		l.s.stats.inFlight.Store(0)
		l.s.m.InFlight.Set(0)
		l.s.m.InFlightBytes.Set(0)
	}()
	startDrain := func() {
		if l.draining {
			return
		}
		l.draining = true
		ctxDone = nil
		drainTimer = time.AfterFunc(l.cfg.DrainTimeout, func() {
			if ss := l.cur.Load(); ss != nil {
				ss.conn.Abort()
			}
		})
	}
	for {
		if l.n == 0 && (l.draining || (l.neof == l.nsrc && l.settled())) {
			l.sendSettled() // what was acknowledged since the last notices
			return l.fatal
		}
		if ctx.Err() != nil {
			startDrain()
		}
		if l.draining && l.n > 0 && l.tr != nil && l.collectors == 0 {
			// Acknowledged when written: with no collector present nothing can come
			// back, and waiting DrainTimeout only delays a reload's new sources.
			l.s.log.Warn("stopping with unacknowledged batches; no collector is present to acknowledge them: they are sent again at the next start", "batches", l.n)
			return l.fatal
		}
		if l.sess == nil {
			if l.draining {
				if l.n > 0 {
					l.s.log.Warn("stopping with unacknowledged batches; they are sent again at the next start", "batches", l.n)
				}
				return l.fatal
			}
			if err := l.connect(ctx); err != nil {
				startDrain()
			}
			continue
		}
		inC := l.in
		if l.draining || l.neof == l.nsrc || l.full() {
			inC = nil
		}
		l.noteFull(inC == nil && !l.draining && l.neof < l.nsrc)
		if l.seq > l.marked {
			// Send a marker unless another chunk is ready at once.
			if inC != nil {
				select {
				case it := <-inC:
					l.take(it)
					if l.fatal != nil {
						startDrain()
					}
					continue
				default:
				}
			}
			l.sendMarker()
			continue
		}
		ss := l.sess
		var expiry, settle, refresh <-chan time.Time
		if l.expiry != nil {
			expiry = l.expiry.C
		}
		if l.metricsArmed {
			refresh = l.metricsTimer.C
		}
		if l.settleArmed {
			settle = l.settleTimer.C
		}
		select {
		case it := <-inC:
			l.take(it)
			if l.fatal != nil {
				startDrain()
			}
		case <-ss.wake:
			l.events(ss, true)
		case <-ss.done:
			l.lost(ss.err)
		case <-expiry:
			l.expiryAt = time.Time{}
			l.expire()
		case <-settle:
			l.settleFired()
		case <-refresh:
			l.metricsArmed = false // afterEvents refreshes
		case <-l.ack.saved:
			if l.tr != nil && l.prune() {
				l.saveCursors(true)
			}
		case <-forgotten:
			if l.prune() {
				l.saveCursors(true)
			}
		case <-ctxDone:
			startDrain()
		}
		l.afterEvents()
	}
}

// full reports whether the window has no room for another batch.
func (l *sendLoop) full() bool { return l.n >= l.cfg.Window || l.bytes >= l.cfg.WindowBytes }

// noteFull accounts the time the window spends full.
func (l *sendLoop) noteFull(full bool) {
	switch {
	case full && l.fullSince.IsZero():
		l.fullSince = time.Now()
	case !full && !l.fullSince.IsZero():
		l.s.m.WindowFull.Add(time.Since(l.fullSince).Seconds())
		l.fullSince = time.Time{}
	}
}

// take puts a chunk into the window and sends it.
func (l *sendLoop) take(it pumpItem) {
	if it.err != nil {
		if isEOF(it.err) {
			if !l.eof[it.src] {
				l.eof[it.src] = true
				l.neof++
			}
			return
		}
		l.fatal = it.err
		l.s.log.Error("source failed; stopping", "err", it.err)
		return
	}
	ch := &it.ch
	if ch.Span == 0 && len(ch.Data) == 0 {
		l.takeLoss(it)
		return
	}
	if l.tr != nil {
		if l.stale(ch) {
			if it.done != nil {
				it.done <- struct{}{} // the pump may reuse its buffers
			}
			return
		}
		l.noteChunk(it.src, ch)
	}
	f := l.push()
	f.src, f.lines, f.span, f.pos = it.src, ch.Lines, ch.Span, ch.Pos
	f.stream, f.off = ch.Stream, ch.Offset
	l.tally(f, ch)
	var sent, lines int
	if l.cfg.Legacy {
		f.msg, sent, lines = l.legacyLines(f.msg[:0], ch)
	} else {
		h := ch.Header()
		h.Host = l.cfg.Host
		if it.frame != nil {
			f.msg = envelope.AppendZstdBatch(f.msg[:0], h, ch.Data, it.frame)
			l.s.m.BytesCompressed.Add(float64(len(it.frame)))
		} else {
			f.msg = envelope.AppendBatch(f.msg[:0], h, ch.Data)
		}
		if it.done != nil {
			it.done <- struct{}{} // the pump may reuse its buffers
		}
		sent, lines = len(ch.Data), int(ch.Lines)
	}
	l.n++
	l.bytes += len(f.msg)
	l.sendFlight(f, sent, lines)
}

// takeLoss takes a chunk without data (source.Chunk.Lost at the end of what the
// source has: nothing follows the loss yet): no batch, only its loss notice, which
// carries the chunk's position (acknowledged with it, the checkpoint moves past the
// loss).
func (l *sendLoop) takeLoss(it pumpItem) {
	ch := &it.ch
	if it.done != nil {
		it.done <- struct{}{}
	}
	if l.tr == nil || l.stale(ch) {
		return
	}
	n := l.n
	l.noteChunk(it.src, ch)
	if l.n > n {
		f := &l.ring[(l.head+l.n-1)%len(l.ring)]
		if f.stream == ch.Stream && f.loss && f.end() == ch.Offset {
			f.pos = ch.Pos
		}
	}
}

// tally counts chunk ch, just taken into flight f, as read or re-read, and sets what
// of it f's acknowledgement counts: what lies beyond both the stream's acknowledged
// end and what the window's flights count already.
func (l *sendLoop) tally(f *flight, ch *source.Chunk) {
	rl, rs, xl, xs := l.cfg.Tally.take(ch)
	l.s.stats.readLines.Add(uint64(rl))
	l.s.stats.readBytes.Add(rs)
	l.s.stats.rereadLines.Add(uint64(xl))
	l.s.stats.rereadBytes.Add(xs)
	mark, ok := l.counted[ch.Stream]
	if !ok {
		mark = l.cfg.Tally.ackedMark(ch.Stream)
	}
	f.fresh, f.freshSpan = beyond(ch, mark)
	l.counted[ch.Stream] = max(mark, ch.End())
}

// push returns the next free slot of the window, numbered, not yet counted in n.
func (l *sendLoop) push() *flight {
	f := &l.ring[(l.head+l.n)%len(l.ring)]
	l.seq++
	f.seq, f.gen, f.sent, f.loss, f.lost, f.ordered, f.set = l.seq, l.gen, false, false, false, false, nil
	clear(f.counted)
	f.counted = f.counted[:0]
	return f
}

// sendFlight accounts a flight just taken into the window and sends it.
func (l *sendLoop) sendFlight(f *flight, sent, lines int) {
	if l.full() {
		l.noteFull(true) // now, not at the loop's next turn, which a stop may pre-empt
	}
	l.s.stats.inFlight.Store(int64(l.n))
	l.s.m.InFlight.Set(float64(l.n))
	l.s.m.InFlightBytes.Set(float64(l.bytes))
	l.s.stats.sentBatches.Add(1)
	l.s.stats.sentLines.Add(uint64(lines))
	l.s.stats.sentBytes.Add(uint64(sent))
	l.s.m.LinesSent.Add(float64(lines))
	l.s.m.BytesSent.Add(float64(sent))
	if l.cfg.Legacy {
		l.s.m.BatchesSent.Add(float64(lines))
	} else if !f.loss {
		l.s.m.BatchesSent.Inc()
	}
	if err := l.send(f); err != nil {
		l.lost(err)
		return
	}
	if l.seq-l.marked >= uint64(l.cfg.AckEvery) {
		l.sendMarker()
	}
}

// legacyLines appends to dst the lines of ch to send as raw messages. The first piece of
// a line too long for one message is cut and terminated; the rest of it is dropped.
func (l *sendLoop) legacyLines(dst []byte, ch *source.Chunk) ([]byte, int, int) {
	if ch.Flags&envelope.FlagFragment == 0 {
		return append(dst, ch.Data...), len(ch.Data), int(ch.Lines)
	}
	first, last := ch.Flags&envelope.FlagFirst != 0, ch.Flags&envelope.FlagLast != 0
	// Non-first pieces are dropped: legacy receivers cannot reassemble them.
	switch {
	case first && last: // a whole (possibly truncated) line
		return append(dst, ch.Data...), len(ch.Data), 1
	case first:
		n := min(len(ch.Data), spreadlink.MaxBody-1)
		dst = append(append(dst, ch.Data[:n]...), '\n')
		l.s.m.LegacyTruncated.Inc()
		l.s.log.Warn("legacy mode: line longer than one raw message truncated", "stream", ch.Stream, "offset", ch.Offset)
		return dst, n + 1, 1
	default: // a later piece: dropped, only its position is acknowledged
		return dst, 0, 0
	}
}

// send multicasts one flight on the current session.
func (l *sendLoop) send(f *flight) error {
	f.sentAt = time.Now()
	if l.sess == nil || l.dirty {
		return nil // sent after the next connect, or once a collector is present
	}
	c := l.sess.conn
	f.sent = true
	if !l.cfg.Legacy {
		return c.Multicast(l.cfg.Service, l.cfg.Group, envelope.MessTypeBatch, f.msg)
	}
	for b := f.msg; len(b) > 0; {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		if err := c.Multicast(l.cfg.Service, l.cfg.Group, envelope.MessTypeRaw, b[:i]); err != nil {
			return err
		}
		b = b[i:]
	}
	return nil
}

// sendMarker asks for the acknowledgement of everything sent so far.
func (l *sendLoop) sendMarker() {
	ss := l.sess
	l.marked = l.seq
	if ss == nil || l.dirty {
		return // nothing was sent: the window is sent, with a marker, once a collector is present
	}
	l.markerID++
	err := ss.conn.Multicast(l.cfg.Service, ss.priv, envelope.MessTypeAck, envelope.AppendAck(l.ackBuf[:0], l.markerID))
	if err != nil {
		l.lost(err)
		return
	}
	now := time.Now()
	l.markers = append(l.markers, marker{id: l.markerID, seq: l.seq, gen: l.gen, sentAt: now})
	l.s.m.MarkersSent.Inc()
	if len(l.markers) == 1 {
		ss.arm(now.Add(l.cfg.AckTimeout))
	}
}

// events handles what the reader of ss queued, in delivery order. After the session
// ended (live false) only the markers count: the next session starts afresh.
func (l *sendLoop) events(ss *session, live bool) {
	ss.mu.Lock()
	evs := ss.events
	ss.events, l.evBuf = l.evBuf[:0], nil // (a resend that fails ends the session and comes back here)
	ss.mu.Unlock()
	for _, e := range evs {
		switch {
		case e.marker > 0:
			var set ackSet
			if l.tr != nil {
				set = l.tr.markerBack()
			}
			l.markerBack(ss, e.marker, set)
		case e.progress != nil:
			if l.tr != nil {
				l.progress(e.member, e.progress)
			}
		case live && l.sess == ss:
			if l.tr != nil {
				l.trackMembership(e)
			}
			l.presenceChanged(e)
		}
	}
	clear(evs)
	l.evBuf = evs[:0]
}

// markerBack handles the return of marker id: it proves the session alive, and
// acknowledges the flights it covers unless a moment without a collector happened
// since they were sent.
func (l *sendLoop) markerBack(ss *session, id uint64, set ackSet) {
	if !ss.gotAck {
		ss.gotAck = true
		l.s.link.Healthy()
	}
	i := 0
	for i < len(l.markers) && l.markers[i].id <= id {
		i++
	}
	if i == 0 {
		return
	}
	mk := l.markers[i-1]
	l.markers = append(l.markers[:0], l.markers[i:]...)
	if ss == l.sess {
		var due time.Time
		if len(l.markers) > 0 {
			due = l.markers[0].sentAt.Add(l.cfg.AckTimeout)
		}
		ss.arm(due)
	}
	if mk.id != id || l.dirty || mk.gen != l.gen {
		return // not ours to trust: the window is resent when a collector is back
	}
	if l.tr != nil {
		l.ordered(mk.seq, set)
		return
	}
	now := time.Now()
	popped := false
	for l.n > 0 && l.ring[l.head].seq <= mk.seq && l.ring[l.head].gen == l.gen {
		f := l.pop(now)
		l.ack.add(f.src, f.pos)
		f.pos = source.Checkpoint{}
		if l.settle != nil && !f.loss && f.span > 0 {
			l.noteAcked(f.stream, f.end())
		}
		popped = true
	}
	if popped {
		l.ack.kick()
		l.noteInFlight()
		l.settleSoon()
	}
}

// pop removes the oldest flight from the window, accounting it as acknowledged, and
// returns it (its slot is reused by the next push).
func (l *sendLoop) pop(now time.Time) *flight {
	f := &l.ring[l.head]
	l.s.m.AckLatency.Observe(now.Sub(f.sentAt).Seconds())
	l.s.m.LinesAcked.Add(float64(f.fresh))
	l.s.stats.ackedBatches.Add(1)
	l.s.stats.ackedLines.Add(uint64(f.fresh))
	if !f.loss {
		l.s.m.BytesAcked.Add(float64(f.freshSpan))
		l.s.stats.ackedBytes.Add(f.freshSpan)
		l.cfg.Tally.ack(f.stream, f.end())
		l.counted[f.stream] = max(l.counted[f.stream], f.end())
	}
	f.fresh, f.freshSpan = 0, 0
	l.bytes -= len(f.msg)
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	return f
}

// noteInFlight publishes the window's size.
func (l *sendLoop) noteInFlight() {
	l.s.stats.inFlight.Store(int64(l.n))
	l.s.m.InFlight.Set(float64(l.n))
	l.s.m.InFlightBytes.Set(float64(l.bytes))
}

// presenceChanged applies a change of the presence group's membership. A moment
// without a collector makes the loop dirty: no marker acknowledges anything, and
// nothing is sent, until a collector is present again; then the generation is bumped
// and the whole window is sent, once, followed by a marker.
func (l *sendLoop) presenceChanged(e event) {
	if e.known {
		if e.count > l.collectors {
			defer l.resettle() // after the window is resent, if it is
		}
		l.collectors = e.count
		l.s.stats.collectors.Store(int64(e.count))
		l.s.m.Collectors.Set(float64(e.count))
	}
	if e.dirtied {
		if !l.warned {
			l.warned = true
			l.s.log.Warn("no collector in the presence group: nothing is sent or acknowledged until one joins (the sources are held back once the window is full)",
				"presence", l.sess.presence, "unacknowledged", l.n)
		}
		l.dirty, l.fresh = true, false
		l.noteWaiting(true)
		// A merged change may already show a collector again: go on.
	}
	if !e.known || e.count == 0 || !l.dirty {
		l.fresh = false
		return
	}
	fresh := l.fresh
	l.dirty, l.fresh, l.warned = false, false, false
	l.noteWaiting(false)
	l.gen++
	if l.tr != nil {
		// Everything of the new generation is sent after this membership.
		l.tr.restart()
		if fresh {
			l.tr.startAbsence(time.Now())
		}
		l.rewindHeld()
	}
	switch {
	case fresh:
		// Our own join of the presence group, with a collector in it: the session
		// starts (a reconnect resends the window).
	case l.n == 0:
		l.s.log.Info("collector present again", "collectors", e.count)
	default:
		l.s.stats.presenceResends.Add(1)
		l.s.m.PresenceResends.Inc()
		l.s.log.Info("collector present again; resending the unacknowledged batches", "collectors", e.count, "batches", l.n)
	}
	l.resendWindow()
}

// resendWindow sends every flight of the window (again: those already multicast
// count as resent), in order, in the current generation, and makes the loop send a
// marker after them.
func (l *sendLoop) resendWindow() {
	l.marked = l.seq
	for i := range l.n {
		f := &l.ring[(l.head+i)%len(l.ring)]
		f.gen, f.ordered, f.set = l.gen, false, nil
		again := f.sent
		if err := l.send(f); err != nil {
			l.lost(err)
			return
		}
		if again {
			l.s.stats.resent.Add(1)
			l.s.m.Resends.Inc()
		}
	}
	if l.sess != nil && l.n > 0 {
		l.marked = 0 // force a marker for the resent window
	}
}

// noteWaiting accounts the time spent without a collector.
func (l *sendLoop) noteWaiting(waiting bool) {
	switch {
	case waiting && !l.waiting:
		l.waiting = true
		l.s.m.noCollector.start()
		l.s.stats.waiting.Store(true)
	case !waiting && l.waiting:
		l.waiting = false
		l.s.m.noCollector.stop()
		l.s.stats.waiting.Store(false)
	}
}

// lost tears the session down after err; the next loop iteration reconnects.
func (l *sendLoop) lost(err error) {
	ss := l.sess
	if ss == nil {
		return
	}
	timedOut := ss.timedOut.Load()
	l.endSession(false)
	if timedOut {
		err = fmt.Errorf("%w (%v)", ErrAckTimeout, l.cfg.AckTimeout)
		l.s.m.AckTimeouts.Inc()
	}
	l.s.link.Lost()
	lostErr := fmt.Errorf("session lost: %w", err)
	l.s.stats.connectErr.Store(&lostErr)
	if !l.draining {
		l.s.log.Warn("Spread session lost; reconnecting", "err", err, "unacknowledged", l.n)
	}
}

// endSession closes the session (gracefully when clean) and waits for its reader,
// keeping the acknowledgements that arrived.
func (l *sendLoop) endSession(clean bool) {
	ss := l.sess
	if ss == nil {
		return
	}
	l.sess = nil
	l.cur.Store(nil)
	ss.timer.Stop()
	if clean {
		ss.conn.Close()
	} else {
		ss.conn.Abort()
	}
	<-ss.done
	l.events(ss, false)
	if l.tr != nil {
		l.tr.sessionLost()
	}
	l.markers = l.markers[:0]
	l.noteWaiting(false)
	if ss.presence != "" {
		l.collectors = 0
		l.s.stats.collectors.Store(0)
		l.s.m.Collectors.Set(0)
	}
	l.s.stats.connected.Store(false)
	l.s.m.Connected.Set(0)
}

// connect establishes a session through the Shipper's spreadlink.Session (which
// waits with backoff between attempts) and resends the window. It returns an error
// only when ctx is done.
func (l *sendLoop) connect(ctx context.Context) error {
	conn, err := l.s.link.Connect(ctx)
	if err != nil {
		return err
	}
	var presence string
	if l.cfg.RequireCollector {
		presence = envelope.PresenceGroup(l.cfg.Group)
	}
	ss := &session{conn: conn, priv: conn.PrivateGroup(), presence: presence, written: l.tr != nil,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	ss.timer = time.AfterFunc(time.Hour, ss.expire)
	ss.timer.Stop()
	go ss.read() // owned: endSession closes the connection and waits for done
	l.sess = ss
	l.cur.Store(ss)
	l.s.stats.connected.Store(true)
	l.s.stats.connectErr.Store(nil)
	l.s.m.Connected.Set(1)
	if l.connected {
		l.s.stats.reconnects.Add(1)
		l.s.m.Reconnects.Inc()
		l.s.log.Info("reconnected to the Spread daemon; resending the unacknowledged batches", "private", ss.priv, "batches", l.n)
	} else {
		l.s.log.Info("connected to the Spread daemon", "spread", l.cfg.Address, "private", ss.priv)
	}
	l.connected = true
	// A new generation: markers of earlier sessions are gone. With RequireCollector
	// nothing is sent until our own join shows a collector.
	l.gen++
	l.dirty, l.fresh = presence != "", presence != ""
	if l.dirty {
		l.marked = l.seq
	} else {
		l.resendWindow()
	}
	return nil
}

// sessionConfig returns the configuration of the Shipper's Spread session. With
// RequireCollector every connection joins the presence group before anything is
// sent: every batch of the session is ordered after our own join, whose membership
// tells whether a collector is present.
func (s *Shipper) sessionConfig() spreadlink.SessionConfig {
	sc := spreadlink.SessionConfig{
		Config:  spreadlink.Config{Address: s.cfg.Address, Name: s.cfg.Name, Dialer: s.cfg.Dialer},
		Backoff: spreadlink.Backoff{Min: s.cfg.BackoffMin, Max: s.cfg.BackoffMax},
		OnConnectError: func(err error, failures int, _ time.Duration) {
			s.m.ConnectFailures.Inc()
			s.stats.connectErr.Store(&err)
			// The visible, repeated warning is the caller's (Stats.LastConnectError
			// carries the error): it knows what waits meanwhile (a journal's fill).
			s.log.Debug("cannot reach the Spread daemon; retrying", "spread", s.cfg.Address, "err", err, "attempts", failures)
		},
	}
	if s.cfg.Name == "" {
		sc.NewName = func() string { return envelope.RandomPrivateName(envelope.ShipperPrefix) }
	}
	if s.cfg.RequireCollector {
		sc.Membership = true
		sc.Groups = []string{envelope.PresenceGroup(s.cfg.Group)}
	}
	return sc
}

// ackKey names one stream of one source: a Glob acknowledges each path separately.
type ackKey struct {
	src  int
	path string
}

// acker calls the sources' Ack (which fsyncs) in its own goroutine, coalescing: only
// the last acknowledged position of each stream is saved.
type acker struct {
	s    *Shipper
	srcs []source.Source
	wake chan struct{} // capacity 1
	// urgent (capacity 1): a pending position frees space when saved (a reclaimer's),
	// so the round does not wait for CheckpointInterval.
	urgent chan struct{}
	saved  chan struct{} // capacity 1: a round saved checkpoints (a source may have forgotten a stream)
	quit   chan struct{}
	once   sync.Once
	// cursorsFailing: the last write of the collector cursors failed (logged when it
	// began, and when a write succeeds again: not at every write of a full disk). Owned
	// by the acker's goroutine.
	cursorsFailing bool

	mu          sync.Mutex // Guards the fields below.
	pending     map[ackKey]source.Checkpoint
	failing     bool
	cursorsName string // AckWritten: the collector cursors to write ("" when none pending)
	cursors     []byte
}

// setCursors records the collector cursors to write in the next round.
func (a *acker) setCursors(name string, b []byte) {
	a.mu.Lock()
	a.cursorsName, a.cursors = name, b
	a.mu.Unlock()
}

func newAcker(s *Shipper, srcs []source.Source) *acker {
	return &acker{s: s, srcs: srcs, wake: make(chan struct{}, 1), urgent: make(chan struct{}, 1), saved: make(chan struct{}, 1),
		quit: make(chan struct{}), pending: map[ackKey]source.Checkpoint{}}
}

// A reclaimer is a source that frees space when an acknowledged position is saved (the
// stdin journal deletes its acknowledged segments): Reclaims reports whether saving pos
// would free some. Such a position is saved at once, not at the CheckpointInterval pace,
// so that acknowledged space is freed as acknowledgements arrive (a full journal would
// otherwise pass about one journal size per interval).
type reclaimer interface {
	Reclaims(pos source.Checkpoint) bool
}

// add records pos as acknowledged (later positions of a stream replace earlier ones).
func (a *acker) add(src int, pos source.Checkpoint) {
	a.mu.Lock()
	a.pending[ackKey{src, pos.Path}] = pos
	a.mu.Unlock()
	if r, ok := a.srcs[src].(reclaimer); ok && r.Reclaims(pos) {
		select {
		case a.urgent <- struct{}{}:
		default:
		}
	}
}

func (a *acker) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// stop makes run save what is pending and return.
func (a *acker) stop() { a.once.Do(func() { close(a.quit) }) }

func (a *acker) run() {
	var batch []struct {
		src int
		pos source.Checkpoint
	}
	for {
		var quit bool
		select {
		case <-a.wake:
		case <-a.quit:
			quit = true
		}
		a.mu.Lock()
		cname, cb := a.cursorsName, a.cursors
		a.cursorsName, a.cursors = "", nil
		for k, pos := range a.pending {
			batch = append(batch, struct {
				src int
				pos source.Checkpoint
			}{k.src, pos})
			delete(a.pending, k)
		}
		a.mu.Unlock()
		if cname != "" {
			switch err := writeCursors(cname, cb); {
			case err != nil:
				a.s.m.CheckpointErrors.Inc()
				if !a.cursorsFailing {
					a.cursorsFailing = true
					a.s.log.Error("cannot save the collector cursors; after a restart absent collectors may be given up early (logged again when saved)", "err", err)
				}
			case a.cursorsFailing:
				a.cursorsFailing = false
				a.s.log.Info("collector cursors saved again")
			}
		}
		retry := false
		for i := range batch {
			if !a.save(batch[i].src, batch[i].pos) {
				// Saved again in a later round (no descriptor free, a full disk: it
				// passes) unless a later position came meanwhile.
				retry = true
				k := ackKey{batch[i].src, batch[i].pos.Path}
				a.mu.Lock()
				if _, later := a.pending[k]; !later {
					a.pending[k] = batch[i].pos
				}
				a.mu.Unlock()
			}
		}
		if len(batch) > 0 {
			select {
			case a.saved <- struct{}{}:
			default:
			}
		}
		clear(batch)
		batch = batch[:0]
		if quit {
			return
		}
		// Pace the rounds (CheckpointInterval); a stop during the pause saves at once, and
		// so does a position that frees space (the round then waits for its kick). A save
		// that failed is tried again after at least saveRetry.
		iv := a.s.cfg.CheckpointInterval
		if retry {
			iv = max(iv, saveRetry)
		}
		if iv > 0 {
			t := time.NewTimer(iv)
			select {
			case <-t.C:
			case <-a.quit:
				t.Stop()
			case <-a.urgent:
				t.Stop()
			}
		}
		if retry {
			a.kick()
		}
	}
}

// saveRetry is the least pause before a checkpoint that could not be saved is tried again.
const saveRetry = time.Second

// save saves pos; it reports whether it was saved. A failure is counted and logged when
// the state changes.
func (a *acker) save(src int, pos source.Checkpoint) bool {
	err := a.srcs[src].Ack(pos)
	if err != nil {
		a.s.m.CheckpointErrors.Inc()
	}
	switch {
	case err != nil && !a.failing:
		a.failing = true
		a.s.log.Error("cannot save checkpoint; retrying (acknowledged lines would be sent again after a restart meanwhile)", "source", pos.Path, "err", err)
	case err == nil && a.failing:
		a.failing = false
		a.s.log.Info("checkpoints saved again", "source", pos.Path)
	}
	return err == nil
}
