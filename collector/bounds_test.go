package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// boundSet is a writer set of one plain log ("www" to www.log) on an injected clock,
// fed messages as the collector's writer goroutine is.
type boundSet struct {
	t   *testing.T
	cfg Config
	now time.Time
	reg *prometheus.Registry
	w   *writerSet
}

func newBoundSet(t *testing.T, mod func(*Config)) *boundSet {
	t.Helper()
	b := &boundSet{t: t, now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.Logs = []LogConfig{{Group: "www", Template: "www.log"}}
	cfg.Compression = segment.CompressNone
	cfg.Now = func() time.Time { return b.now }
	cfg.DrainTimeout = time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	b.cfg = cfg
	b.open()
	t.Cleanup(func() {
		if b.w != nil {
			b.w.abandon()
			b.w.release()
		}
	})
	return b
}

// open starts a writer set on the directories, as a (re)started collector does.
func (b *boundSet) open() {
	b.t.Helper()
	b.reg = prometheus.NewRegistry()
	c, err := New(b.cfg, nil, b.reg)
	if err != nil {
		b.t.Fatal(err)
	}
	if b.w, err = c.newWriterSet(); err != nil {
		b.t.Fatal(err)
	}
}

// restart stops the writer set cleanly and starts another on the same directories.
func (b *boundSet) restart() {
	b.t.Helper()
	if err := b.w.finish(); err != nil {
		b.t.Fatal(err)
	}
	b.w.release()
	b.open()
}

func (b *boundSet) feed(data []byte) {
	b.t.Helper()
	it := newItem()
	it.kind, it.messType, it.logs = itemData, envelope.MessTypeBatch, []int{0}
	it.data = append(it.data[:0], data...)
	if err := b.w.handle(b.t.Context(), it); err != nil {
		b.t.Fatal(err)
	}
}

func (b *boundSet) flush() {
	b.t.Helper()
	if err := b.w.flushAll(); err != nil {
		b.t.Fatal(err)
	}
}

// tick is the flush tick after d: a flush, then expiry.
func (b *boundSet) tick(d time.Duration) {
	b.t.Helper()
	b.now = b.now.Add(d)
	b.flush()
	b.w.expireStreams()
}

func (b *boundSet) log() string {
	b.t.Helper()
	s, err := os.ReadFile(filepath.Join(b.cfg.Dir, "www.log"))
	if err != nil {
		b.t.Fatal(err)
	}
	return string(s)
}

func (b *boundSet) limit(name string) int {
	return int(testutil.ToFloat64(b.w.m.LimitReached.WithLabelValues(name)))
}

// An idle stream expires: its hole is a counted gap and a record of its span stays,
// in memory and in the state file across a restart; when the stream comes back, its
// resent lines are duplicates (never written twice) and new lines are written.
func TestStreamExpiry(t *testing.T) {
	b := newBoundSet(t, func(c *Config) { c.StreamExpiry = time.Hour })
	b.feed(batch(1, 0, "a1\na2\n"))
	b.feed(batch(1, 100, "a3\n")) // a hole [6, 100)
	b.feed(batch(2, 0, "b1\n"))
	b.tick(59 * time.Minute)
	b.feed(batch(2, 3, "b2\n")) // stream 2 stays active
	b.tick(2 * time.Minute)
	if b.w.seq.Len() != 1 {
		t.Fatalf("streams kept %d, want 1 (stream 1 idle past the expiry)", b.w.seq.Len())
	}
	st := b.w.seq.Stats()
	if st.ExpiredStreams != 1 || st.ExpiredGapBytes != 94 || st.Gaps != 1 {
		t.Errorf("stats %+v: want 1 expired stream, its 94-byte hole one gap", st)
	}
	if got := b.limit(LimitStreamExpiry); got != 1 {
		t.Errorf("limit_reached{stream_expiry} = %d, want 1", got)
	}
	want := map[uint64]StreamState{1: {Base: 0, Written: []Span{{0, 103}}}}
	if diff := cmp.Diff(want, b.w.seq.Expired()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if _, ok := b.w.committed[1]; ok {
		t.Error("the expired stream is still in the state's streams")
	}
	if _, ok := b.w.progress.ends[1]; ok {
		t.Error("the expired stream is still reported in progress")
	}
	b.restart()
	if diff := cmp.Diff(want, b.w.seq.Expired()); diff != "" {
		t.Errorf("records after a restart (-want +got):\n%s", diff)
	}
	// The stream comes back with a resend from an old checkpoint, then new lines.
	b.feed(batch(1, 0, "a1\na2\n"))
	b.feed(batch(1, 50, "hole\n")) // in the hole counted as a gap: a duplicate, not written
	b.feed(batch(1, 103, "a4\n"))
	b.flush()
	if got, want := b.log(), "a1\na2\na3\nb1\nb2\na4\n"; got != want {
		t.Errorf("log %q, want %q (every line once)", got, want)
	}
	st = b.w.seq.Stats()
	if st.ReturnedStreams != 1 || st.Duplicates != 3 {
		t.Errorf("stats %+v: want 1 returned stream and 3 duplicates", st)
	}
	if end := b.w.committed[1].End(); end != 106 {
		t.Errorf("returned stream's committed end %d, want 106", end)
	}
	if len(b.w.seq.Expired()) != 0 {
		t.Errorf("records %v after the stream came back, want none", b.w.seq.Expired())
	}
}

// Beyond max_streams the least recently active stream whose lines are all written
// expires; its record is kept, and records beyond max_streams are forgotten (counted).
// A stream with lines not yet in a frame never expires.
func TestMaxStreams(t *testing.T) {
	b := newBoundSet(t, func(c *Config) { c.MaxStreams = 2 })
	for id := uint64(1); id <= 3; id++ {
		b.feed(batch(id, 0, "x\n"))
		b.flush()
	}
	if b.w.seq.Len() != 2 || b.limit(LimitMaxStreams) != 1 {
		t.Fatalf("streams %d, limit_reached{max_streams} %d: want 2 and 1", b.w.seq.Len(), b.limit(LimitMaxStreams))
	}
	if _, ok := b.w.seq.Expired()[1]; !ok {
		t.Fatalf("records %v: want stream 1, the least recently active", b.w.seq.Expired())
	}
	// Streams 4 and 5 unflushed: 2 and 3 are written, so they go.
	b.feed(batch(4, 0, "x\n"))
	b.feed(batch(5, 0, "x\n"))
	if b.w.seq.Len() != 2 {
		t.Fatalf("streams kept %d, want 2", b.w.seq.Len())
	}
	// Stream 6: 4 and 5 have lines in flight, so none can go yet.
	b.feed(batch(6, 0, "x\n"))
	if b.w.seq.Len() != 3 {
		t.Fatalf("streams kept %d, want 3 (no stream with lines in flight expires)", b.w.seq.Len())
	}
	b.tick(time.Second)
	if b.w.seq.Len() != 2 {
		t.Fatalf("streams kept %d after the flush, want 2", b.w.seq.Len())
	}
	st := b.w.seq.Stats()
	if st.ExpiredStreams != 4 || st.ForgottenStreams != 2 || len(b.w.seq.Expired()) != 2 {
		t.Errorf("stats %+v, records %v: want 4 expired, 2 records forgotten, 2 kept", st, b.w.seq.Expired())
	}
	if got := strings.Count(b.log(), "x\n"); got != 6 {
		t.Errorf("%d lines written, want 6", got)
	}
	// A restart with a lower bound expires the excess at once.
	b.cfg.MaxStreams = 1
	b.restart()
	if b.w.seq.Len() != 1 || len(b.w.seq.Expired()) != 1 {
		t.Errorf("after a restart with max_streams 1: %d streams, %d records, want 1 and 1", b.w.seq.Len(), len(b.w.seq.Expired()))
	}
}

// The bytes of over-long lines being reassembled are bounded over every stream: the
// least recently active other stream's partial line is dropped (counted), the others
// go on.
func TestReassemblyBound(t *testing.T) {
	var now time.Time
	s := newTestSequencer(t, func(c *SequencerConfig) {
		c.MaxLine, c.ReassemblyBytes = 100, 150
		c.Now = func() time.Time { return now }
	})
	reg := prometheus.NewRegistry()
	var err error
	if s.m, err = NewSequencerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	p := func(b []byte) string {
		t.Helper()
		out, err := s.Process(nil, envelope.MessTypeBatch, b)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	long := strings.Repeat("a", 60)
	p(fragment(1, 0, long, envelope.FlagFirst, 0))
	p(fragment(2, 0, long, envelope.FlagFirst, 0))
	if s.pendBytes != 120 {
		t.Fatalf("pending bytes %d, want 120", s.pendBytes)
	}
	p(fragment(3, 0, long, envelope.FlagFirst, 0)) // 180 > 150: stream 1's line goes
	if s.pendBytes != 120 || s.streams[1].pendActive || !s.streams[2].pendActive {
		t.Fatalf("pending bytes %d, stream 1 pending %v: want 120, stream 1 dropped", s.pendBytes, s.streams[1].pendActive)
	}
	if got := p(fragment(2, 60, "b\n", envelope.FlagLast, 0)); got != long+"b\n" {
		t.Errorf("stream 2's line %q", got)
	}
	if got := p(fragment(1, 60, "b\n", envelope.FlagLast, 0)); got != "" {
		t.Errorf("stream 1's dropped line gave %q", got)
	}
	if got := testutil.ToFloat64(s.m.LimitReached.WithLabelValues(LimitReassemblySize)); got != 1 {
		t.Errorf("limit_reached{reassembly_size} = %v, want 1", got)
	}
	if s.pendBytes != 60 {
		t.Errorf("pending bytes %d, want 60 (stream 3)", s.pendBytes)
	}
	bad := SequencerConfig{MaxLine: 100, MaxBatch: 10, MaxStreams: 1, ReassemblyBytes: 99}
	if err := bad.Validate(); err == nil {
		t.Error("a reassembly bound below the line bound is valid")
	}
}

// The memory of logs without an open writer is bounded by max_logs (counted).
func TestMaxLogs(t *testing.T) {
	b := newBoundSet(t, func(c *Config) {
		c.Logs = []LogConfig{{Group: "www", Template: "{vhost}.log", Format: "vhost_combined"}}
		c.MaxLogs, c.MaxOpenWriters = 2, 1
	})
	for i, v := range []string{"a.example", "b.example", "c.example", "d.example"} {
		line := v + ":80 1.2.3.4 - - [30/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n"
		b.feed(batch(1, uint64(i*len(line)), line))
		b.flush()
	}
	if len(b.w.lasts) > 2 || len(b.w.segments) > 2 {
		t.Errorf("remembered %d lasts, %d segments, want at most 2", len(b.w.lasts), len(b.w.segments))
	}
	if b.limit(LimitMaxLogs) == 0 {
		t.Error("limit_reached{max_logs} not counted")
	}
}

func TestStateExpiredRoundTrip(t *testing.T) {
	s := State{
		Streams: map[uint64]StreamState{1: {Base: 0, Written: []Span{{0, 10}}}},
		Logs:    map[string]LogState{},
		Expired: map[uint64]StreamState{2: {Base: 5, Written: []Span{{0, 99}}}, 3: {Base: 7}},
	}
	b, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	bad := `{"version":3,"streams":{},"expired":{"0000000000000002":{"base":0,"written":[[0,5],[9,12]]}}}`
	if _, err := UnmarshalState([]byte(bad)); err == nil {
		t.Error("a record with two spans was read")
	}
}

// A stream both kept in full and expired in a state file (a crash's intent brought
// frames of it back) keeps what its record had: resent lines below its end are
// duplicates.
func TestStateExpiredAndKept(t *testing.T) {
	b := newBoundSet(t, nil)
	if err := b.w.finish(); err != nil {
		t.Fatal(err)
	}
	b.w.release()
	st := State{
		Streams: map[uint64]StreamState{1: {Base: 0, Written: []Span{{100, 103}}}},
		Logs:    map[string]LogState{},
		Expired: map[uint64]StreamState{1: {Base: 0, Written: []Span{{0, 100}}}},
	}
	if err := SaveState(filepath.Join(b.cfg.Dir, StateFileName), st); err != nil {
		t.Fatal(err)
	}
	b.open()
	b.feed(batch(1, 0, "a1\n"))
	b.feed(batch(1, 103, "a2\n"))
	b.flush()
	if got := b.log(); got != "a2\n" {
		t.Errorf("log %q, want only the new line", got)
	}
	if len(b.w.seq.Expired()) != 0 || b.w.committed[1].End() != 106 {
		t.Errorf("records %v, end %d: want none and 106", b.w.seq.Expired(), b.w.committed[1].End())
	}
}

// TestMaxLogsLeastRecentlyUsed: beyond --max-logs, the log written least recently is
// forgotten, not any: a log written in turn with fewer others than the bound keeps
// appending to its one segment (here: a, b, a, c, a, c, a with room for two).
func TestMaxLogsLeastRecentlyUsed(t *testing.T) {
	b := newBoundSet(t, func(c *Config) {
		c.Logs = []LogConfig{{Group: "www", Template: "{vhost}.log", Format: "vhost_combined"}}
		c.MaxLogs, c.MaxOpenWriters = 2, 1
	})
	var off uint64
	for _, v := range []string{"a", "b", "a", "c", "a", "c", "a"} {
		line := v + ".example:80 1.2.3.4 - - [30/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n"
		b.feed(batch(1, off, line))
		off += uint64(len(line))
		b.flush()
	}
	for v, want := range map[string]int{"a": 1, "c": 1} {
		names, err := filepath.Glob(filepath.Join(b.cfg.Dir, v+".example.log*"))
		if err != nil || len(names) != want {
			t.Errorf("%s: segments %v (%v), want %d", v, names, err, want)
		}
	}
	if _, ok := b.w.lasts["www/b.example"]; ok {
		t.Error("b, the least recently used log, is still remembered")
	}
}
