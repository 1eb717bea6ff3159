package shipper

import (
	"context"
	"slices"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper/source"
)

// A Rewinder is a Source of one stream that can go back to an earlier position, so that
// a collector that was away gets again what it lacks (AckWritten). Rewind is called
// only while Next is not running; pos is a Chunk.Pos the source returned before, or nil
// for the position the source was opened at. After Rewind, Next returns the chunks from
// pos on again, with the same offsets.
type Rewinder interface {
	Rewind(pos *source.Checkpoint) error
}

// A StreamRewinder is a Source of several streams (a source.Glob) that can take one of
// them back to an earlier position while the others go on. RewindStream may be called
// while Next runs; pos is a Chunk.Pos of the stream, or nil for where the source opened
// it. It returns the epoch (source.Chunk.Epoch) of the stream's chunks from then on:
// those with a lower one were read before, and are dropped wherever they still are.
type StreamRewinder interface {
	RewindStream(stream uint64, pos *source.Checkpoint) (uint64, error)
}

// An UnusedKeeper is a Source that knows the offsets of its streams that a run, this
// one or one before it, announced unused (source.Chunk.Unused): they hold no byte. A
// collector that lacks them below the checkpoint gets an unused notice for them, never
// a loss notice (lossFor). UnusedRanges may be called concurrently with Next.
type UnusedKeeper interface {
	UnusedRanges(stream uint64) []source.OffsetRange
}

// maxRetained bounds the positions kept per stream between a flight leaving the window
// and the checkpoint passing it; beyond it every other one is dropped (the checkpoint
// then stays a little further behind).
const maxRetained = 256

// retained is the source position after a flight that left the window.
type retained struct {
	end uint64
	pos source.Checkpoint
}

// streamState is what the send loop keeps per stream with AckWritten.
type streamState struct {
	id      uint64
	src     int
	openOff uint64 // offset of its first chunk in this run (where the source was opened)
	sentEnd uint64 // end of what was taken into the window
	hasCk   bool   // ck was handed to the acker
	ck      source.Checkpoint
	kept    []retained // left the window, checkpoint not yet past them; ascending
	epoch   uint64     // chunks of a lower source.Chunk.Epoch were read before a rewind
	// unused are the ranges announced unused (source.Chunk.Unused) in this run, and
	// below the checkpoint by the runs before (UnusedKeeper): they hold no byte, so a
	// collector that lacks them once their notice left the window gets an unused notice
	// for them, never a loss notice (lossFor). Sorted, disjoint, the last 64 (source.AddRange).
	unused []source.OffsetRange
	// recount holds, per collector, the ranges of loss notices counted for it that a
	// rewind took out of the window: read again, the source announces them again, and
	// the new notice counts for it only what it does not hold (uncounted).
	recount map[string][]source.OffsetRange
}

// noteUnused records that [from, to) was announced unused (the last 64 ranges are kept:
// a jump is announced once per crash that could not resume exactly).
func (st *streamState) noteUnused(from, to uint64) {
	source.AddRange(&st.unused, source.OffsetRange{From: from, To: to})
}

func (st *streamState) noteCounted(name string, from, to uint64) {
	if st.recount == nil {
		st.recount = map[string][]source.OffsetRange{}
	}
	rs := st.recount[name]
	source.AddRange(&rs, source.OffsetRange{From: from, To: to})
	st.recount[name] = rs
}

// uncounted returns the bytes of [from, to) a loss notice counts for collector name:
// all but those a notice dropped by a rewind counted for it already, which are taken
// out of recount (counted once more each time a notice is dropped again).
func (st *streamState) uncounted(name string, from, to uint64) uint64 {
	rs := st.recount[name]
	if len(rs) == 0 {
		return to - from
	}
	n := to - from
	out := make([]source.OffsetRange, 0, len(rs)+1)
	for _, r := range rs {
		lo, hi := max(r.From, from), min(r.To, to)
		if lo >= hi {
			out = append(out, r)
			continue
		}
		n -= hi - lo
		if r.From < lo {
			out = append(out, source.OffsetRange{From: r.From, To: lo})
		}
		if hi < r.To {
			out = append(out, source.OffsetRange{From: hi, To: r.To})
		}
	}
	if len(out) == 0 {
		delete(st.recount, name)
	} else {
		st.recount[name] = out
	}
	return n
}

// split calls fn for the parts of [from, to) in offset order, with unused true for
// those known to be announced unused (st.unused) and false for the others.
func (st *streamState) split(from, to uint64, fn func(from, to uint64, unused bool)) {
	for _, u := range st.unused {
		lo, hi := max(u.From, from), min(u.To, to)
		if lo >= hi {
			continue
		}
		if lo > from {
			fn(from, lo, false)
		}
		fn(lo, hi, true)
		from = hi
	}
	if from < to {
		fn(from, to, false)
	}
}

// bytesIn returns the bytes [from, to) of the stream may hold: its length but the
// ranges announced unused.
func (st *streamState) bytesIn(from, to uint64) uint64 {
	var n uint64
	st.split(from, to, func(a, b uint64, unused bool) {
		if !unused {
			n += b - a
		}
	})
	return n
}

// ckOff returns the offset the stream's checkpoint stands at.
func (st *streamState) ckOff() uint64 {
	if st.hasCk {
		return st.ck.Offset
	}
	return st.openOff
}

func (st *streamState) retain(end uint64, pos source.Checkpoint) {
	if len(st.kept) >= maxRetained {
		// Thin: keep every other entry, always the newest.
		out := st.kept[:0]
		for i := (len(st.kept) - 1) % 2; i < len(st.kept); i += 2 {
			out = append(out, st.kept[i])
		}
		clear(st.kept[len(out):])
		st.kept = out
	}
	st.kept = append(st.kept, retained{end, pos})
}

// pumpCtl stops and waits for one pump goroutine.
type pumpCtl struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *sendLoop) startPump(i int) {
	ctx, cancel := context.WithCancel(l.pctx)
	p := pumpCtl{cancel: cancel, done: make(chan struct{})}
	l.pumps[i] = p
	go func() { // owned: stopPump / stopPumps cancel it and wait for done
		defer close(p.done)
		l.s.pump(ctx, i, l.srcs[i], l.in)
	}()
}

func (l *sendLoop) stopPump(i int) {
	if p := l.pumps[i]; p.cancel != nil {
		p.cancel()
		<-p.done
		l.pumps[i] = pumpCtl{}
	}
}

func (l *sendLoop) stopPumps() {
	for i := range l.pumps {
		if l.pumps[i].cancel != nil {
			l.pumps[i].cancel()
		}
	}
	for i := range l.pumps {
		l.stopPump(i)
	}
}

// noteChunk tracks the stream of a chunk about to enter the window, and puts a loss
// notice before it when the stream jumps forward: the bytes between the end of what
// was sent before and the chunk will never be sent. For the first chunk of the stream
// in this run, "before" is the position its source resumed from (the stream's
// checkpoint), less what the source says it skipped since (Chunk.Lost); see
// firstChunk.
func (l *sendLoop) noteChunk(src int, ch *source.Chunk) {
	st := l.streams[ch.Stream]
	if st == nil {
		st = l.firstChunk(src, ch)
	}
	if ch.Offset > st.sentEnd {
		// The ranges the source says hold no byte as far as it can tell (a jump past
		// every offset a run may have used) get an unused notice, the rest a loss
		// notice: a jump of 4 GiB is not a 4 GiB loss.
		from := st.sentEnd
		for _, u := range ch.Unused {
			lo, hi := max(u.From, from), min(u.To, ch.Offset)
			if lo >= hi {
				continue
			}
			if lo > from {
				l.lossNotice(src, st, from, lo)
			}
			l.s.log.Warn("stream jumps forward past every offset a run before may have used; telling collectors the offsets in between are unused (bytes a crashed run sent there, if any, are of unknown size)",
				"stream", ch.Stream, "from", lo, "to", hi)
			l.notice(src, st, lo, hi, envelope.AppendUnused)
			l.s.m.UnusedNotices.Inc()
			st.noteUnused(lo, hi)
			from = hi
		}
		if from < ch.Offset {
			l.lossNotice(src, st, from, ch.Offset)
		}
	}
	st.sentEnd = max(st.sentEnd, ch.End())
}

// lossNotice puts a loss notice for [from, to) of st in the window.
func (l *sendLoop) lossNotice(src int, st *streamState, from, to uint64) {
	l.s.log.Warn("stream jumps forward; telling collectors the bytes in between are lost",
		"stream", st.id, "from", from, "to", to, "bytes", to-from)
	f := l.pushNotice(src, st, from, to, envelope.AppendLoss)
	l.countLoss(st, f)
	l.sendFlight(f, 0, 0)
	l.s.m.LossNotices.Inc()
}

// notice puts a notice (a loss or unused notice, made by appendNotice) for [from, to)
// of st in the window.
func (l *sendLoop) notice(src int, st *streamState, from, to uint64, appendNotice func(dst []byte, stream, offset, span uint64) []byte) {
	l.sendFlight(l.pushNotice(src, st, from, to, appendNotice), 0, 0)
}

// pushNotice takes a notice for [from, to) of st into the window, not sent yet.
func (l *sendLoop) pushNotice(src int, st *streamState, from, to uint64, appendNotice func(dst []byte, stream, offset, span uint64) []byte) *flight {
	f := l.push()
	f.src, f.lines, f.span, f.pos, f.loss = src, 0, to-from, source.Checkpoint{}, true
	f.stream, f.off = st.id, from
	f.msg = appendNotice(f.msg[:0], st.id, from, f.span)
	l.n++
	l.bytes += len(f.msg)
	return f
}

// firstChunk starts tracking the stream of ch, its first chunk in this run. The
// source resumed at ch.Offset-ch.Lost, the stream's checkpoint, which every collector
// waited for had written when it was saved (tracker.limit). What the collectors'
// cursors say is not compared with the chunk: CursorsFile is saved apart from the
// checkpoints (paced; a crash between the saves; its previous copy after a corrupt
// one), so a cursor loaded from it may be older than the checkpoint, and a loss
// notice for the bytes between would be false (a collector without a record of
// them would count a gap, and the shipper logs and counts a loss). Such cursors of
// collectors waited for are raised to the checkpoint (tracker.raiseLoaded). A
// collector that is present and reported in this run that it has less than the
// checkpoint lacks bytes the source no longer holds: it gets a loss notice for them.
func (l *sendLoop) firstChunk(src int, ch *source.Chunk) *streamState {
	l.tr.track(ch.Stream)
	from := ch.Offset - min(ch.Lost, ch.Offset)
	st := &streamState{id: ch.Stream, src: src, openOff: ch.Offset, sentEnd: from, epoch: ch.Epoch}
	l.streams[ch.Stream] = st
	if k, ok := l.srcs[src].(UnusedKeeper); ok {
		for _, u := range k.UnusedRanges(ch.Stream) {
			st.noteUnused(u.From, u.To)
		}
	}
	l.tr.raiseLoaded(ch.Stream, from)
	for _, c := range l.tr.byName {
		if !c.present() || c.loaded[ch.Stream] {
			continue // not reported in this run: its hello gets what it lacks (appeared)
		}
		if e, ok := c.have(ch.Stream, from); ok && e < from {
			l.lossFor(c, st, e, from, "below the checkpoint the source resumed from")
		}
	}
	return st
}

// countLoss counts, per collector, the part of the loss notice f of st it lacks, which the
// notice declares lost: what it counts as a gap. That is known of a collector present
// in this session (its first report of the session, sent when it saw our join, or its
// own join, came before the notice can reach it, and so did every report since): the
// part above its cursor. A present collector with no record of the stream (it never
// had it, or only batches of it not ordered yet) gets the notice like the others and
// lacks all of it: a collector has a stream from where it first gets it, and a loss
// notice that is the first it gets of a stream is where it has it from (the collector
// counts the notice as a gap then: a stream it starts at the notice's offset, none of
// whose bytes it has). Of a collector not present (yet, or not named yet: its first
// report is not in) it is not known: its cursor is loaded from CursorsFile (saved apart
// from the checkpoints, paced: possibly older than what it has), or it never reported
// the stream; its count waits for its first report (settleLoss, from sendLacking), or,
// should the notice leave the window first, is settled then (finalLoss).
func (l *sendLoop) countLoss(st *streamState, f *flight) {
	f.lost = true
	for _, c := range l.tr.byName {
		if !c.present() {
			continue
		}
		e, _ := c.have(st.id, st.ckOff()) // 0 when it has no record of the stream
		l.countLossFor(c, st, f, e)
	}
}

// countLossFor counts for c the part of loss notice f of st above have, how far c has
// the stream when the notice reaches it, but what a notice of the same bytes dropped
// by a rewind counted for it already (streamState.recount).
func (l *sendLoop) countLossFor(c *collectorState, st *streamState, f *flight, have uint64) {
	f.counted = append(f.counted, c.name)
	if lo := max(have, f.off); lo < f.end() {
		n := f.end() - lo
		if st != nil {
			n = st.uncounted(c.name, lo, f.end())
		}
		l.s.m.CollectorLost.WithLabelValues(c.name).Add(float64(n))
	}
}

// settleLoss counts for c, present again (or for the first time), the part of each loss
// notice of st in the window whose count waits for it (countLoss) above have, how far c
// has the stream when the notice reaches it. With reach, only the notices that reach c
// are counted (it has no record of the stream: it has it from where it first gets it);
// the others are settled as none.
func (l *sendLoop) settleLoss(c *collectorState, st *streamState, have uint64, reach bool) {
	for i := range l.n {
		f := &l.ring[(l.head+i)%len(l.ring)]
		if f.stream != st.id || !f.lost || slices.Contains(f.counted, c.name) {
			continue
		}
		if reach && f.sent && !((f.ordered || f.gen == l.gen) && l.tr.reaches(c.name, f.ordered, f.set, f.mark)) {
			f.counted = append(f.counted, c.name)
			continue
		}
		l.countLossFor(c, st, f, have)
	}
}

// finalLoss settles the counts of loss notice f still waiting (countLoss) as f leaves
// the window (written, or dropped for a rewind): it is not sent again, so those
// collectors' first reports no longer tell what they lack of it. A required collector
// that never reported the stream lacks all of it (sendLacking gives it the stream
// from the checkpoint on, nothing below): counted. One with a loaded cursor gets a
// loss notice of its own for what it lacks below the checkpoint when it returns
// (sendLacking, lossFor), counted then: not here. One present (its first report came
// while no session could resend it anything) is counted by its cursor. One that is not
// required and never reported the stream does not get it: not counted.
//
// With dropped (a rewind took f out of the window), what was counted is kept for the
// notice that re-reading announces again (streamState.recount).
func (l *sendLoop) finalLoss(f *flight, dropped bool) {
	st := l.streams[f.stream]
	for _, c := range l.tr.byName {
		if slices.Contains(f.counted, c.name) {
			continue
		}
		e, ok := c.have(f.stream, l.ckOff(f.stream))
		switch {
		case c.present() && (ok || c.required):
			l.countLossFor(c, st, f, e)
		case !ok && c.required:
			l.countLossFor(c, st, f, 0)
		}
	}
	if dropped && st != nil {
		for _, name := range f.counted {
			st.noteCounted(name, f.off, f.end())
		}
	}
	clear(f.counted)
	f.counted = f.counted[:0]
	f.lost = false
}

// ckOff returns where the checkpoint of stream stands (0 for a stream not tracked).
func (l *sendLoop) ckOff(stream uint64) uint64 {
	if st := l.streams[stream]; st != nil {
		return st.ckOff()
	}
	return 0
}

// stale reports whether ch was read before its stream was last rewound: it is dropped.
func (l *sendLoop) stale(ch *source.Chunk) bool {
	st := l.streams[ch.Stream]
	return st != nil && ch.Epoch < st.epoch
}

// trackMembership applies a presence change to the tracker.
func (l *sendLoop) trackMembership(e event) {
	if !e.known {
		l.tr.transitional()
		return
	}
	l.tr.membership(e.members, time.Now())
	l.release()
}

// progress applies a progress report. A collector that appears gets what it lacks
// (appeared); so does one whose report says it has a stream only from above the
// checkpoint (it lost the bytes below: its state, or a stream record it forgot), which
// no other event would resend.
func (l *sendLoop) progress(member string, p *envelope.Progress) {
	name := l.tr.progress(member, p)
	switch {
	case l.sess == nil:
	case name != "":
		l.appeared(name)
	case len(l.tr.raised) > 0:
		c := l.tr.byName[p.Name]
		for _, id := range l.tr.raised {
			if st := l.streams[id]; st != nil && c.present() && c.from[id] > st.ckOff() {
				l.s.log.Info("collector has a stream only from above the checkpoint; resending what it lacks",
					"collector", c.name, "stream", id, "from", c.from[id], "checkpoint", st.ckOff())
				l.sendLacking(c, st, false)
			}
		}
	}
	l.release()
}

// ordered marks the flights the marker covers (sent in the current generation up to seq)
// as ordered with set. A set without any collector acknowledges nothing: the window is
// sent again, after the current membership, if a collector is there.
func (l *sendLoop) ordered(seq uint64, set ackSet) {
	if len(set) == 0 {
		if l.collectors > 0 && l.sess != nil {
			l.gen++
			l.tr.restart()
			l.resendWindow()
		}
		return
	}
	for i := range l.n {
		f := &l.ring[(l.head+i)%len(l.ring)]
		if f.seq > seq {
			break
		}
		if !f.ordered && f.gen == l.gen && f.sent {
			f.ordered, f.set, f.mark = true, set, l.tr.marks
			l.tr.owe(set, f.stream, f.off)
		}
	}
	l.release()
}

// release takes the flights written by their collectors out of the window, in order,
// and advances the checkpoints as far as the collectors waited for allow.
func (l *sendLoop) release() {
	now := time.Now()
	popped := false
	for l.n > 0 {
		f := &l.ring[l.head]
		if !f.ordered || !l.tr.written(f.set, f.stream, f.off, f.end()) {
			break
		}
		l.pop(now)
		if f.lost {
			l.finalLoss(f, false)
		}
		if st := l.streams[f.stream]; st != nil && (!f.loss || f.pos.Path != "") {
			st.retain(f.end(), f.pos) // (a loss notice carries the position of a chunk without data: takeLoss)
		}
		f.pos, f.set = source.Checkpoint{}, nil
		popped = true
	}
	if popped {
		l.noteInFlight()
	}
	l.advance()
}

// advance hands to the acker, per stream, the newest retained position that every
// collector waited for has written.
func (l *sendLoop) advance() {
	kicked := false
	for _, st := range l.streams {
		if len(st.kept) == 0 {
			continue
		}
		lim := l.tr.limit(st.id, st.ckOff())
		i := -1
		for j := range st.kept {
			if st.kept[j].end > lim {
				break
			}
			i = j
		}
		if i < 0 {
			continue
		}
		st.ck, st.hasCk = st.kept[i].pos, true
		l.ack.add(st.src, st.ck)
		n := copy(st.kept, st.kept[i+1:])
		clear(st.kept[n:])
		st.kept = st.kept[:n]
		kicked = true
	}
	if kicked {
		l.ack.kick()
	}
}

// settled reports whether every position that left the window was saved (always, without
// AckWritten): a finite run ends only then.
func (l *sendLoop) settled() bool {
	if l.tr == nil {
		return true
	}
	for _, st := range l.streams {
		if len(st.kept) > 0 {
			return false
		}
	}
	return true
}

// windowLow returns the lowest offset of stream the window still holds (def: none).
func (l *sendLoop) windowLow(stream, def uint64) uint64 {
	for i := range l.n {
		if f := &l.ring[(l.head+i)%len(l.ring)]; f.stream == stream {
			return min(def, f.off)
		}
	}
	return def
}

// appeared gives a collector that is present again (or for the first time, when it is
// required) what it lacks of every stream: from the window if it still holds it, by
// re-reading the source from the checkpoint otherwise, and a loss notice for what the
// source no longer has.
func (l *sendLoop) appeared(name string) {
	c := l.tr.byName[name]
	for _, st := range l.streams {
		l.sendLacking(c, st, true)
	}
}

// sendLacking gives collector c what it lacks of st (see appeared). With back (c is
// present again), the window's flights it gets anyway in the total order are not sent
// again (resendStreamTo); otherwise (c, present all along, lost flights it got) every
// flight of st is.
//
// The loss notices of st in the window whose count waits for c (countLoss) are counted
// here, by what c has of them when they reach it: what its cursor says (nothing, when
// it is required and never reported the stream), and what a loss notice sent here
// declares. One not required that never reported the stream has it from where it
// first gets it: the notices that reach it (tracker.reaches, or not sent yet) are
// where it has it from, and it lacks all of them; the others are not counted.
func (l *sendLoop) sendLacking(c *collectorState, st *streamState, back bool) {
	need, ok := c.have(st.id, st.ckOff())
	has := need // how far c has st as the window's notices reach it
	if !ok {
		if !c.required {
			l.settleLoss(c, st, 0, true)
			return // it has the stream from where it first gets it
		}
		need, has = st.ckOff(), 0
	}
	if need >= st.sentEnd {
		l.settleLoss(c, st, has, false)
		return
	}
	low := l.windowLow(st.id, st.sentEnd)
	if need >= low {
		l.settleLoss(c, st, has, false)
		if back {
			l.resendStreamTo(st.id, c.name)
		} else {
			l.resendStream(st.id)
		}
		return
	}
	ck := st.ckOff()
	if need < ck {
		l.lossFor(c, st, need, ck, "no longer held by the source")
		need, has = ck, max(has, ck)
	}
	l.settleLoss(c, st, has, false) // before a rewind drops the window's notices of st
	if l.rewindSource(st) {
		return
	}
	l.lossFor(c, st, need, low, "the source cannot be re-read")
	l.resendStream(st.id)
}

// rewindHeld makes every source whose stream has lines that left the window but that a
// collector waited for lacks read them again, before the window is sent to collectors
// that are back after a moment without any: the one that lacks them then gets the
// stream in order, from the checkpoint, rather than later lines first.
func (l *sendLoop) rewindHeld() {
	for _, st := range l.streams {
		if len(st.kept) == 0 {
			continue
		}
		l.rewindSource(st)
	}
}

// rewindSource reads st again from its checkpoint if its source can: a Rewinder (the
// whole source goes back), or a StreamRewinder (only st's stream). It reports whether
// it did.
func (l *sendLoop) rewindSource(st *streamState) bool {
	switch rw := l.srcs[st.src].(type) {
	case Rewinder:
		return l.rewind(st, rw)
	case StreamRewinder:
		return l.rewindStream(st, rw)
	}
	return false
}

// lossFor sends a loss notice for [from, to) of st, which collector c lacks and this
// shipper can no longer send, and counts it (for c, and for the collectors present
// with no record of the stream, which get it too). The ranges of it announced unused, in this
// run or one before (st.unused: a jump past every offset a run may have used), hold no
// byte: they get an unused notice, as when the stream jumped, and are not counted.
func (l *sendLoop) lossFor(c *collectorState, st *streamState, from, to uint64, why string) {
	st.split(from, to, func(from, to uint64, unused bool) {
		if unused {
			l.s.log.Warn("collector lacks offsets this shipper announced unused; sending an unused notice",
				"collector", c.name, "stream", st.id, "from", from, "to", to)
			l.sendNotice(st.id, from, to-from, envelope.AppendUnused)
			l.s.m.UnusedNotices.Inc()
			return
		}
		l.s.log.Warn("collector lacks bytes this shipper can no longer send; sending a loss notice",
			"collector", c.name, "stream", st.id, "from", from, "to", to, "bytes", to-from, "reason", why)
		l.s.m.CollectorLost.WithLabelValues(c.name).Add(float64(to - from))
		if l.sess != nil && !l.dirty {
			// The collectors present with no record of the stream get it too, the first
			// they get of the stream: they lack all of it (countLoss).
			for _, d := range l.tr.byName {
				if _, ok := d.have(st.id, st.ckOff()); d != c && d.present() && !ok {
					l.s.m.CollectorLost.WithLabelValues(d.name).Add(float64(to - from))
				}
			}
		}
		l.sendNotice(st.id, from, to-from, envelope.AppendLoss)
		l.s.m.LossNotices.Inc()
	})
}

// sendNotice multicasts a loss or unused notice (made by appendNotice) outside the
// window. Should it not be ordered (the session ends first), the collector is behind
// again when it reappears, and it is sent again.
func (l *sendLoop) sendNotice(stream, off, span uint64, appendNotice func(dst []byte, stream, offset, span uint64) []byte) {
	if l.sess == nil || l.dirty {
		return
	}
	l.lossBuf = appendNotice(l.lossBuf[:0], stream, off, span)
	if err := l.sess.conn.Multicast(l.cfg.Service, l.cfg.Group, envelope.MessTypeBatch, l.lossBuf); err != nil {
		l.lost(err)
	}
}

// resendStream multicasts again the window's flights of stream (a collector that came
// back lacks them); they keep their place and their sets.
func (l *sendLoop) resendStream(stream uint64) { l.resendStreamIf(stream, nil) }

// resendStreamTo multicasts again the window's flights of stream that collector name,
// present again, does not get in the total order (tracker.reaches): those ordered
// before a member of it joined. The hello of a collector that was present all along
// reports where it stood when it saw our join, below what we sent since; what it gets
// anyway is not sent twice (a restarted ship --once sent its first new batch twice).
func (l *sendLoop) resendStreamTo(stream uint64, name string) {
	l.resendStreamIf(stream, func(f *flight) bool {
		// A flight not ordered yet is known to come after the last marker only when
		// sent in the current generation.
		return (f.ordered || f.gen == l.gen) && l.tr.reaches(name, f.ordered, f.set, f.mark)
	})
}

// resendStreamIf multicasts again the window's sent flights of stream, but those skip
// reports true for (skip may be nil).
func (l *sendLoop) resendStreamIf(stream uint64, skip func(*flight) bool) {
	if l.sess == nil || l.dirty {
		return
	}
	for i := range l.n {
		f := &l.ring[(l.head+i)%len(l.ring)]
		if f.stream != stream || !f.sent || skip != nil && skip(f) {
			continue
		}
		if err := l.send(f); err != nil {
			l.lost(err)
			return
		}
		l.s.stats.resent.Add(1)
		l.s.m.Resends.Inc()
		l.marked = 0 // a marker after them
	}
}

// rewind makes st's source read again from the stream's checkpoint: its pump is
// stopped, its flights leave the window unacknowledged, the source rewinds and a new
// pump starts. It reports whether the source rewound.
func (l *sendLoop) rewind(st *streamState, rw Rewinder) bool {
	l.stopPump(st.src)
	l.dropFlights(st.src)
	var pos *source.Checkpoint
	if st.hasCk {
		pos = &st.ck
	}
	err := rw.Rewind(pos)
	if err == nil {
		l.s.log.Info("re-reading a stream for a collector that lacks it", "stream", st.id, "from", st.ckOff(), "to", st.sentEnd)
		l.s.m.Rewinds.Inc()
		st.sentEnd = st.ckOff()
		clear(st.kept)
		st.kept = st.kept[:0]
		if l.eof[st.src] {
			l.eof[st.src] = false
			l.neof--
		}
	} else {
		l.s.log.Error("cannot re-read the source", "stream", st.id, "err", err)
	}
	l.startPump(st.src)
	return err == nil
}

// rewindStream makes st's stream read again from its checkpoint, the source's other
// streams going on: its flights leave the window unacknowledged, and its chunks read
// before (in the pump, on their way) are dropped by their epoch. It reports whether
// the source rewound.
func (l *sendLoop) rewindStream(st *streamState, rw StreamRewinder) bool {
	var pos *source.Checkpoint
	if st.hasCk {
		pos = &st.ck
	}
	epoch, err := rw.RewindStream(st.id, pos)
	if err != nil {
		l.s.log.Warn("cannot re-read the stream", "stream", st.id, "err", err)
		return false
	}
	l.s.log.Info("re-reading a stream for a collector that lacks it", "stream", st.id, "from", st.ckOff(), "to", st.sentEnd)
	l.s.m.Rewinds.Inc()
	l.dropFlightsOf(func(f *flight) bool { return f.stream == st.id })
	st.epoch = epoch
	st.sentEnd = st.ckOff()
	clear(st.kept)
	st.kept = st.kept[:0]
	return true
}

// dropFlights takes every flight of source src out of the window, unacknowledged.
func (l *sendLoop) dropFlights(src int) {
	l.dropFlightsOf(func(f *flight) bool { return f.src == src })
}

// dropFlightsOf takes every flight drop selects out of the window, unacknowledged.
func (l *sendLoop) dropFlightsOf(drop func(*flight) bool) {
	k := 0
	for i := range l.n {
		a := (l.head + i) % len(l.ring)
		if drop(&l.ring[a]) {
			if l.ring[a].lost {
				l.finalLoss(&l.ring[a], true)
			}
			// Its lines, read again, count when acknowledged then.
			l.counted[l.ring[a].stream] = l.cfg.Tally.ackedMark(l.ring[a].stream)
			l.ring[a].fresh, l.ring[a].freshSpan = 0, 0
			l.bytes -= len(l.ring[a].msg)
			l.ring[a].pos, l.ring[a].set = source.Checkpoint{}, nil
			continue
		}
		b := (l.head + k) % len(l.ring)
		if a != b {
			l.ring[a], l.ring[b] = l.ring[b], l.ring[a]
		}
		k++
	}
	l.n = k
	l.noteInFlight()
}

// expire ends the wait for collectors absent longer than the absent timeout: what each
// lacks is logged and counted, and the checkpoints may pass it.
func (l *sendLoop) expire() {
	for _, c := range l.tr.expire(time.Now()) {
		var lacks uint64
		for _, st := range l.streams {
			have, ok := c.have(st.id, st.ckOff())
			if !ok {
				have = st.openOff
			}
			if have < st.sentEnd {
				lacks += st.bytesIn(have, st.sentEnd)
			}
		}
		name := c.name
		if name == "" {
			name = "unnamed" // left before it reported its name
		}
		l.s.log.Warn("collector absent longer than the absent timeout; no longer waiting for it (it gets a loss notice for what cannot be resent when it returns)",
			"collector", name, "absent_timeout", l.cfg.AbsentTimeout, "bytes_lacking", lacks)
		l.s.m.CollectorTimedOut.WithLabelValues(name).Add(float64(lacks))
	}
	l.advance()
}

// A Forgetter is a Source whose streams can end for good (a Glob's match deleted,
// drained and acknowledged). Forgot reports whether the source (or any source of its
// state directory) will never return chunks of stream again: a stream that comes back
// is a new stream, so its offsets are never reused. The send loop then drops what it
// keeps of the stream (AckWritten): its state, and its entries in the collector cursors,
// in memory and in CursorsFile.
type Forgetter interface {
	Forgot(stream uint64) bool
	// Forgotten receives a value (coalesced) after the source may have forgotten a
	// stream (sources of one state directory may share it).
	Forgotten() <-chan struct{}
}

// prune drops the streams whose source forgot them once nothing of them is in the
// window or waits for a checkpoint (the checkpoint reached the end, so every collector
// waited for wrote it, or is no longer waited for), and the tracked streams loaded from
// CursorsFile that every source forgot. It runs when a source signals that it forgot a
// stream, and after the acker saved checkpoints; it reports whether it dropped any.
func (l *sendLoop) prune() bool {
	dropped := false
	var inWindow map[uint64]bool
	for id, st := range l.streams {
		f, ok := l.srcs[st.src].(Forgetter)
		if !ok || len(st.kept) > 0 || !f.Forgot(id) {
			continue
		}
		if inWindow == nil {
			inWindow = map[uint64]bool{}
			for i := range l.n {
				inWindow[l.ring[(l.head+i)%len(l.ring)].stream] = true
			}
		}
		if inWindow[id] {
			continue
		}
		delete(l.streams, id)
		l.tr.forget(id)
		l.forgetCounts(id)
		l.s.m.StreamsForgotten.Inc()
		dropped = true
	}
	if len(l.tr.own) == len(l.streams) {
		return dropped
	}
	// Streams loaded from the cursors that this run has not sent (yet): dropped once no
	// source has them.
	var fs []Forgetter
	for _, src := range l.srcs {
		f, ok := src.(Forgetter)
		if !ok {
			return dropped
		}
		fs = append(fs, f)
	}
	for id := range l.tr.own {
		if l.streams[id] != nil {
			continue
		}
		gone := true
		for _, f := range fs {
			gone = gone && f.Forgot(id)
		}
		if gone {
			l.tr.forget(id)
			l.forgetCounts(id)
			l.s.m.StreamsForgotten.Inc()
			dropped = true
		}
	}
	return dropped
}

// afterEvents logs the collectors' state changes, re-arms the absent timer, updates the
// per-collector metrics and hands the cursors to the acker (paced).
func (l *sendLoop) afterEvents() {
	if l.tr == nil {
		return
	}
	evs := l.tr.takeEvents()
	for _, e := range evs {
		log := l.s.log.With("collector", e.name)
		switch e.kind {
		case evAppeared:
			log.Info("collector present")
		case evLeft:
			log.Info("collector stopped cleanly; no longer waiting for it")
		case evAbsent:
			log.Warn("collector left without a clean stop; checkpoints wait for it", "absent_timeout", l.cfg.AbsentTimeout)
		case evStalled:
			log.Warn("collector cannot write; holding the window for it", "reason", e.reason.String())
		case evUnstalled:
			log.Info("collector writes again")
		case evTimedOut:
		}
	}
	if next := l.tr.nextExpiry(); !next.Equal(l.expiryAt) {
		l.expiryAt = next
		if l.expiry == nil {
			l.expiry = time.NewTimer(time.Hour)
		}
		l.expiry.Stop()
		if !next.IsZero() {
			l.expiry.Reset(time.Until(next))
		}
	}
	// The per-collector gauges move with every report and every chunk sent: refresh
	// them on a change of state, and otherwise at most every metricsEvery.
	switch now := time.Now(); {
	case len(evs) > 0 || now.Sub(l.metricsAt) >= metricsEvery:
		l.metricsAt = now
		l.updateMetrics()
	case !l.metricsArmed: // refresh later, also when the loop goes idle meanwhile
		if l.metricsTimer == nil {
			l.metricsTimer = time.NewTimer(metricsEvery)
		}
		l.metricsTimer.Reset(l.metricsAt.Add(metricsEvery).Sub(now))
		l.metricsArmed = true
	}
	l.saveCursors(false)
}

// metricsEvery paces the refresh of the per-collector gauges.
const metricsEvery = 250 * time.Millisecond

// updateMetrics sets the per-collector gauges.
func (l *sendLoop) updateMetrics() {
	absent := 0
	m := l.s.m
	for _, c := range l.tr.byName {
		var written, held float64
		for _, st := range l.streams {
			e, ok := c.have(st.id, st.ckOff())
			if _, reported := c.cursor[st.id]; reported {
				written += float64(e)
			}
			if (!c.present() && c.waited()) || c.stalled {
				if !ok {
					e = st.ckOff()
				}
				if e < st.sentEnd {
					held += float64(st.bytesIn(e, st.sentEnd))
				}
			}
		}
		m.CollectorWritten.WithLabelValues(c.name).Set(written)
		m.CollectorHeld.WithLabelValues(c.name).Set(held)
		m.CollectorStalled.DeletePartialMatch(map[string]string{"collector": c.name})
		if c.stalled {
			m.CollectorStalled.WithLabelValues(c.name, c.reason.String()).Set(1)
		} else {
			m.CollectorStalled.WithLabelValues(c.name, "none").Set(0)
		}
		if !c.present() && c.waited() {
			absent++
		}
	}
	m.AbsentCollectors.Set(float64(absent))
	m.StreamsTracked.Set(float64(len(l.tr.own)))
}
