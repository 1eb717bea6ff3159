package shipper

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/logspread/logspread/formats/envelope"
)

// TestTrackerModel drives the tracker with random interleavings of membership changes,
// progress reports, stalls and marker returns, and checks it against a model kept
// independently: the set of a marker is exactly the collectors present for the whole
// interval since the previous marker (or the last restart); a flight is written exactly
// when every member of its set still present reported its end and is not stalled; the
// checkpoint limit never passes the cursor of a collector waited for.
func TestTrackerModel(t *testing.T) {
	const stream = 7
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		names := []string{"a", "b", "c"}
		required := map[string]bool{}
		if rng.IntN(2) == 0 {
			required["c"] = true
		}
		tr := newTracker(slices.Sorted(func(yield func(string) bool) {
			for n := range required {
				yield(n)
			}
		}), time.Minute)
		tr.track(stream)
		type member struct {
			name    string
			since   int // event index of its join
			named   bool
			stalled bool
		}
		present := map[string]*member{} // member -> state
		ends := map[string]uint64{}     // model cursor per name
		final := map[string]bool{}
		seen := map[string]bool{}
		gone := map[string]bool{} // left without Final (absent, waited)
		lastPoint := 0            // index of the last marker return or restart
		serial := 0
		now := time.Unix(1000, 0)
		type flight struct {
			set ackSet
			end uint64
		}
		var flights []flight
		var sent uint64
		members := func() []string {
			var ms []string
			for m := range present {
				ms = append(ms, m)
			}
			return ms
		}
		for i := 1; i < 400; i++ {
			switch op := rng.IntN(10); {
			case op == 0 && len(present) < 4: // join
				serial++
				n := names[rng.IntN(len(names))]
				m := fmt.Sprintf("#c%d#d", serial)
				present[m] = &member{name: n, since: i}
				tr.membership(members(), now)
			case op == 1 && len(present) > 0: // leave
				ms := slices.Sorted(func(yield func(string) bool) {
					for m := range present {
						yield(m)
					}
				})
				m := ms[rng.IntN(len(ms))]
				st := present[m]
				delete(present, m)
				tr.membership(members(), now)
				if st.named {
					others := false
					for _, o := range present {
						others = others || (o.named && o.name == st.name)
					}
					if !others && !final[st.name] {
						gone[st.name] = true
					}
				}
			case op == 2: // restart (a new generation after a moment without a collector)
				tr.restart()
				lastPoint = i
			case op <= 5: // a progress report from a present member
				if len(present) == 0 {
					continue
				}
				ms := members()
				slices.Sort(ms)
				m := ms[rng.IntN(len(ms))]
				st := present[m]
				p := &envelope.Progress{Name: st.name}
				if e := ends[st.name] + uint64(rng.IntN(3))*100; e <= sent || rng.IntN(4) == 0 {
					ends[st.name] = min(e, sent)
					p.Streams = []envelope.StreamProgress{{Stream: stream, End: ends[st.name]}}
				}
				st.stalled = rng.IntN(6) == 0
				if st.stalled {
					p.Flags, p.Reason = envelope.ProgressStalled, envelope.StallNoSpace
				}
				if rng.IntN(8) == 0 {
					p.Flags |= envelope.ProgressFinal
				}
				final[st.name] = p.Flags&envelope.ProgressFinal != 0
				st.named = true
				seen[st.name] = true
				delete(gone, st.name)
				for _, o := range present {
					if o.name == st.name {
						o.stalled = st.stalled
					}
				}
				tr.progress(m, p)
			default: // a marker comes back, ordering a new flight
				var want ackSet
				for m, st := range present {
					if st.since < lastPoint {
						want = append(want, m)
					}
				}
				slices.Sort(want)
				got := tr.markerBack()
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d event %d: marker set %v, model %v", seed, i, got, want)
				}
				lastPoint = i
				sent += 100
				flights = append(flights, flight{got, sent})
			}
			for _, f := range flights {
				want := true
				for _, m := range f.set {
					st, ok := present[m]
					if !ok {
						continue
					}
					if !st.named || st.stalled || !hasKey(tr.byName[st.name].cursor, stream) || ends[st.name] < f.end {
						want = false
					}
				}
				if got := tr.written(f.set, stream, f.end-100, f.end); got != want {
					t.Fatalf("seed %d event %d: written(%v, %d) = %v, model %v", seed, i, f.set, f.end, got, want)
				}
			}
			lim := tr.limit(stream, 0)
			for _, n := range names {
				c := tr.byName[n]
				isPresent := c != nil && c.present()
				waited := isPresent || required[n] || gone[n]
				if !waited {
					continue
				}
				e, ok := ends[n]
				if !ok || c == nil || !hasKey(c.cursor, stream) {
					if (required[n] || !isPresent) && lim != 0 {
						t.Fatalf("seed %d event %d: limit %d while %s (waited for) has no cursor", seed, i, lim, n)
					}
					continue
				}
				if lim > e {
					t.Fatalf("seed %d event %d: limit %d above the cursor %d of %s (waited for)", seed, i, lim, e, n)
				}
			}
		}
	}
}

// TestTrackerAbsentTimeout: a collector that left without a clean stop is waited for
// until the absent timeout, one that stopped cleanly is not, a required one always.
func TestTrackerAbsentTimeout(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker([]string{"req"}, time.Minute)
	tr.track(1)
	tr.membership([]string{"#c1#d", "#c2#d", "#c3#d", "#s1#d"}, t0)
	rep := func(m, name string, end uint64, flags envelope.ProgressFlags) {
		tr.progress(m, &envelope.Progress{Name: name, Flags: flags, Streams: []envelope.StreamProgress{{Stream: 1, End: end}}})
	}
	rep("#c1#d", "crash", 100, 0)
	rep("#c2#d", "clean", 50, 0)
	rep("#c3#d", "req", 300, 0)
	if got := tr.limit(1, 0); got != 50 {
		t.Fatalf("limit %d, want 50", got)
	}
	rep("#c2#d", "clean", 80, envelope.ProgressFinal)
	tr.membership([]string{"#c3#d"}, t0) // crash and clean leave, req stays
	if got := tr.limit(1, 0); got != 100 {
		t.Fatalf("limit %d, want 100 (the crashed collector)", got)
	}
	if exp := tr.expire(t0.Add(59 * time.Second)); len(exp) != 0 {
		t.Fatalf("expired early: %v", exp)
	}
	if next := tr.nextExpiry(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next expiry %v", next)
	}
	exp := tr.expire(t0.Add(time.Minute))
	if len(exp) != 1 || exp[0].name != "crash" {
		t.Fatalf("expired %v", exp)
	}
	if got := tr.limit(1, 0); got != 300 {
		t.Fatalf("limit %d, want 300 (the required collector)", got)
	}
	tr.membership(nil, t0)
	if got := tr.limit(1, 0); got != 300 {
		t.Fatalf("limit %d, want 300: a required collector is waited for without limit", got)
	}
	if exp := tr.expire(t0.Add(time.Hour)); len(exp) != 0 {
		t.Fatalf("required collector expired")
	}
	if got := tr.limit(2, 0); got != 0 {
		t.Fatalf("limit of a stream the required collector never reported: %d, want 0", got)
	}
	var kinds []trackKind
	for _, e := range tr.takeEvents() {
		kinds = append(kinds, e.kind)
	}
	slices.Sort(kinds) // departures in one membership come in no particular order
	want := []trackKind{evAppeared, evAppeared, evAppeared, evLeft, evAbsent, evAbsent, evTimedOut}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

// TestTrackerJoinedMidStream: a collector that first had a stream in its middle reports
// the range it has, [From, End). A required collector (or one that had the stream
// before and lost it) is owed what lies below From: it holds the checkpoint where it
// stands and is not taken to have written a flight below From, until it reports a range
// that starts at or below the checkpoint. A collector that is not required and first had
// the stream in its middle is owed only what came after it appeared. (A report of End
// alone made a collector that joined late, whose first report came after it wrote the
// batches in flight, look as if it had the whole stream: ship --require-collectors a,b
// ended with b lacking the start of the file.)
func TestTrackerJoinedMidStream(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker([]string{"b"}, time.Minute)
	tr.track(1)
	tr.membership([]string{"#c1#d", "#c2#d", "#c3#d"}, t0)
	rep := func(m, name string, from, end uint64) string {
		return tr.progress(m, &envelope.Progress{Name: name, Streams: []envelope.StreamProgress{{Stream: 1, From: from, End: end}}})
	}
	rep("#c1#d", "a", 0, 1000)
	if got := rep("#c2#d", "b", 600, 1000); got != "b" {
		t.Fatalf("b appeared as %q", got)
	}
	rep("#c3#d", "late", 600, 1000) // not required, new: owed from where it came in
	b, late := tr.byName["b"], tr.byName["late"]
	if e, ok := b.have(1, 0); !ok || e != 0 {
		t.Errorf("b has %d (%v), want 0: it lacks [0, 600)", e, ok)
	}
	if e, ok := late.have(1, 0); !ok || e != 1000 {
		t.Errorf("late has %d (%v), want 1000", e, ok)
	}
	if got := tr.limit(1, 0); got != 0 {
		t.Errorf("limit %d, want 0 (b lacks the stream's start)", got)
	}
	set := ackSet{"#c1#d", "#c2#d", "#c3#d"}
	if tr.written(set, 1, 500, 600) {
		t.Error("flight [500, 600) written, but b has the stream from 600 only")
	}
	if !tr.written(set, 1, 600, 1000) {
		t.Error("flight [600, 1000) not written, but every member has it")
	}
	// The checkpoint stands at 600 (no one else needs below it): b's range starts there.
	if got := tr.limit(1, 600); got != 1000 {
		t.Errorf("limit from 600: %d, want 1000", got)
	}
	// b fills the hole (a resend from the checkpoint): its range starts at 0.
	rep("#c2#d", "b", 0, 1200)
	if got := tr.limit(1, 0); got != 1000 {
		t.Errorf("limit %d, want 1000 (a)", got)
	}
	// late loses its state and comes back with a range above what it had: it is owed the
	// bytes in between.
	tr.membership([]string{"#c1#d", "#c2#d"}, t0)
	tr.membership([]string{"#c1#d", "#c2#d", "#c4#d"}, t0)
	rep("#c4#d", "late", 1500, 1600)
	if e, ok := late.have(1, 800); !ok || e != 800 {
		t.Errorf("late after losing its state has %d (%v), want 800 (the checkpoint)", e, ok)
	}
}

// TestTrackerUntrackedStreams: reports of streams the shipper does not track (other
// shippers', or its own before their first chunk) are kept apart and bounded; a stream
// tracked later takes its reports over (a hole between two reports included), and a
// forgotten stream leaves nothing in the cursors.
func TestTrackerUntrackedStreams(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker(nil, time.Minute)
	tr.membership([]string{"#c1#d"}, t0)
	rep := func(stream, from, end uint64) {
		tr.progress("#c1#d", &envelope.Progress{Name: "a", Streams: []envelope.StreamProgress{{Stream: stream, From: from, End: end}}})
	}
	for s := range uint64(3 * maxEarly) {
		rep(1000+s, 0, 10)
	}
	c := tr.byName["a"]
	if len(c.cursor) != 0 || len(c.early) > maxEarly {
		t.Fatalf("untracked reports: %d cursors, %d kept apart (bound %d)", len(c.cursor), len(c.early), maxEarly)
	}
	rep(1, 0, 100)
	rep(1, 150, 300) // it lacks [100, 150)
	tr.track(1)
	if e, ok := c.have(1, 0); !ok || e != 0 {
		t.Errorf("tracked after a hole: has %d (%v), want 0: it lacks [100, 150)", e, ok)
	}
	if lim := tr.limit(1, 120); lim != 120 {
		t.Errorf("limit from 120: %d, want 120", lim)
	}
	rep(1, 0, 400)
	if lim := tr.limit(1, 120); lim != 400 {
		t.Errorf("limit after a whole range: %d, want 400", lim)
	}
	tr.forget(1)
	if hasKey(c.cursor, 1) || tr.own[1] || !c.changed {
		t.Errorf("forgotten stream still has a cursor (%v) or is tracked (%v), or the cursors are not saved again (%v)", hasKey(c.cursor, 1), tr.own[1], c.changed)
	}
}

// TestTrackerReaches: a collector present since our join gets every flight not ordered
// yet and every flight ordered with a set naming it, so that its hello (which reports
// where it stood when it saw our join) asks for no copy; a member that joined later,
// or left and came back under the same private name, is not taken to have what was
// ordered before it joined.
func TestTrackerReaches(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker(nil, time.Minute)
	tr.track(1)
	tr.membership([]string{"#c1#d", "#s1#d"}, t0)
	tr.restart() // our join: a new interval at the current membership
	tr.progress("#c1#d", &envelope.Progress{Name: "a", Streams: []envelope.StreamProgress{{Stream: 1, End: 100}}})
	if !tr.reaches("a", false, nil, 0) {
		t.Fatal("a flight not ordered yet does not reach a collector present since our join")
	}
	set := tr.markerBack()
	mark := tr.marks
	if !slices.Contains(set, "#c1#d") || !tr.reaches("a", true, set, mark) {
		t.Fatalf("set %v, mark %d: an ordered flight does not reach a collector in its set", set, mark)
	}
	// A second member of another collector joins: not stable until the next marker.
	tr.membership([]string{"#c1#d", "#c2#d", "#s1#d"}, t0)
	tr.progress("#c2#d", &envelope.Progress{Name: "b", Streams: []envelope.StreamProgress{{Stream: 1, End: 0}}})
	if tr.reaches("b", false, nil, 0) || tr.reaches("b", true, set, mark) {
		t.Fatal("a collector that joined after the last marker is taken to get earlier flights")
	}
	set2 := tr.markerBack() // orders flights sent while b joined: b is not in the set
	if slices.Contains(set2, "#c2#d") || tr.reaches("b", true, set2, tr.marks) {
		t.Fatalf("set %v reaches b, which joined within its interval", set2)
	}
	set3 := tr.markerBack()
	if !tr.reaches("b", true, set3, tr.marks) || !tr.reaches("b", false, nil, 0) {
		t.Fatalf("set %v does not reach b, present for its whole interval", set3)
	}
	// a leaves and comes back under the same private name: the new incarnation does
	// not have what was ordered before.
	tr.membership([]string{"#c2#d", "#s1#d"}, t0)
	tr.membership([]string{"#c1#d", "#c2#d", "#s1#d"}, t0)
	tr.progress("#c1#d", &envelope.Progress{Name: "a", Streams: []envelope.StreamProgress{{Stream: 1, End: 100}}})
	if tr.reaches("a", true, set, mark) || tr.reaches("a", true, set3, tr.marks) || tr.reaches("a", false, nil, 0) {
		t.Fatal("a member that came back is taken to have what was ordered before it joined")
	}
}
