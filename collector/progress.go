package collector

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/spreadlink"
)

// streamEnd is what a flush cycle publishes of one stream: its lowest written span
// (StreamState.Front), and the configured groups its batches came on.
type streamEnd struct {
	stream uint64
	front  Span
	groups []string
}

// progressSender multicasts this collector's progress reports (envelope.Progress) to
// the presence group of every group it collects: per stream the lowest range it has
// written without a hole (StreamState.Front), whether it is stalled (and why), and on a
// clean stop a final report. Each report covers the streams of that group whose end
// moved since the last report sent on the current session; the first report of a
// session (the hello, sent once every join is delivered, and again in a presence group
// when a shipper joins it) covers every stream of the group it knows, possibly none.
//
// Concurrency: every method may be called from any goroutine; the writer publishes and
// reports stalls, the reader attaches and detaches sessions. Reports are sent under
// the mutex, so they leave in the order the calls were made.
type progressSender struct {
	name     string
	log      *slog.Logger
	m        *CollectorMetrics
	presence []string       // the presence groups, one per distinct group
	index    map[string]int // configured group -> index in presence

	mu      sync.Mutex // Guards the fields below.
	conn    *spreadlink.Conn
	ends    map[uint64]Span
	groups  map[uint64][]int  // stream -> indexes in presence
	sent    []map[uint64]Span // per presence group: the spans sent on conn
	flags   envelope.ProgressFlags
	reason  envelope.StallReason
	entries []envelope.StreamProgress
	buf     []byte
}

// newProgressSender returns a sender for the configured groups (several groups may
// share a presence group).
func newProgressSender(name string, groups []string, m *CollectorMetrics, log *slog.Logger) *progressSender {
	p := &progressSender{name: name, log: log, m: m, index: make(map[string]int),
		ends: make(map[uint64]Span), groups: make(map[uint64][]int)}
	for _, g := range groups {
		pg := envelope.PresenceGroup(g)
		i := slices.Index(p.presence, pg)
		if i < 0 {
			i = len(p.presence)
			p.presence = append(p.presence, pg)
		}
		p.index[g] = i
	}
	return p
}

// update records ends without sending anything (the state restored at start).
func (p *progressSender) update(ends []streamEnd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record(ends)
}

func (p *progressSender) record(ends []streamEnd) {
	for _, e := range ends {
		p.ends[e.stream] = e.front
		gs := p.groups[e.stream][:0]
		for _, g := range e.groups {
			if i, ok := p.index[g]; ok && !slices.Contains(gs, i) {
				gs = append(gs, i)
			}
		}
		p.groups[e.stream] = gs
	}
}

// forget drops what the sender knows of a stream (its state expired): it is not
// reported any more until it comes back.
func (p *progressSender) forget(stream uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ends, stream)
	delete(p.groups, stream)
	for _, sent := range p.sent {
		delete(sent, stream)
	}
}

// publish records the ends of a durable flush cycle and reports the streams that moved.
func (p *progressSender) publish(ends []streamEnd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record(ends)
	p.send(false)
}

// attach makes conn, whose joins are all delivered, the session reports go out on,
// and sends the hello: every stream known, per presence group.
func (p *progressSender) attach(conn *spreadlink.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn = conn
	p.sent = make([]map[uint64]Span, len(p.presence))
	for i := range p.sent {
		p.sent[i] = make(map[uint64]Span)
	}
	p.send(true)
}

// hello sends the hello again in presence group pg: every stream of it known, whatever
// was sent before. The reader calls it when a shipper joins pg, so that the shipper
// learns this collector's name (and how far it has each stream) at once instead of at
// the next flush that moves a stream of its own.
func (p *progressSender) hello(pg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gi := slices.Index(p.presence, pg)
	if gi < 0 || p.conn == nil {
		return
	}
	clear(p.sent[gi])
	p.sendGroup(gi, true)
}

// detach forgets conn (lost or closed); nothing is sent until the next attach.
func (p *progressSender) detach(conn *spreadlink.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == conn {
		p.conn = nil
	}
}

// stalled sets the stall reason (envelope.StallNone: writing again) and, when it
// changed, reports it in every presence group.
func (p *progressSender) stalled(r envelope.StallReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r == p.reason {
		return
	}
	p.reason = r
	p.flags &^= envelope.ProgressStalled
	if r != envelope.StallNone {
		p.flags |= envelope.ProgressStalled
	}
	p.send(true)
}

// final sends the final report (ProgressFinal) in every presence group, with the
// streams that moved. It reports whether a session was there to send it on.
func (p *progressSender) final() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return false
	}
	p.flags |= envelope.ProgressFinal
	return p.send(true)
}

// send reports, per presence group, the streams whose end differs from the one sent
// on this session, in messages of at most envelope.MaxProgressEntries entries; with
// force, a group with none still gets one (empty) report. It returns false when no
// session is attached or a multicast failed (the reader then sees the session fail).
func (p *progressSender) send(force bool) bool {
	if p.conn == nil {
		return false
	}
	for gi := range p.presence {
		if !p.sendGroup(gi, force) {
			return false
		}
	}
	return true
}

// sendGroup is send for the presence group of index gi; the session is attached.
func (p *progressSender) sendGroup(gi int, force bool) bool {
	pg := p.presence[gi]
	sent := p.sent[gi]
	p.entries = p.entries[:0]
	for id, front := range p.ends {
		if old, had := sent[id]; (!had || old != front) && slices.Contains(p.groups[id], gi) {
			p.entries = append(p.entries, envelope.StreamProgress{Stream: id, From: front.From, End: front.To})
		}
	}
	if len(p.entries) == 0 && !force {
		return true
	}
	slices.SortFunc(p.entries, func(a, b envelope.StreamProgress) int {
		switch {
		case a.Stream < b.Stream:
			return -1
		case a.Stream > b.Stream:
			return 1
		}
		return 0
	})
	for first := true; first || len(p.entries) > 0; first = false {
		n := min(len(p.entries), envelope.MaxProgressEntries)
		msg := envelope.Progress{Flags: p.flags, Reason: p.reason, Name: p.name, Streams: p.entries[:n]}
		var err error
		if p.buf, err = envelope.AppendProgress(p.buf[:0], &msg); err == nil {
			err = p.conn.Multicast(spreadlink.Agreed, pg, envelope.MessTypeProgress, p.buf)
		}
		if err != nil {
			p.log.Warn("cannot send progress report", "group", pg, "err", err)
			return false
		}
		p.m.ProgressReports.Inc()
		for _, e := range msg.Streams {
			sent[e.Stream] = Span{From: e.From, To: e.End}
		}
		p.entries = p.entries[n:]
	}
	return true
}
