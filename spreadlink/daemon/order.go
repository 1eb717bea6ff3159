package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/logspread/logspread/spreadlink"
)

// group is one group with at least one member.
type group struct {
	name    string
	slot    [spreadlink.GroupNameLen]byte
	members []*session // sorted by private name, byte order
	counter int32      // change counter: third int of the group id
}

// errGone is returned to a reader whose session was ended by someone else (kicked).
var errGone = errors.New("session ended")

// order is the ordering point: it applies one validated request of s (frame holds the
// whole request, its header already in daemon order) under d.mu, so that every delivery
// it causes takes its place in the one total order.
func (d *Daemon) order(s *session, req request, frame []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.dead {
		return errGone
	}
	if d.shutdown {
		// Shutdown stops reading requests, and one the reader had already buffered is
		// not ordered either: sessions that end during the shutdown leave their groups
		// unannounced (removeMemberLocked), so a message ordered now could reach its
		// sender (an ack marker) while a member that was present never gets the data
		// ordered just before it.
		return ErrShutdown
	}
	var err error
	switch {
	case req.svc&spreadlink.RegularMask != 0:
		d.multicastLocked(s, req, frame)
	case req.svc&spreadlink.KillMess != 0:
		err = errKilled
	case req.numGroups == 0:
		// A join or leave without a group: nothing to do.
	case req.svc&spreadlink.JoinMess != 0:
		err = d.joinLocked(s, spreadlink.SlotName(frame[spreadlink.HeaderLen:]))
	case req.svc&spreadlink.LeaveMess != 0:
		d.leaveLocked(s, spreadlink.SlotName(frame[spreadlink.HeaderLen:]))
	}
	d.reapLocked()
	return err
}

// multicastLocked queues frame once for every session in any of its groups.
func (d *Daemon) multicastLocked(s *session, req request, frame []byte) {
	d.epoch++
	ep := d.epoch
	if req.svc&spreadlink.SelfDiscard != 0 {
		s.seen = ep // counts as served: the sender is skipped
	}
	slots := frame[spreadlink.HeaderLen:]
	for i := 0; i < req.numGroups; i++ {
		name := spreadlink.SlotName(slots[i*spreadlink.GroupNameLen : (i+1)*spreadlink.GroupNameLen])
		if len(name) > 0 && name[0] == '#' {
			if t := d.privs[string(name)]; t != nil && t.seen != ep {
				t.seen = ep
				d.deliverLocked(t, frame)
			}
			continue
		}
		g := d.groups[string(name)]
		if g == nil {
			continue
		}
		for _, t := range g.members {
			if t.seen != ep {
				t.seen = ep
				d.deliverLocked(t, frame)
			}
		}
	}
}

// deliverLocked queues a data message for t. A best-effort session (not lossless)
// whose queue is at its soft mark drops it instead (counted); the first message it
// gets after drops is preceded by a drop notice with their number.
func (d *Daemon) deliverLocked(t *session, frame []byte) {
	if t.dead {
		return
	}
	if !t.lossless {
		if t.outMsgs >= d.cfg.SoftSessionMessages || len(t.out)+len(frame) > d.cfg.SoftSessionBytes {
			if t.dropped == 0 {
				d.m.droppingSessions.Inc()
			}
			t.dropped++
			d.m.dropped.Inc()
			return
		}
		if t.dropped > 0 {
			d.enqueueLocked(t, d.dropNotice(t))
			t.dropped = 0
		}
	}
	d.enqueueLocked(t, frame)
}

// dropNotice returns the drop notice for t's dropped messages (spreadlink.DropNotice).
func (d *Daemon) dropNotice(t *session) []byte {
	var nb [20]byte
	body := spreadlink.AppendDropNotice(nb[:0], t.dropped)
	b := spreadlink.AppendHeader(d.mbuf[:0], spreadlink.Agreed, d.noticeSender, 1, spreadlink.DropNoticeType, len(body))
	b = append(b, t.privSlot[:]...)
	b = append(b, body...)
	d.mbuf = b
	return b
}

// enqueueLocked appends one delivery to t's queue and wakes its writer. A session whose
// queue would pass its bounds is marked dead at once (its queue is discarded) and
// disconnected by reapLocked, once the current operation is complete. With flow control,
// a queue passing its soft mark pauses the readers (flow.go).
func (d *Daemon) enqueueLocked(t *session, frame []byte) {
	if t.dead {
		return
	}
	if t.outMsgs >= d.cfg.MaxSessionMessages || len(t.out)+len(frame) > d.cfg.MaxSessionBytes {
		d.kickLocked(t, kickQueueFull)
		return
	}
	t.out = append(t.out, frame...)
	t.outMsgs++
	if d.cfg.FlowControl && t.lossless && !t.over && (t.outMsgs > d.cfg.SoftSessionMessages || len(t.out) > d.cfg.SoftSessionBytes) {
		d.overLocked(t)
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// reapLocked disconnects the sessions kicked during the current operation; their
// disconnect notices may kick more.
func (d *Daemon) reapLocked() {
	for i := 0; i < len(d.kicks); i++ {
		t := d.kicks[i]
		if t.kick == kickStalled {
			d.log.Warn("session disconnected: stalled above its soft mark", "private", t.private,
				"stall_timeout", d.cfg.StallTimeout, "soft_messages", d.cfg.SoftSessionMessages, "soft_bytes", d.cfg.SoftSessionBytes)
			d.endSessionLocked(t, errStalled)
			continue
		}
		d.log.Warn("session disconnected: outbound queue full", "private", t.private,
			"max_messages", d.cfg.MaxSessionMessages, "max_bytes", d.cfg.MaxSessionBytes)
		d.endSessionLocked(t, errSlow)
	}
	clear(d.kicks)
	d.kicks = d.kicks[:0]
}

// endSessionLocked removes s from its groups (CAUSED_BY_DISCONNECT to the remaining
// members, except during shutdown) and from the tables, and stops its writer. Unless the
// daemon is saying goodbye, the queue is dropped and the connection closed at once.
// Idempotent.
func (d *Daemon) endSessionLocked(s *session, cause error) {
	if s.ended {
		return
	}
	s.ended, s.dead = true, true
	for _, g := range s.groups {
		d.removeMemberLocked(g, s, spreadlink.CausedByDisconnect)
	}
	s.groups = nil
	if s.name != "" && d.names[s.name] == s {
		delete(d.names, s.name)
	}
	if d.privs[s.private] == s {
		delete(d.privs, s.private)
	}
	delete(d.conns, s)
	if !s.graceful {
		s.out, s.outMsgs = nil, 0
	}
	d.underLocked(s)
	if d.over > 0 {
		d.flow.Broadcast() // s's reader may be paused: let it see that s is gone
	}
	if !s.graceful || !s.hasWriter {
		s.nc.Close()
	}
	close(s.quit)
	if s.private != "" {
		d.log.Debug("session ended", "private", s.private, "cause", cause)
	}
}

// joinLocked adds s to group name; joining twice is ignored. Names that are empty or
// start with '#' (private groups) cannot be joined and are ignored. A join that would
// put s in more than MaxSessionGroups groups is refused: s gets a reject notice, is
// counted, and errTooManyGroups ends it (the notice is written first).
func (d *Daemon) joinLocked(s *session, name []byte) error {
	if len(name) == 0 || name[0] == '#' {
		return nil
	}
	g := d.groups[string(name)]
	if len(s.groups) >= d.cfg.MaxSessionGroups && (g == nil || !slices.Contains(s.groups, g)) {
		return d.rejectJoinLocked(s, string(name))
	}
	if g == nil {
		g = &group{name: string(name)}
		copy(g.slot[:], name)
		d.groups[g.name] = g
	}
	i, found := slices.BinarySearchFunc(g.members, s.private, func(m *session, p string) int {
		return strings.Compare(m.private, p)
	})
	if found {
		return nil
	}
	g.members = slices.Insert(g.members, i, s)
	g.counter++
	s.groups = append(s.groups, g)
	d.notifyLocked(g, spreadlink.CausedByJoin, s)
	return nil
}

// rejectJoinLocked refuses s's join of group (MaxSessionGroups): it queues a reject
// notice for s (ILLEGAL_GROUP and why), counts and logs it, and returns
// errTooManyGroups; s's writer flushes its queue, the notice last, before closing.
func (d *Daemon) rejectJoinLocked(s *session, group string) error {
	detail := fmt.Sprintf("join %q refused: the session is in %d groups, the daemon's max_session_groups (--max-session-groups); join fewer groups per session, or raise it",
		group, len(s.groups))
	body := spreadlink.AppendRejectNotice(nil, spreadlink.IllegalGroup, detail)
	b := spreadlink.AppendHeader(d.mbuf[:0], spreadlink.Agreed, d.noticeSender, 1, spreadlink.RejectNoticeType, len(body))
	b = append(b, s.privSlot[:]...)
	b = append(b, body...)
	d.mbuf = b
	d.enqueueLocked(s, b)
	d.m.kickedGroups.Inc()
	d.log.Warn("session disconnected: joined more groups than max_session_groups", "private", s.private,
		"group", group, "groups", len(s.groups), "max_session_groups", d.cfg.MaxSessionGroups)
	if !s.dead && s.hasWriter {
		s.goodbyeLocked(time.Now().Add(max(d.cfg.ShutdownFlush, time.Second)))
	}
	return errTooManyGroups
}

// leaveLocked removes s from group name: CAUSED_BY_LEAVE to the other members, the
// self-leave notice to s. Leaving a group one is not in is ignored.
func (d *Daemon) leaveLocked(s *session, name []byte) {
	g := d.groups[string(name)]
	if g == nil {
		return
	}
	i := slices.Index(s.groups, g)
	if i < 0 {
		return
	}
	s.groups = slices.Delete(s.groups, i, i+1)
	if s.membership {
		b := spreadlink.AppendHeader(d.mbuf[:0], spreadlink.CausedByLeave, g.slot[:], 0, 0, 0)
		d.mbuf = b
		d.m.membershipMessages.Inc()
		d.enqueueLocked(s, b)
	}
	d.removeMemberLocked(g, s, spreadlink.CausedByLeave)
}

// removeMemberLocked takes s out of g's member list and tells the remaining members.
// It does not touch s.groups.
func (d *Daemon) removeMemberLocked(g *group, s *session, cause spreadlink.ServiceType) {
	i := slices.Index(g.members, s)
	if i < 0 {
		return
	}
	g.members = slices.Delete(g.members, i, i+1)
	g.counter++
	if len(g.members) == 0 {
		delete(d.groups, g.name)
		return
	}
	if !d.shutdown {
		d.notifyLocked(g, cause, s)
	}
}

// notifyLocked queues a regular membership message (REG_MEMB|cause) about g, whose
// change concerned changed, for every member that asked for membership messages.
func (d *Daemon) notifyLocked(g *group, cause spreadlink.ServiceType, changed *session) {
	b := spreadlink.AppendHeader(d.mbuf[:0], spreadlink.RegMemb|cause, g.slot[:], len(g.members), 0, membershipBodyLen)
	for _, m := range g.members {
		b = append(b, m.privSlot[:]...)
	}
	b = spreadlink.AppendMembershipBody(b, spreadlink.GroupID{d.id, d.stamp, g.counter}, [][]string{{changed.private}}, 0)
	d.mbuf = b
	for _, m := range g.members {
		if m.membership {
			d.m.membershipMessages.Inc()
			d.enqueueLocked(m, b)
		}
	}
}

// membershipBodyLen is the body of a join/leave/disconnect notice: group id, VS set
// count, my offset, one VS set of one member.
const membershipBodyLen = 12 + 4 + 4 + 4 + spreadlink.GroupNameLen
