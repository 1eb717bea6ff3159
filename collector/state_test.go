package collector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/collector/segment"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.state")
	s, err := LoadState(path)
	if err != nil {
		t.Fatalf("missing state file: %v", err)
	}
	if len(s.Streams) != 0 {
		t.Fatalf("missing state file gave %v", s)
	}
	s.Streams[0xab] = StreamState{Base: 5, Written: []Span{{0, 1234}, {2000, 2100}}, Groups: []string{"www"}}
	s.Streams[^uint64(0)] = StreamState{Base: ^uint64(0) - 10, Written: []Span{{^uint64(0) - 10, ^uint64(0) - 1}}} // above 2^53
	s.Logs["www"] = LogState{Segment: "www-20260102.log.zst"}
	if err := SaveState(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	// Saving again replaces the file and leaves no temporary files behind.
	s.Streams[0xab] = ss(0, 9999)
	if err := SaveState(path, s); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file", len(entries))
	}
	got, _ = LoadState(path)
	if got.Streams[0xab].End() != 9999 {
		t.Errorf("second save not visible: %v", got.Streams)
	}
}

func TestStateGolden(t *testing.T) {
	s := State{
		Streams: map[uint64]StreamState{
			1:    {Base: 0, Written: []Span{{0, 10}, {40, 55}}, Groups: []string{"www"}},
			0xff: {Base: 7, Written: []Span{{7, 20}}, Groups: []string{"api", "www"}},
			0x10: {Base: 300},
		},
		Expired: map[uint64]StreamState{0x20: {Base: 5, Written: []Span{{5, 900}}}},
		Logs:    map[string]LogState{"www": {Segment: "www.log.zst"}},
		Intent: []FrameIntent{
			{Segment: "www.log.zst", ID: segment.FileID{Dev: 2049, Ino: 1837}, Before: 100, After: 180, Streams: map[uint64]FrameSpans{
				1:    {Spans: []Span{{10, 25}, {30, 40}}},
				0x10: {Spans: []Span{{300, 310}}, Rest: &Span{320, 400}},
			}},
			{Segment: "www/a.log.zst", Before: 0, After: 50},
		},
	}
	b, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "state_v6.golden", b)
	got, err := UnmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("v6 round trip (-want +got):\n%s", diff)
	}
	// A clean state has no "intent" key, and no "expired" key when no stream expired.
	b, err = MarshalState(State{Streams: s.Streams})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "intent") || !strings.Contains(string(b), `"version": 6`) || strings.Contains(string(b), "expired") {
		t.Errorf("clean state:\n%s", b)
	}
}

// TestStateV5 reads a state file written by version 5 (no sequence number, no
// journal); a sequence number in a version 5 file is refused as corrupt.
func TestStateV5(t *testing.T) {
	s, err := LoadState("testdata/state_v5.golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Streams) != 3 || len(s.Intent) != 2 || len(s.Expired) != 1 || !s.Intent[0].ID.Known() {
		t.Errorf("v5 state: %+v", s)
	}
	_, err = UnmarshalState([]byte(`{"version":5,"seq":3,"streams":{}}`))
	if !errors.Is(err, ErrCorruptState) {
		t.Errorf("seq in a version 5 state: err = %v, want corrupt", err)
	}
}

// TestStateV4 reads a state file written by version 4 (no segment identities in the
// intent); identities in a version 4 file are refused as corrupt.
func TestStateV4(t *testing.T) {
	s, err := LoadState("testdata/state_v4.golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Streams) != 3 || len(s.Intent) != 2 || len(s.Expired) != 1 || s.Intent[0].ID.Known() {
		t.Errorf("v4 state: %+v", s)
	}
	_, err = UnmarshalState([]byte(`{"version":4,"streams":{},"intent":[{"segment":"a","dev":1,"ino":2,"before":0,"after":5}]}`))
	if !errors.Is(err, ErrCorruptState) {
		t.Errorf("identity in a version 4 state: err = %v, want corrupt", err)
	}
}

// TestStateV3 reads a state file written by version 3 (ranges, no expired records).
func TestStateV3(t *testing.T) {
	s, err := LoadState("testdata/state_v3.golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Streams) != 3 || len(s.Streams[1].Written) != 2 || len(s.Intent) != 2 || len(s.Expired) != 0 {
		t.Errorf("v3 state: %+v", s)
	}
}

// TestStateV1 reads a state file written by the first format version (no intent): a
// high-water mark N becomes base 0 and the written span [0, N).
func TestStateV1(t *testing.T) {
	s, err := LoadState("testdata/state_v1.golden")
	if err != nil {
		t.Fatal(err)
	}
	want := State{Streams: map[uint64]StreamState{1: ss(0, 10), 0xff: ss(0, 20)}, Logs: map[string]LogState{}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("v1 state (-want +got):\n%s", diff)
	}
}

// TestStateV2 reads a state file written by version 2 (high-water marks and an intent
// with one range per stream and frame).
func TestStateV2(t *testing.T) {
	s, err := LoadState("testdata/state_v2.golden")
	if err != nil {
		t.Fatal(err)
	}
	want := State{
		Streams: map[uint64]StreamState{1: ss(0, 10), 0xff: ss(0, 20)},
		Logs:    map[string]LogState{"www": {Segment: "www.log.zst"}},
		Intent: []FrameIntent{
			{Segment: "www.log.zst", Before: 100, After: 180, Streams: map[uint64]FrameSpans{1: fsp(10, 40)}},
			{Segment: "www/a.log.zst", Before: 0, After: 50},
		},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("v2 state (-want +got):\n%s", diff)
	}
}

func TestStateCorrupt(t *testing.T) {
	good, err := MarshalState(State{Streams: map[uint64]StreamState{7: ss(0, 70)}, Logs: map[string]LogState{"www": {Segment: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{name: "empty", in: "", want: ErrCorruptState},
		{name: "garbage", in: "\x00\x01garbage", want: ErrCorruptState},
		{name: "no version", in: `{"streams":{}}`, want: ErrCorruptState},
		{name: "future version", in: `{"version":7,"streams":{}}`, want: ErrStateVersion},
		{name: "v3 overlapping spans", in: `{"version":3,"streams":{"0000000000000007":{"base":0,"written":[[0,10],[5,20]]}}}`, want: ErrCorruptState},
		{name: "v3 adjacent spans", in: `{"version":3,"streams":{"0000000000000007":{"base":0,"written":[[0,10],[10,20]]}}}`, want: ErrCorruptState},
		{name: "v3 empty span", in: `{"version":3,"streams":{"0000000000000007":{"base":0,"written":[[5,5]]}}}`, want: ErrCorruptState},
		{name: "v3 span of three", in: `{"version":3,"streams":{"0000000000000007":{"base":0,"written":[[1,2,3]]}}}`, want: ErrCorruptState},
		{name: "v3 next field", in: `{"version":3,"streams":{"0000000000000007":{"next":5}}}`, want: ErrCorruptState},
		{name: "v3 intent rest below spans", in: `{"version":3,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"streams":{"0000000000000007":{"spans":[[5,9]],"rest":[1,3]}}}]}`, want: ErrCorruptState},
		{name: "v3 intent unsorted", in: `{"version":3,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"streams":{"0000000000000007":{"spans":[[5,9],[1,3]]}}}]}`, want: ErrCorruptState},
		{name: "v1 with intent", in: `{"version":1,"streams":{},"intent":[{"segment":"a","before":0,"after":1}]}`, want: ErrCorruptState},
		{name: "intent without segment", in: `{"version":2,"streams":{},"intent":[{"before":0,"after":1}]}`, want: ErrCorruptState},
		{name: "intent empty frame", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":5,"after":5}]}`, want: ErrCorruptState},
		{name: "intent negative size", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":-1,"after":5}]}`, want: ErrCorruptState},
		{name: "intent segment twice", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":0,"after":1},{"segment":"a","before":1,"after":2}]}`, want: ErrCorruptState},
		{name: "intent bad stream", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"streams":{"7":{"first":0,"end":1}}}]}`, want: ErrCorruptState},
		{name: "intent backward range", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"streams":{"0000000000000007":{"first":9,"end":1}}}]}`, want: ErrCorruptState},
		{name: "intent bytes above range", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"streams":{"0000000000000007":{"first":1,"end":9,"bytes":9}}}]}`, want: ErrCorruptState},
		{name: "intent unknown field", in: `{"version":2,"streams":{},"intent":[{"segment":"a","before":0,"after":1,"x":1}]}`, want: ErrCorruptState},
		{name: "no streams", in: `{"version":1}`, want: ErrCorruptState},
		{name: "bad id", in: `{"version":1,"streams":{"xyz":{"next":1}}}`, want: ErrCorruptState},
		{name: "short id", in: `{"version":1,"streams":{"7":{"next":1}}}`, want: ErrCorruptState},
		{name: "negative offset", in: `{"version":1,"streams":{"0000000000000007":{"next":-1}}}`, want: ErrCorruptState},
		{name: "unknown field", in: `{"version":1,"streams":{},"extra":1}`, want: ErrCorruptState},
		{name: "trailing data", in: string(good) + "{}", want: ErrCorruptState},
	}
	// Every truncation of a good file is corrupt.
	for i := range len(good) - 1 {
		if strings.TrimSpace(string(good[:i])) != strings.TrimSpace(string(good)) {
			tests = append(tests, struct {
				name string
				in   string
				want error
			}{name: "truncated", in: string(good[:i]), want: ErrCorruptState})
		}
	}
	dir := t.TempDir()
	for _, tc := range tests {
		path := filepath.Join(dir, "state")
		if err := os.WriteFile(path, []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadState(path)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s %q: err = %v, want %v", tc.name, tc.in, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

func TestSaveStateErrors(t *testing.T) {
	if err := SaveState(filepath.Join(t.TempDir(), "missing", "state"), State{}); err == nil {
		t.Error("SaveState into a missing directory succeeded")
	}
}

// TestCompactSpans: every span json.MarshalIndent lays out over four lines becomes
// "[from, to]"; other arrays and look-alikes stay as they are.
func TestCompactSpans(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"[\n\t\t1,\n\t\t2\n\t]", "[1, 2]"},
		{"{\"w\": [\n\t[\n\t\t0,\n\t\t18446744073709551615\n\t],\n\t[\n\t\t\t7,\n\t\t\t9\n\t\t]\n]}", "{\"w\": [\n\t[0, 18446744073709551615],\n\t[7, 9]\n]}"},
		{"[\n\t\t\"a\",\n\t\t\"b\"\n\t]", "[\n\t\t\"a\",\n\t\t\"b\"\n\t]"},
		{"[\n\t\t1,\n\t\t2,\n\t\t3\n\t]", "[\n\t\t1,\n\t\t2,\n\t\t3\n\t]"},
		{"[\n1,\n2\n]", "[\n1,\n2\n]"},
		{"[\n\t\t1,\n\t\t2", "[\n\t\t1,\n\t\t2"},
		{"[[[", "[[["},
	} {
		if got := string(compactSpans([]byte(c.in))); got != c.want {
			t.Errorf("compactSpans(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkMarshalState encodes the state of 100 streams with a few spans each, as a
// collector does at every flush cycle.
func BenchmarkMarshalState(b *testing.B) {
	s := State{Streams: make(map[uint64]StreamState)}
	for id := range uint64(100) {
		s.Streams[id+1] = StreamState{Base: id, Written: []Span{{0, 1 << 30}, {1<<30 + 10, 1 << 31}}, Groups: []string{"www"}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalState(s); err != nil {
			b.Fatal(err)
		}
	}
}
