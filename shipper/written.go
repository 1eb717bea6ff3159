package shipper

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/logspread/logspread/formats/envelope"
)

// AckPolicy says when a batch is acknowledged (leaves the window and may advance the
// checkpoint).
type AckPolicy uint8

const (
	// AckWritten acknowledges a batch once every collector present in the presence group
	// while it was ordered has reported it written (envelope.MessTypeProgress), and
	// advances checkpoints only over what every collector waited for has written.
	AckWritten AckPolicy = iota
	// AckOrdered acknowledges a batch once Spread has ordered it while a collector was
	// present (the ack marker came back): the behaviour before progress reports.
	AckOrdered
)

// String returns the policy as the --ack flag spells it.
func (p AckPolicy) String() string {
	if p == AckOrdered {
		return "ordered"
	}
	return "written"
}

// ParseAckPolicy parses "written" or "ordered".
func ParseAckPolicy(s string) (AckPolicy, bool) {
	switch s {
	case "written":
		return AckWritten, true
	case "ordered":
		return AckOrdered, true
	}
	return 0, false
}

// ackSet is the set of collector members (private groups, "#name#daemon") present in
// the presence group for the whole interval in which a flight was ordered.
type ackSet []string

// collectorState is what the shipper knows about one named collector.
type collectorState struct {
	name     string
	required bool
	members  int               // present members reporting this name
	cursor   map[uint64]uint64 // stream -> written end (the last End reported)
	from     map[uint64]uint64 // stream -> the From reported with it, when above 0
	owed     map[uint64]uint64 // stream -> lowest offset sent to it, for streams it never reported
	// loaded marks the cursors loaded from CursorsFile that no report of this run
	// confirmed yet: they may be older than the streams' checkpoints (raiseLoaded).
	loaded map[uint64]bool
	// early holds its reports of streams the tracker does not track (yet): taken over
	// when the sender's source returns the stream, bounded (maxEarly) since it also
	// holds every stream of other shippers of the group.
	early    map[uint64]envelope.StreamProgress
	final    bool // its last report said ProgressFinal (a clean stop)
	stalled  bool
	reason   envelope.StallReason
	seen     bool      // present at least once (in this run, or in the loaded cursors)
	leftAt   time.Time // while absent and waited for: when it left (zero: not counting yet)
	timedOut bool      // absent longer than the absent timeout: no longer waited for
	changed  bool      // cursor changed since the last save
}

func (c *collectorState) present() bool { return c.members > 0 }

// have returns how far c has stream, given that low is where the stream's checkpoint
// stands (what lies below is no longer sent to anyone): its reported end, when the range
// it reported starts at or below low; low, when that range starts above it (c first had
// the stream in its middle and lacks [low, From)); or else the lowest offset sent to it
// while it was present (it may have lost all of that).
func (c *collectorState) have(stream, low uint64) (uint64, bool) {
	if e, ok := c.cursor[stream]; ok {
		if c.from[stream] > low {
			return low, true
		}
		return e, true
	}
	e, ok := c.owed[stream]
	return e, ok
}

// waited reports whether checkpoints wait for c.
func (c *collectorState) waited() bool {
	return c.present() || c.required || (c.seen && !c.final && !c.timedOut)
}

// trackEvent is a change of a collector's state, to be logged and counted by the caller.
type trackEvent struct {
	kind   trackKind
	name   string
	reason envelope.StallReason
}

type trackKind uint8

const (
	evAppeared  trackKind = iota // a collector is present (first time, or back)
	evLeft                       // left with ProgressFinal
	evAbsent                     // left without ProgressFinal: waited for
	evStalled                    // reports it cannot write
	evUnstalled                  // writes again
	evTimedOut                   // absent longer than the absent timeout
)

// tracker is the pure state machine behind AckWritten: it sees, in the total order of
// the presence group, the membership changes, the progress reports and the return of
// our own markers, and answers which flights are written and how far checkpoints may
// advance. It does no I/O; the send loop owns it.
type tracker struct {
	absentTimeout time.Duration

	// own are the streams tracked: those of this shipper's sources seen in this run or
	// loaded from the saved cursors, until they are forgotten. Reports of other streams
	// wait in collectorState.early.
	own map[uint64]bool

	byName  map[string]*collectorState
	members map[string]string // present collector members -> name ("" until its first report)
	stable  map[string]bool   // members present since the last marker came back (or our join)
	// marks counts the markers that came back; since holds, per present member, the
	// count when it joined: a flight ordered with a set naming it reached this
	// incarnation of the member only when ordered by a later marker (a private name can
	// come back after a leave).
	marks uint64
	since map[string]uint64
	// owedBy keeps, for members not named yet, the lowest offset per stream ordered
	// while they were in a flight's set.
	owedBy map[string]map[uint64]uint64
	// anon is what members that left before they were named were owed (lowest offset per
	// stream), waited for like an absent collector from anonLeft on: the next collector
	// that appears is taken to be the one that left, and gets it.
	anon     map[uint64]uint64
	anonLeft time.Time

	events []trackEvent // state changes since the caller last took them
	// raised lists the streams whose From the last report set or changed (above 0):
	// the reporting collector may lack bytes below it that nothing resends yet.
	raised []uint64
}

func newTracker(required []string, absentTimeout time.Duration) *tracker {
	t := &tracker{absentTimeout: absentTimeout, own: map[uint64]bool{}, byName: map[string]*collectorState{},
		members: map[string]string{}, stable: map[string]bool{}, owedBy: map[string]map[uint64]uint64{},
		since: map[string]uint64{}}
	for _, n := range required {
		t.collector(n).required = true
	}
	return t
}

func (t *tracker) collector(name string) *collectorState {
	c := t.byName[name]
	if c == nil {
		c = &collectorState{name: name, cursor: map[uint64]uint64{}, from: map[uint64]uint64{}, owed: map[uint64]uint64{},
			loaded: map[uint64]bool{}, early: map[uint64]envelope.StreamProgress{}}
		t.byName[name] = c
	}
	return c
}

func (t *tracker) emit(k trackKind, c *collectorState) {
	t.events = append(t.events, trackEvent{kind: k, name: c.name, reason: c.reason})
}

// load restores a collector's cursor saved by an earlier run (from: the From of the
// streams whose reported range started above 0). A loaded collector that is not
// present is absent (waited for unless it stopped cleanly or had timed out).
func (t *tracker) load(name string, cursor, from map[uint64]uint64, final, timedOut bool) {
	c := t.collector(name)
	maps.Copy(c.cursor, cursor)
	for s := range cursor {
		t.own[s] = true
		c.loaded[s] = true
	}
	for s, f := range from {
		if hasKey(cursor, s) && f > 0 {
			c.from[s] = f
		}
	}
	c.seen, c.final, c.timedOut = true, final, timedOut
}

// membership applies a regular membership of the presence group: members lists every
// member; only collectors count. A collector is known by name from its first report.
func (t *tracker) membership(members []string, now time.Time) {
	cur := map[string]bool{}
	for _, m := range members {
		if envelope.IsCollector(m) {
			cur[m] = true
		}
	}
	for m, name := range t.members {
		if cur[m] {
			continue
		}
		delete(t.members, m)
		delete(t.since, m)
		if name != "" {
			t.depart(t.byName[name], now)
		} else if o := t.owedBy[m]; len(o) > 0 {
			t.addAnon(o, now)
		}
		delete(t.owedBy, m)
	}
	for m := range cur {
		if _, ok := t.members[m]; !ok {
			t.members[m] = "" // named by its first report
			t.since[m] = t.marks
		}
	}
	for m := range t.stable {
		if !cur[m] {
			delete(t.stable, m)
		}
	}
}

// depart accounts a member of c that left.
func (t *tracker) depart(c *collectorState, now time.Time) {
	c.members--
	if c.members > 0 {
		return
	}
	if c.final && !c.required {
		t.emit(evLeft, c)
		return
	}
	c.leftAt = now
	t.emit(evAbsent, c)
}

// transitional applies a transitional membership: who stays is known only with the
// next regular membership, so conservatively no member stays stable.
func (t *tracker) transitional() { clear(t.stable) }

// restart starts a new interval at the current membership: the sender sends nothing
// of a new generation before it (our own join of the presence group, or a collector
// present again after a moment without one).
func (t *tracker) restart() {
	clear(t.stable)
	for m := range t.members {
		t.stable[m] = true
	}
}

// sessionLost forgets the members: our connection is gone, and the next session's
// join says who is there. Collectors not seen again are absent from that join on.
func (t *tracker) sessionLost() {
	for _, o := range t.owedBy {
		if len(o) > 0 {
			t.addAnon(o, time.Time{})
		}
	}
	clear(t.owedBy)
	clear(t.since)
	for m, name := range t.members {
		delete(t.members, m)
		if name == "" {
			continue
		}
		c := t.byName[name]
		c.members--
		if c.members == 0 && !(c.final && !c.required) {
			c.leftAt = time.Time{} // counted from the next join
		}
	}
	clear(t.stable)
}

// startAbsence starts the absent timeout of collectors that became absent while we
// were not connected (sessionLost).
func (t *tracker) startAbsence(now time.Time) {
	if t.anon != nil && t.anonLeft.IsZero() {
		t.anonLeft = now
	}
	for _, c := range t.byName {
		if c.seen && !c.present() && c.leftAt.IsZero() && !c.final && !c.timedOut {
			c.leftAt = now
		}
	}
}

// progress applies a progress report from member. It returns the collector's name when
// the report made it appear (its first report from a new member).
func (t *tracker) progress(member string, p *envelope.Progress) (appeared string) {
	name, ok := t.members[member]
	if !ok {
		return "" // not (or no longer) a member: a stale report
	}
	c := t.collector(p.Name)
	if name == "" {
		t.members[member] = p.Name
		for s, off := range t.owedBy[member] {
			c.owe(s, off)
		}
		delete(t.owedBy, member)
		if t.anon != nil && (c.members == 0 || !c.seen) {
			for s, off := range t.anon {
				c.owe(s, off)
			}
			t.anon = nil
		}
		c.members++
		if c.members == 1 {
			appeared = c.name
			c.timedOut = false
			c.leftAt = time.Time{}
			c.seen = true
			t.emit(evAppeared, c)
		}
	} else if name != p.Name {
		return "" // a member does not change its name; ignore the odd report
	}
	t.raised = t.raised[:0]
	for _, s := range p.Streams {
		if t.own[s.Stream] {
			if c.apply(s) {
				t.raised = append(t.raised, s.Stream)
			}
			continue
		}
		if e, ok := c.early[s.Stream]; ok {
			// Keep what the report sequence said of the range's start (see owedFrom):
			// From stays above 0 when a report left a hole below the next one.
			s.From = foldFrom(c.required, e, s.From)
		} else if !c.required {
			s.From = 0 // a first report: not owed what came before it (owedFrom)
		}
		if len(c.early) >= maxEarly {
			clear(c.early) // the sources' streams are reported again at the next hello
		}
		c.early[s.Stream] = s
	}
	c.final = p.Flags&envelope.ProgressFinal != 0
	stalled := p.Flags&envelope.ProgressStalled != 0
	switch {
	case stalled && (!c.stalled || c.reason != p.Reason):
		c.stalled, c.reason = true, p.Reason
		t.emit(evStalled, c)
	case !stalled && c.stalled:
		c.stalled, c.reason = false, envelope.StallNone
		t.emit(evUnstalled, c)
	}
	return appeared
}

func hasKey(m map[uint64]uint64, k uint64) bool { _, ok := m[k]; return ok }

// maxEarly bounds the reports a collector state keeps of streams not tracked.
const maxEarly = 4096

// apply applies c's report of a tracked stream. It reports whether the report set or
// changed the From kept (above 0): c may lack bytes below it.
func (c *collectorState) apply(s envelope.StreamProgress) (raised bool) {
	from := c.owedFrom(s.Stream, s.From)
	raised = from > 0 && from != c.from[s.Stream]
	delete(c.loaded, s.Stream)
	if s.End != c.cursor[s.Stream] || from != c.from[s.Stream] || !hasKey(c.cursor, s.Stream) {
		c.cursor[s.Stream] = s.End
		if from > 0 {
			c.from[s.Stream] = from
		} else {
			delete(c.from, s.Stream)
		}
		delete(c.owed, s.Stream)
		c.changed = true
	}
	return raised
}

// foldFrom is owedFrom for a report of an untracked stream after the report e: the
// From to keep.
func foldFrom(required bool, e envelope.StreamProgress, from uint64) uint64 {
	if from == 0 || required || from > e.End || e.From > 0 {
		return from
	}
	return 0
}

// track makes the tracker follow stream (its first chunk in this run): the reports of
// it that came before are taken over.
func (t *tracker) track(stream uint64) {
	if t.own[stream] {
		return
	}
	t.own[stream] = true
	for _, c := range t.byName {
		if s, ok := c.early[stream]; ok {
			delete(c.early, stream)
			delete(c.loaded, stream)
			c.cursor[stream], c.changed = s.End, true
			if s.From > 0 {
				c.from[stream] = s.From
			}
		}
	}
}

// forget drops everything known of stream: its source will never return it again and
// no collector waits for it.
func (t *tracker) forget(stream uint64) {
	if !t.own[stream] {
		return
	}
	delete(t.own, stream)
	for _, c := range t.byName {
		if hasKey(c.cursor, stream) || hasKey(c.owed, stream) {
			c.changed = true
		}
		delete(c.cursor, stream)
		delete(c.from, stream)
		delete(c.owed, stream)
		delete(c.early, stream)
		delete(c.loaded, stream)
	}
	for _, o := range t.owedBy {
		delete(o, stream)
	}
	delete(t.anon, stream)
}

// owedFrom returns the From to keep for a report that c has stream from `from` on: from
// itself when c may lack bytes below it that this shipper owes it (have then holds c
// at the checkpoint until it reports a range starting at or below it), 0 when it lacks
// nothing owed. c is owed the stream from its start when it is required, from the end
// it reported before (it lost its state: it lacks what lies between) or from the lowest
// offset ordered while it was present; a collector that is not required and first had
// the stream in its middle is owed only what came after it appeared.
func (c *collectorState) owedFrom(stream, from uint64) uint64 {
	if from == 0 {
		return 0
	}
	if c.required {
		return from
	}
	if e, ok := c.cursor[stream]; ok {
		if from > e || c.from[stream] > 0 {
			return from
		}
		return 0
	}
	if o, ok := c.owed[stream]; ok && from > o {
		return from
	}
	return 0
}

// owe records that a flight of stream starting at off was ordered while c was present:
// until c reports the stream, it has it only up to there.
func (c *collectorState) owe(stream, off uint64) {
	if hasKey(c.cursor, stream) {
		return
	}
	if o, ok := c.owed[stream]; !ok || off < o {
		c.owed[stream] = off
		c.changed = true
	}
}

// addAnon records what a member that left unnamed was owed.
func (t *tracker) addAnon(o map[uint64]uint64, now time.Time) {
	if t.anon == nil {
		t.anon = map[uint64]uint64{}
	}
	for s, off := range o {
		if v, ok := t.anon[s]; !ok || off < v {
			t.anon[s] = off
		}
	}
	t.anonLeft = now
}

// owe records that a flight of stream starting at off was ordered with set.
func (t *tracker) owe(set ackSet, stream, off uint64) {
	for _, m := range set {
		name, ok := t.members[m]
		switch {
		case !ok:
		case name != "":
			t.byName[name].owe(stream, off)
		default:
			o := t.owedBy[m]
			if o == nil {
				o = map[uint64]uint64{}
				t.owedBy[m] = o
			}
			if v, ok := o[stream]; !ok || off < v {
				o[stream] = off
			}
		}
	}
}

// markerBack returns the set of the flights our marker orders: the collector members
// present since the previous marker came back. The next interval starts now.
func (t *tracker) markerBack() ackSet {
	set := make(ackSet, 0, len(t.stable))
	for m := range t.stable {
		set = append(set, m)
	}
	slices.Sort(set)
	for m := range t.members {
		t.stable[m] = true
	}
	t.marks++
	return set
}

// reaches reports whether a flight reaches collector name in the total order without
// being sent again: ordered (by the marker numbered mark) with a set naming a member of
// it that joined before that marker, or not ordered yet (it is ordered after the last
// marker that came back) while a member of it has been present since then.
func (t *tracker) reaches(name string, ordered bool, set ackSet, mark uint64) bool {
	for m, n := range t.members {
		if n != name {
			continue
		}
		if ordered && slices.Contains(set, m) && t.since[m] < mark {
			return true
		}
		if !ordered && t.stable[m] {
			return true
		}
	}
	return false
}

// written reports whether a flight [off, end) of stream, ordered with set, may leave the
// window: every member of set still present has reported a range holding it. A member
// that left no longer counts (its checkpoint waits for it instead); a member that has
// not reported yet, or is stalled, holds the flight.
func (t *tracker) written(set ackSet, stream, off, end uint64) bool {
	for _, m := range set {
		name, ok := t.members[m]
		if !ok {
			continue
		}
		if name == "" {
			return false
		}
		c := t.byName[name]
		if c.stalled {
			return false
		}
		if e, ok := c.cursor[stream]; !ok || e < end || c.from[stream] > off {
			return false
		}
	}
	return true
}

// limit returns how far the checkpoint of stream, standing at low, may advance: the
// lowest written end over the collectors waited for (see have: one whose range starts
// above low holds it at low). A waited-for collector that never reported the stream
// holds it at its start when it is required or absent (it may lack all of it); a
// present one that never reported it joined after it began and is not owed its start.
func (t *tracker) limit(stream, low uint64) uint64 {
	lim := uint64(math.MaxUint64)
	if o, ok := t.anon[stream]; ok {
		lim = o
	}
	for _, c := range t.byName {
		if !c.waited() {
			continue
		}
		e, ok := c.have(stream, low)
		switch {
		case ok:
			lim = min(lim, e)
		case c.required || !c.present():
			return 0
		}
	}
	return lim
}

// raiseLoaded raises to ck, the checkpoint a source resumed stream from, the cursors
// loaded from CursorsFile below it, of collectors waited for, that no report of this
// run confirmed: the checkpoint passed only what every collector waited for had
// written, so the file, saved apart from it, is older. A collector that stopped cleanly
// or timed out may lack what lies below: its cursor is kept. Its next report says
// where it stands either way.
func (t *tracker) raiseLoaded(stream, ck uint64) {
	for _, c := range t.byName {
		if e, ok := c.cursor[stream]; ok && c.loaded[stream] && e < ck && c.from[stream] == 0 && c.waited() {
			c.cursor[stream], c.changed = ck, true
		}
	}
}

// expire ends the wait for collectors absent longer than the absent timeout; it
// returns them. The caller accounts what they lack.
func (t *tracker) expire(now time.Time) []*collectorState {
	var out []*collectorState
	if t.anon != nil && !t.anonLeft.IsZero() && now.Sub(t.anonLeft) >= t.absentTimeout {
		out = append(out, &collectorState{name: "", cursor: t.anon})
		t.anon = nil
	}
	for _, c := range t.byName {
		if c.present() || c.required || c.final || c.timedOut || !c.seen || c.leftAt.IsZero() {
			continue
		}
		if now.Sub(c.leftAt) >= t.absentTimeout {
			c.timedOut = true
			c.changed = true
			t.emit(evTimedOut, c)
			out = append(out, c)
		}
	}
	return out
}

// nextExpiry returns when the next absent timeout ends (zero: none pending).
func (t *tracker) nextExpiry() time.Time {
	var next time.Time
	if t.anon != nil && !t.anonLeft.IsZero() {
		next = t.anonLeft.Add(t.absentTimeout)
	}
	for _, c := range t.byName {
		if c.present() || c.required || c.final || c.timedOut || !c.seen || c.leftAt.IsZero() {
			continue
		}
		if d := c.leftAt.Add(t.absentTimeout); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next
}

// takeEvents returns and clears the state changes.
func (t *tracker) takeEvents() []trackEvent {
	ev := t.events
	t.events = nil
	return ev
}
