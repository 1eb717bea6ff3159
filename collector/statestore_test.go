package collector

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/logspread/logspread/collector/segment"
)

// journalModel drives a stateStore as the writer set does: random changes to
// streams, logs, expired records and the intent, saved as journal records or
// snapshots, with the changed sets it tracks.
type journalModel struct {
	t       *testing.T
	rng     *rand.Rand
	path    string
	store   *stateStore
	st      State // what the last save made durable
	cur     State // the state now
	streams map[uint64]struct{}
	logs    map[string]struct{}
	expired map[uint64]struct{}
}

func cloneState(s State) State {
	c := State{Streams: maps.Clone(s.Streams), Logs: maps.Clone(s.Logs), Expired: maps.Clone(s.Expired), Intent: s.Intent}
	if c.Streams == nil {
		c.Streams = map[uint64]StreamState{}
	}
	if c.Logs == nil {
		c.Logs = map[string]LogState{}
	}
	return c
}

func (m *journalModel) change() {
	for range 1 + m.rng.IntN(12) {
		id := uint64(m.rng.IntN(300))
		switch m.rng.IntN(10) {
		case 0:
			delete(m.cur.Streams, id)
			m.streams[id] = struct{}{}
		case 1:
			if m.cur.Expired == nil {
				m.cur.Expired = map[uint64]StreamState{}
			}
			m.cur.Expired[id] = StreamState{Base: id, Written: []Span{{id, id + 1 + uint64(m.rng.IntN(1000))}}}
			m.expired[id] = struct{}{}
		case 2:
			delete(m.cur.Expired, id)
			m.expired[id] = struct{}{}
		case 3:
			name := fmt.Sprintf("www/v%d", id%40)
			if m.rng.IntN(3) == 0 {
				delete(m.cur.Logs, name)
			} else {
				m.cur.Logs[name] = LogState{Segment: fmt.Sprintf("www/v%d.log.%d.zst", id%40, m.rng.IntN(5))}
			}
			m.logs[name] = struct{}{}
		default:
			ss := m.cur.Streams[id]
			end := uint64(0)
			if n := len(ss.Written); n > 0 {
				end = ss.Written[n-1].To
			}
			r := rangeSet(append([]Span(nil), ss.Written...))
			r.addAll([]Span{{end + uint64(m.rng.IntN(3)), end + 10 + uint64(m.rng.IntN(5000))}})
			ss.Written, ss.Groups = r, []string{"www"}
			m.cur.Streams[id] = ss
			m.streams[id] = struct{}{}
		}
	}
	m.cur.Intent = nil
	if m.rng.IntN(2) == 0 {
		m.cur.Intent = []FrameIntent{{Segment: "www.log.zst", ID: segment.FileID{Dev: 1, Ino: uint64(m.rng.IntN(100) + 1)},
			Before: 10, After: 20 + int64(m.rng.IntN(100)), Streams: map[uint64]FrameSpans{7: fsp(0, 5)}}}
	}
}

// save saves the changes as the writer set does and returns whether it was a record.
func (m *journalModel) save() bool {
	m.t.Helper()
	var err error
	delta := !m.store.wantsFull()
	if delta {
		d := stateDelta{Intent: m.cur.Intent, Streams: map[uint64]*StreamState{}, Logs: map[string]*LogState{}, Expired: map[uint64]*StreamState{}}
		for id := range m.streams {
			if ss, ok := m.cur.Streams[id]; ok {
				d.Streams[id] = &ss
			} else {
				d.Streams[id] = nil
			}
		}
		for name := range m.logs {
			if ls, ok := m.cur.Logs[name]; ok {
				d.Logs[name] = &ls
			} else {
				d.Logs[name] = nil
			}
		}
		for id := range m.expired {
			if rec, ok := m.cur.Expired[id]; ok {
				d.Expired[id] = &rec
			} else {
				d.Expired[id] = nil
			}
		}
		err = m.store.saveDelta(d)
	} else {
		err = m.store.saveFull(m.cur)
	}
	if err != nil {
		m.t.Fatal(err)
	}
	clear(m.streams)
	clear(m.logs)
	clear(m.expired)
	m.st = cloneState(m.cur)
	return delta
}

func (m *journalModel) check(what string) {
	m.t.Helper()
	got, err := LoadState(m.path)
	if err != nil {
		m.t.Fatalf("%s: %v", what, err)
	}
	if diff := cmp.Diff(m.st, got, cmpopts.EquateEmpty()); diff != "" {
		m.t.Fatalf("%s: loaded state (-want +got):\n%s", what, diff)
	}
}

// TestStateJournal saves random changes as journal records and snapshots: after
// every save the state loaded (snapshot plus journal) is the state saved; a record
// torn at any byte (a crash while it was appended) loads as the state before it; a
// restart (a new store on the files) goes on from there; the journal stays within
// its bound (compaction).
func TestStateJournal(t *testing.T) {
	defer func(v int64) { minCompact = v }(minCompact)
	minCompact = 8 << 10 // compactions within a short run
	for seed := range uint64(1) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), StateFileName)
			store, st, err := openStateStore(path)
			if err != nil {
				t.Fatal(err)
			}
			m := &journalModel{t: t, rng: rand.New(rand.NewPCG(seed, 14)), path: path, store: store, st: st, cur: cloneState(st),
				streams: map[uint64]struct{}{}, logs: map[string]struct{}{}, expired: map[uint64]struct{}{}}
			defer func() { m.store.close() }()
			records, snapshots, restarts := 0, 0, 0
			for step := range 300 {
				before := m.st
				beforeJ, _ := os.ReadFile(path + JournalSuffix)
				m.change()
				if m.save() {
					records++
				} else {
					snapshots++
				}
				m.check(fmt.Sprintf("step %d", step))
				afterJ, _ := os.ReadFile(path + JournalSuffix)
				if fi, err := os.Stat(path); err == nil && int64(len(afterJ)) > max(minCompact, 2*fi.Size())+16<<10 {
					t.Fatalf("step %d: journal of %d bytes, snapshot %d: not compacted", step, len(afterJ), fi.Size())
				}
				if step%97 == 5 && len(afterJ) > len(beforeJ) && len(beforeJ) > 0 {
					// Tear the record just appended at a random byte: the state before it loads.
					cut := len(beforeJ) + m.rng.IntN(len(afterJ)-len(beforeJ))
					if err := os.WriteFile(path+JournalSuffix, afterJ[:cut], 0o640); err != nil {
						t.Fatal(err)
					}
					m.st = before
					m.check(fmt.Sprintf("step %d, record torn at byte %d of %d", step, cut-len(beforeJ), len(afterJ)-len(beforeJ)))
					// The restart goes on from the state before the torn record.
					m.store.close()
					if m.store, st, err = openStateStore(path); err != nil {
						t.Fatal(err)
					}
					m.cur = cloneState(st)
					restarts++
					clear(m.streams)
					clear(m.logs)
					clear(m.expired)
				}
			}
			if compactions := snapshots - restarts - 1; records < 10*snapshots || compactions < 2 {
				t.Errorf("%d journal records, %d snapshots (%d after a restart): want mostly records, and compactions", records, snapshots, restarts)
			}
		})
	}
}

// TestStateJournalVersions: a journal of an unknown version is refused as a newer
// version, anything else that is not a journal as corrupt; a journal whose header was
// torn at its creation holds no record.
func TestStateJournalVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	if err := SaveState(path, State{Streams: map[uint64]StreamState{1: ss(0, 10)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		journal string
		want    error
	}{
		{"logspread collector state journal v2\n", ErrStateVersion},
		{"something else entirely, of some length\n", ErrCorruptState},
		{"logspread coll", nil},
		{"", nil},
	} {
		if err := os.WriteFile(path+JournalSuffix, []byte(tc.journal), 0o640); err != nil {
			t.Fatal(err)
		}
		st, err := LoadState(path)
		if tc.want == nil && (err != nil || st.Streams[1].End() != 10) {
			t.Errorf("journal %q: %v, %v", tc.journal, st, err)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("journal %q: err = %v, want %v", tc.journal, err, tc.want)
		}
	}
}

// BenchmarkStateSave saves the state of 100 and 10,000 streams with 10 of them changed
// per save: "full" writes the whole state file at every save (SaveState, as every
// flush cycle did before the journal), "journal" appends a record of the 10 changed
// streams (stateStore, compacting into a snapshot when the journal outgrows it).
func BenchmarkStateSave(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		st := State{Streams: make(map[uint64]StreamState, n), Logs: map[string]LogState{"www": {Segment: "www.log.zst"}}}
		for id := range uint64(n) {
			st.Streams[id+1] = StreamState{Base: id, Written: []Span{{0, 1 << 30}, {1<<30 + 10, 1 << 31}}, Groups: []string{"www"}}
		}
		next := uint64(1 << 31)
		change := func(i int) map[uint64]*StreamState {
			d := make(map[uint64]*StreamState, 10)
			next += 100
			for k := range 10 {
				id := uint64((i*10+k)%n) + 1
				ss := st.Streams[id]
				ss.Written = []Span{{0, 1 << 30}, {1<<30 + 10, next}}
				st.Streams[id] = ss
				d[id] = &ss
			}
			return d
		}
		b.Run(fmt.Sprintf("streams=%d/full", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), StateFileName)
			i := 0
			for b.Loop() {
				change(i)
				i++
				if err := SaveState(path, st); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("streams=%d/journal", n), func(b *testing.B) {
			store, _, err := openStateStore(filepath.Join(b.TempDir(), StateFileName))
			if err != nil {
				b.Fatal(err)
			}
			defer store.close()
			if err := store.saveFull(st); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				d := change(i)
				i++
				if store.wantsFull() {
					err = store.saveFull(st)
				} else {
					err = store.saveDelta(stateDelta{Streams: d})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
