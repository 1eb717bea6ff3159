package shipper

import (
	"time"

	"github.com/logspread/logspread/formats/envelope"
)

// Settled notices (AckOrdered). A batch acknowledged on order leaves the window and is
// never sent again (short of a restart from an older checkpoint): a collector that
// missed it (its session was lost, a crash tore the frame it was in) keeps a hole that
// nothing fills. So the shipper tells the collectors, per stream, the offset below which
// it will not send again: a settled notice (envelope.AppendSettled) for [0, acked end),
// multicast to the group after the batches it covers, at most every CheckpointInterval
// while acknowledgements move, again to every stream when a collector joins the presence
// group, and at the end of a run. A collector counts what it lacks below that offset,
// from where it first had the stream, as a gap of that exact size (cause "missed").

// settleState is what the send loop keeps per stream for its settled notices.
type settleState struct {
	acked uint64 // end of what was acknowledged
	sent  uint64 // end named in the last settled notice sent
}

// noteAcked records that stream is acknowledged up to end.
func (l *sendLoop) noteAcked(stream, end uint64) {
	st := l.settle[stream]
	if st == nil {
		st = &settleState{}
		l.settle[stream] = st
	}
	st.acked = max(st.acked, end)
}

// settleSoon sends the settled notices now if the last ones are CheckpointInterval old,
// else arms the timer that sends them then.
func (l *sendLoop) settleSoon() {
	if l.settle == nil || l.settleArmed {
		return
	}
	wait := l.cfg.CheckpointInterval - time.Since(l.settledAt)
	if wait <= 0 {
		l.sendSettled()
		return
	}
	if l.settleTimer == nil {
		l.settleTimer = time.NewTimer(wait)
	} else {
		l.settleTimer.Reset(wait)
	}
	l.settleArmed = true
}

// resettle makes the next settled notices cover every stream again (a collector joined:
// it may lack what it missed while it was away).
func (l *sendLoop) resettle() {
	for _, st := range l.settle {
		st.sent = 0
	}
	l.settleSoon()
}

// sendSettled multicasts a settled notice for every stream acknowledged further than
// its last notice said. Without a session (or without a collector) it waits for the
// next acknowledgement or collector.
func (l *sendLoop) sendSettled() {
	if l.settle == nil || l.sess == nil || l.dirty {
		return
	}
	l.settledAt = time.Now()
	for id, st := range l.settle {
		if st.acked <= st.sent {
			continue
		}
		l.lossBuf = envelope.AppendSettled(l.lossBuf[:0], id, 0, st.acked)
		if err := l.sess.conn.Multicast(l.cfg.Service, l.cfg.Group, envelope.MessTypeBatch, l.lossBuf); err != nil {
			l.lost(err)
			return
		}
		st.sent = st.acked
		l.s.m.SettledNotices.Inc()
	}
	if len(l.settle) > maxSettled {
		// Bounded memory (many short-lived files of a glob): forget the streams whose
		// last notice was sent; a collector that joins later is not told about them again.
		for id, st := range l.settle {
			if st.acked <= st.sent {
				delete(l.settle, id)
			}
		}
	}
}

// maxSettled is how many streams' settled state the loop keeps before it forgets those
// that are fully notified.
const maxSettled = 4096

// settleFired handles the settle timer.
func (l *sendLoop) settleFired() {
	l.settleArmed = false
	l.sendSettled()
}

// stopSettle stops the settle timer.
func (l *sendLoop) stopSettle() {
	if l.settleTimer != nil {
		l.settleTimer.Stop()
	}
}
