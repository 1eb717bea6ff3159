package shipper

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/formats"
	"github.com/logspread/logspread/spreadlink"
)

// flight is one batch sent and not yet acknowledged: a slot of the window ring, whose
// buffer is reused by later batches.
type flight struct {
	seq    uint64
	src    int
	msg    []byte // batch: the encoded envelope; legacy: the lines to send, one message each
	lines  uint32
	span   uint64
	pos    Checkpoint
	sentAt time.Time
}

// marker is an ack marker sent on the current session and not yet delivered back.
type marker struct {
	seq    uint64
	sentAt time.Time
}

// session is one Spread connection with its reader goroutine.
type session struct {
	conn  *spreadlink.Conn
	priv  string
	acked atomic.Uint64 // highest marker seq delivered back
	wake  chan struct{} // capacity 1: acked advanced
	done  chan struct{} // closed when the reader has ended
	err   error         // the reader's error; read after done

	timer    *time.Timer  // ack timeout watchdog
	deadline atomic.Int64 // unix nanoseconds the oldest marker is due; 0: none
	timedOut atomic.Bool
	gotAck   bool // owned by the send loop
}

// read receives deliveries until the connection fails, recording the markers that come
// back from our own private group. It never blocks on the send loop, so the daemon can
// always deliver to us.
func (ss *session) read() {
	defer close(ss.done)
	var m spreadlink.Message
	for {
		if err := ss.conn.Receive(&m); err != nil {
			ss.err = err
			return
		}
		if !m.Service.IsRegular() || m.MessType != formats.MessTypeAck || m.Sender != ss.priv {
			continue
		}
		seq, err := formats.ParseAck(m.Data)
		if err != nil || seq <= ss.acked.Load() {
			continue
		}
		ss.acked.Store(seq)
		select {
		case ss.wake <- struct{}{}:
		default:
		}
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
	s   *Shipper
	cfg SendConfig
	in  <-chan pumpItem
	ack *acker

	nsrc, neof int
	fatal      error

	ring   []flight // the window: ring[head], ... n slots
	head   int
	n      int
	bytes  int    // bytes held by the n flights
	seq    uint64 // last sequence number assigned
	marked uint64 // last seq covered by a marker sent on the current session

	sess      *session
	cur       atomic.Pointer[session] // for the drain watchdog
	markers   []marker
	failures  int  // connection attempts failed (or sessions lost) in a row
	connected bool // a session was up before (the next one is a reconnect)
	fullSince time.Time

	draining bool
	ackBuf   [formats.AckLen]byte
}

func newSendLoop(s *Shipper, nsrc int, in <-chan pumpItem, ack *acker) *sendLoop {
	return &sendLoop{
		s: s, cfg: s.cfg, in: in, ack: ack, nsrc: nsrc,
		ring: make([]flight, s.cfg.Window),
	}
}

// run is the send loop. It returns nil when every source ended and everything was
// acknowledged, or after the drain that follows cancellation; the source error that
// ended the run otherwise.
func (l *sendLoop) run(ctx context.Context) error {
	ctxDone := ctx.Done()
	var drainTimer *time.Timer
	defer func() {
		if drainTimer != nil {
			drainTimer.Stop()
		}
		l.endSession(true)
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
		if l.n == 0 && (l.draining || l.neof == l.nsrc) {
			return l.fatal
		}
		if ctx.Err() != nil {
			startDrain()
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
		select {
		case it := <-inC:
			l.take(it)
			if l.fatal != nil {
				startDrain()
			}
		case <-ss.wake:
			l.acked(ss)
		case <-ss.done:
			l.lost(ss.err)
		case <-ctxDone:
			startDrain()
		}
	}
}

// full reports whether the window has no room for another batch.
func (l *sendLoop) full() bool { return l.n >= len(l.ring) || l.bytes >= l.cfg.WindowBytes }

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
			l.neof++
			return
		}
		l.fatal = it.err
		l.s.log.Error("source failed; stopping", "err", it.err)
		return
	}
	ch := &it.ch
	f := &l.ring[(l.head+l.n)%len(l.ring)]
	l.seq++
	f.seq, f.src, f.lines, f.span, f.pos = l.seq, it.src, ch.Lines, ch.Span, ch.Pos
	var sent, lines int
	if l.cfg.Legacy {
		f.msg, sent, lines = l.legacyLines(f.msg[:0], ch)
	} else {
		f.msg = formats.AppendBatch(f.msg[:0], ch.Header(), ch.Data)
		sent, lines = len(ch.Data), int(ch.Lines)
	}
	l.n++
	l.bytes += len(f.msg)
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
	} else {
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
func (l *sendLoop) legacyLines(dst []byte, ch *Chunk) ([]byte, int, int) {
	if ch.Flags&formats.FlagFragment == 0 {
		return append(dst, ch.Data...), len(ch.Data), int(ch.Lines)
	}
	first, last := ch.Flags&formats.FlagFirst != 0, ch.Flags&formats.FlagLast != 0
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
	if l.sess == nil {
		return nil // sent after the next connect
	}
	c := l.sess.conn
	if !l.cfg.Legacy {
		return c.Multicast(l.cfg.Service, l.cfg.Group, formats.MessTypeBatch, f.msg)
	}
	for b := f.msg; len(b) > 0; {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		if err := c.Multicast(l.cfg.Service, l.cfg.Group, formats.MessTypeRaw, b[:i]); err != nil {
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
	if ss == nil {
		return
	}
	err := ss.conn.Multicast(l.cfg.Service, ss.priv, formats.MessTypeAck, formats.AppendAck(l.ackBuf[:0], l.seq))
	if err != nil {
		l.lost(err)
		return
	}
	now := time.Now()
	l.markers = append(l.markers, marker{seq: l.seq, sentAt: now})
	l.s.m.MarkersSent.Inc()
	if len(l.markers) == 1 {
		ss.arm(now.Add(l.cfg.AckTimeout))
	}
}

// acked releases the flights covered by the markers ss delivered back.
func (l *sendLoop) acked(ss *session) {
	a := ss.acked.Load()
	if !ss.gotAck && a > 0 {
		ss.gotAck = true
		l.failures = 0
	}
	now := time.Now()
	popped := false
	for l.n > 0 && l.ring[l.head].seq <= a {
		f := &l.ring[l.head]
		l.s.m.AckLatency.Observe(now.Sub(f.sentAt).Seconds())
		l.s.m.LinesAcked.Add(float64(f.lines))
		l.s.m.BytesAcked.Add(float64(f.span))
		l.s.stats.ackedBatches.Add(1)
		l.s.stats.ackedLines.Add(uint64(f.lines))
		l.s.stats.ackedBytes.Add(f.span)
		l.ack.add(f.src, f.pos)
		l.bytes -= len(f.msg)
		f.pos = Checkpoint{}
		l.head = (l.head + 1) % len(l.ring)
		l.n--
		popped = true
	}
	if popped {
		l.ack.kick()
		l.s.stats.inFlight.Store(int64(l.n))
		l.s.m.InFlight.Set(float64(l.n))
		l.s.m.InFlightBytes.Set(float64(l.bytes))
	}
	i := 0
	for i < len(l.markers) && l.markers[i].seq <= a {
		i++
	}
	if i > 0 {
		l.markers = append(l.markers[:0], l.markers[i:]...)
		if ss == l.sess {
			var due time.Time
			if len(l.markers) > 0 {
				due = l.markers[0].sentAt.Add(l.cfg.AckTimeout)
			}
			ss.arm(due)
		}
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
	l.failures++
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
	l.acked(ss)
	l.markers = l.markers[:0]
	l.s.stats.connected.Store(false)
	l.s.m.Connected.Set(0)
}

// connect establishes a session, waiting with backoff between attempts, and resends
// the window. It returns an error only when ctx is done.
func (l *sendLoop) connect(ctx context.Context) error {
	for {
		if l.failures > 0 {
			t := time.NewTimer(l.backoff())
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		conn, err := spreadlink.Dial(ctx, spreadlink.Config{Address: l.cfg.Address, Name: l.cfg.Name, Dialer: l.cfg.Dialer})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.s.m.ConnectFailures.Inc()
			l.failures++
			if l.failures == 1 || l.failures%100 == 0 {
				l.s.log.Warn("cannot reach the Spread daemon; still reading, retrying", "spread", l.cfg.Address, "err", err, "attempts", l.failures)
			} else {
				l.s.log.Debug("connect failed", "err", err)
			}
			continue
		}
		ss := &session{conn: conn, priv: conn.PrivateGroup(), wake: make(chan struct{}, 1), done: make(chan struct{})}
		ss.timer = time.AfterFunc(time.Hour, ss.expire)
		ss.timer.Stop()
		go ss.read() // owned: endSession closes the connection and waits for done
		l.sess = ss
		l.cur.Store(ss)
		l.s.stats.connected.Store(true)
		l.s.m.Connected.Set(1)
		if l.connected {
			l.s.stats.reconnects.Add(1)
			l.s.m.Reconnects.Inc()
			l.s.log.Info("reconnected to the Spread daemon; resending the unacknowledged batches", "private", ss.priv, "batches", l.n)
		} else {
			l.s.log.Info("connected to the Spread daemon", "spread", l.cfg.Address, "private", ss.priv)
		}
		l.connected = true
		l.marked = l.seq
		for i := range l.n {
			f := &l.ring[(l.head+i)%len(l.ring)]
			if err := l.send(f); err != nil {
				l.lost(err)
				break
			}
			l.s.stats.resent.Add(1)
			l.s.m.Resends.Inc()
		}
		if l.sess != nil && l.n > 0 {
			l.marked = 0 // force a marker for the resent window
		}
		return nil
	}
}

// backoff returns the delay before the next connection attempt: BackoffMin doubled per
// failure up to BackoffMax, minus up to half of it at random.
func (l *sendLoop) backoff() time.Duration {
	d := l.cfg.BackoffMin
	for i := 1; i < l.failures && d < l.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, l.cfg.BackoffMax)
	return d - rand.N(d/2+1)
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
	srcs []Source
	wake chan struct{} // capacity 1
	quit chan struct{}
	once sync.Once

	mu      sync.Mutex // Guards the fields below.
	pending map[ackKey]Checkpoint
	failing bool
}

func newAcker(s *Shipper, srcs []Source) *acker {
	return &acker{s: s, srcs: srcs, wake: make(chan struct{}, 1), quit: make(chan struct{}), pending: map[ackKey]Checkpoint{}}
}

// add records pos as acknowledged (later positions of a stream replace earlier ones).
func (a *acker) add(src int, pos Checkpoint) {
	a.mu.Lock()
	a.pending[ackKey{src, pos.Path}] = pos
	a.mu.Unlock()
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
		pos Checkpoint
	}
	for {
		var quit bool
		select {
		case <-a.wake:
		case <-a.quit:
			quit = true
		}
		a.mu.Lock()
		for k, pos := range a.pending {
			batch = append(batch, struct {
				src int
				pos Checkpoint
			}{k.src, pos})
			delete(a.pending, k)
		}
		a.mu.Unlock()
		for i := range batch {
			a.save(batch[i].src, batch[i].pos)
		}
		clear(batch)
		batch = batch[:0]
		if quit {
			return
		}
	}
}

func (a *acker) save(src int, pos Checkpoint) {
	err := a.srcs[src].Ack(pos)
	if err != nil {
		a.s.m.CheckpointErrors.Inc()
	}
	switch {
	case err != nil && !a.failing:
		a.failing = true
		a.s.log.Error("cannot save checkpoint; acknowledged lines would be sent again after a restart", "source", pos.Path, "err", err)
	case err == nil && a.failing:
		a.failing = false
		a.s.log.Info("checkpoints saved again", "source", pos.Path)
	}
}
