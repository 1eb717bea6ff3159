package daemon

import "time"

// Flow control (Config.FlowControl).
//
// A session is "over" while its outbound queue holds more than its soft mark
// (SoftSessionMessages deliveries or SoftSessionBytes bytes). While any session is over,
// the daemon is paused: every reader goroutine waits on d.flow before it reads its next
// request, so senders are throttled by their sockets, as Spread throttles them while its
// ring queue is above WATER_MARK. Writers keep draining; the writer that takes an over
// session's queue (which empties it) ends its over state, and the last one to do so
// resumes the readers. A request already being read when the pause begins is still
// ordered, so each reader admits at most one request into a pause: the hard bounds
// (MaxSessionMessages, MaxSessionBytes) are reached only by what was admitted before.
//
// A session that stays over without its client taking any data for StallTimeout is
// kicked (stalled) by the stall watcher, so a dead reader pauses the others only briefly.

// Only lossless sessions (Config.LosslessPrefixes: collectors) go over: a best-effort
// session (`logspread tail`) never pauses the daemon; what arrives for it while its
// queue is at the soft mark is dropped, counted, and announced to it with a drop notice
// (deliverLocked, takeLocked).
//
// A stalled session is one whose client took nothing for StallTimeout: the writer
// bounds every Write by progressTick and records any byte taken as progress, so a slow
// but live reader is never taken for a stalled one.

// writeChunk is the most a writer hands to one Write. Smaller chunks cost loopback TCP
// throughput (256 KiB: about -20% with 1 KiB messages).
const writeChunk = 4 << 20

// Reasons for kicking a session, the label of sessions_kicked_total.
const (
	kickQueueFull = "queue_full"
	kickStalled   = "stalled"
	kickGroups    = "max_session_groups"
)

// now is the daemon's monotonic clock.
func (d *Daemon) now() time.Duration { return time.Since(d.t0) }

// overLocked marks t as above its soft mark; the first such session pauses the readers.
func (d *Daemon) overLocked(t *session) {
	t.over = true
	t.overSince = d.now()
	d.over++
	if d.over > 1 {
		return
	}
	d.pausedAt = t.overSince
	d.paused.Store(true)
	d.m.flowPauses.Inc()
	select {
	case d.flowArm <- struct{}{}:
	default:
	}
}

// underLocked ends t's over state, if any; the last session to leave it resumes the
// readers.
func (d *Daemon) underLocked(t *session) {
	if !t.over {
		return
	}
	t.over = false
	d.over--
	if d.over > 0 {
		return
	}
	d.pausedFor += d.now() - d.pausedAt
	d.paused.Store(false)
	d.flow.Broadcast()
}

// takeLocked hands s's queue to its writer and puts spare in its place. The queue is
// empty afterwards, hence below its soft mark.
//
// A best-effort session that had messages dropped gets its drop notice at the head of
// the new queue: after the messages taken now (queued before the drops), before any
// later one.
func (d *Daemon) takeLocked(s *session, spare []byte) (buf []byte, n int) {
	buf, n = s.out, s.outMsgs
	s.out, s.outMsgs = spare[:0], 0
	d.underLocked(s)
	if s.dropped > 0 && !s.dead {
		d.enqueueLocked(s, d.dropNotice(s))
		s.dropped = 0
	}
	return buf, n
}

// waitFlow holds s's reader while the daemon is paused. It returns errGone if s was
// ended meanwhile and ErrShutdown once the daemon shuts down.
func (d *Daemon) waitFlow(s *session) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.parked = true
	for d.over > 0 && !s.dead && !d.shutdown {
		d.flow.Wait()
	}
	s.parked = false
	switch {
	case s.dead:
		return errGone
	case d.shutdown:
		return ErrShutdown
	}
	return nil
}

// pausedSeconds is the total time the readers were paused, the current pause included.
func (d *Daemon) pausedSeconds() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.pausedFor
	if d.over > 0 {
		t += d.now() - d.pausedAt
	}
	return t.Seconds()
}

// stallWatcher kicks the sessions that stay over their soft mark without progress for
// StallTimeout. It sleeps until a pause begins, then until the earliest deadline of the
// sessions that are over, and ends with Shutdown.
func (d *Daemon) stallWatcher() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-d.flowArm:
		case <-timer.C:
		}
		d.mu.Lock()
		next := d.kickStalledLocked()
		d.mu.Unlock()
		if next > 0 {
			timer.Reset(next)
		}
	}
}

// kickStalledLocked kicks every over session whose client took nothing for
// StallTimeout, and returns how long until the next one could be due (0: none is over).
func (d *Daemon) kickStalledLocked() time.Duration {
	if d.shutdown || d.over == 0 {
		return 0
	}
	now := d.now()
	var next time.Duration
	for s := range d.conns {
		if !s.over || s.dead {
			continue
		}
		due := max(s.overSince, time.Duration(s.progress.Load())) + d.cfg.StallTimeout
		if due <= now {
			d.kickLocked(s, kickStalled)
			continue
		}
		if next == 0 || due-now < next {
			next = due - now
		}
	}
	d.reapLocked()
	return next
}

// kickLocked marks t dead, drops its queue and schedules its disconnect (reapLocked).
func (d *Daemon) kickLocked(t *session, reason string) {
	t.dead = true
	t.kick = reason
	t.out, t.outMsgs = nil, 0
	d.underLocked(t)
	d.kicks = append(d.kicks, t)
	if reason == kickStalled {
		d.m.kickedStalled.Inc()
	} else {
		d.m.kickedFull.Inc()
	}
}
