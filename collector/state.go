package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/atomicfile"
)

// StateVersion is the state file format version written by SaveState. Version 6
// added the sequence number of the last change the file holds ("seq"): the changes
// after it are in the journal beside it (see stateStore), which an older collector
// would not read, so it refuses the file as a newer version; version 5
// added the identity of each intent frame's segment ("dev", "ino"), so a recovery
// finds a segment logrotate renamed after its frame was written; version 4
// added the records of expired streams ("expired"), so that a collector that does not
// know them refuses the file as a newer version instead of as corrupt; version 3
// replaced the per-stream high-water mark by written ranges (holes a resend fills);
// version 2 added the write-ahead intent. LoadState still reads versions 5, 4, 3, 2 and 1.
const StateVersion = 6

// The older format versions LoadState reads.
const (
	stateVersion1 = 1 // streams ("next") and logs, no intent
	stateVersion2 = 2 // version 1 plus the intent
	stateVersion3 = 3 // ranges instead of high-water marks; no "expired"
	stateVersion4 = 4 // version 3 plus "expired"; no segment identities in the intent
	stateVersion5 = 5 // version 4 plus the segment identities; no "seq", no journal
)

// maxIntentSpans bounds the spans one frame lists per stream in the intent (see
// limitSpans).
const maxIntentSpans = 4096

// StreamState is what the collector remembers of one stream.
type StreamState struct {
	// Base is the logical offset at which this collector first had the stream.
	Base uint64 `json:"base"`
	// Written lists the spans of the stream that are in complete frames on disk or
	// were declared lost (a loss notice, or a hole beyond the hole limit): sorted,
	// disjoint, not adjacent. Lines starting in them are duplicates; the gaps between
	// them are holes that a resend fills.
	Written []Span `json:"written,omitempty"`
	// Groups are the configured groups the stream's batches arrived on: its progress
	// goes to their presence groups.
	Groups []string `json:"groups,omitempty"`
}

// End returns the end of the written span holding Base (Base when none holds it):
// every byte of [Base, End) is written or declared lost.
func (s StreamState) End() uint64 { return rangeSet(s.Written).endFrom(s.Base) }

// Front returns the lowest written span ({Base, Base} when none): what progress
// reports say this collector has of the stream (envelope.StreamProgress). Its From is
// above the stream's start when the collector first had the stream in its middle; the
// shipper knows whether it owes the bytes below.
func (s StreamState) Front() Span {
	if len(s.Written) == 0 {
		return Span{From: s.Base, To: s.Base}
	}
	return s.Written[0]
}

// LogState is what the collector remembers of one log (group or group+vhost).
type LogState struct {
	// Segment is the last segment written, relative to the output directory.
	Segment string `json:"segment,omitempty"`
}

// FrameSpans are the lines of one stream held by one frame of the intent: Spans
// exactly, and when the frame holds more than maxIntentSpans pieces of the stream, Rest
// covers the pieces beyond the first maxIntentSpans-1 (and what lies between them).
type FrameSpans struct {
	Spans []Span `json:"spans"`
	Rest  *Span  `json:"rest,omitempty"`
}

// FrameIntent is one frame about to be written: the segment (relative to the output
// directory) and its identity (device and inode; zero when unknown), its size before
// and after the frame, and per stream the lines it holds.
type FrameIntent struct {
	Segment string
	ID      segment.FileID
	Before  int64
	After   int64
	Streams map[uint64]FrameSpans
}

// State is the collector's durable state, saved before the frames of each flush are
// written and loaded at start.
type State struct {
	// Streams maps a stream id to its state: the spans written are in complete
	// frames on disk (not counting the frames of Intent).
	Streams map[uint64]StreamState
	// Logs maps a log name ("group" or "group/vhost") to its state.
	Logs map[string]LogState
	// Intent lists the frames being written when the state was saved (write-ahead):
	// at start, the frames found complete add their spans to Streams, torn ones are
	// cut off and their spans are holes again (see recoverIntent). Empty in a clean
	// state.
	Intent []FrameIntent
	// Expired holds the records of streams whose state expired (idle past the stream
	// expiry, or beyond the bound of streams): per stream its base and the one span
	// from the lowest offset it had to the highest (holes were counted as gaps). A
	// batch of such a stream starts again from its record, so nothing below its end is
	// written twice.
	Expired map[uint64]StreamState
}

// stateFile is the JSON form of version 3: stream ids as 16 hex digits (JSON numbers
// lose precision above 2^53).
type stateFile struct {
	Version int                    `json:"version"`
	Seq     uint64                 `json:"seq,omitempty"`
	Streams map[string]StreamState `json:"streams"`
	Logs    map[string]LogState    `json:"logs,omitempty"`
	Intent  []frameIntentFile      `json:"intent,omitempty"`
	Expired map[string]StreamState `json:"expired,omitempty"`
}

type frameIntentFile struct {
	Segment string                `json:"segment"`
	Dev     uint64                `json:"dev,omitempty"`
	Ino     uint64                `json:"ino,omitempty"`
	Before  int64                 `json:"before"`
	After   int64                 `json:"after"`
	Streams map[string]FrameSpans `json:"streams,omitempty"`
}

// stateFileV2 is the JSON form of versions 1 and 2: a high-water mark per stream.
type stateFileV2 struct {
	Version int `json:"version"`
	Streams map[string]struct {
		Next uint64 `json:"next"`
	} `json:"streams"`
	Logs   map[string]LogState `json:"logs,omitempty"`
	Intent []struct {
		Segment string `json:"segment"`
		Before  int64  `json:"before"`
		After   int64  `json:"after"`
		Streams map[string]struct {
			First uint64 `json:"first"`
			End   uint64 `json:"end"`
			Bytes uint64 `json:"bytes"`
		} `json:"streams,omitempty"`
	} `json:"intent,omitempty"`
}

func streamKey(id uint64) string { return fmt.Sprintf("%016x", id) }

func parseStreamKey(k string) (uint64, error) {
	if len(k) != 16 {
		return 0, fmt.Errorf("%w: stream id %q is not 16 hex digits", ErrCorruptState, k)
	}
	id, err := strconv.ParseUint(k, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stream id %q: %w", ErrCorruptState, k, err)
	}
	return id, nil
}

// MarshalState encodes s in the version 5 format:
//
//	{"version":5,
//	 "streams":{"00000000000000ab":{"base":0,"written":[[0,1234],[2000,2400]],"groups":["www"]}},
//	 "logs":{"www":{"segment":"www-….zst"}},
//	 "intent":[{"segment":"www-….zst","dev":2049,"ino":1837,"before":0,"after":812,
//	            "streams":{"00000000000000ab":{"spans":[[1234,1800]]}}}],
//	 "expired":{"00000000000000cd":{"base":0,"written":[[0,5000]]}}}
//
// Stream ids are 16 lower-case hex digits; output is deterministic (sorted keys,
// intent in the given order). "intent" and "expired" are omitted when empty.
func MarshalState(s State) ([]byte, error) { return marshalState(s, 0) }

// marshalState encodes s as a snapshot holding the changes up to seq (0: omitted).
func marshalState(s State, seq uint64) ([]byte, error) {
	f := stateFile{Version: StateVersion, Seq: seq, Streams: make(map[string]StreamState, len(s.Streams)), Logs: s.Logs}
	for id, st := range s.Streams {
		f.Streams[streamKey(id)] = st
	}
	if len(s.Expired) > 0 {
		f.Expired = make(map[string]StreamState, len(s.Expired))
		for id, st := range s.Expired {
			f.Expired[streamKey(id)] = st
		}
	}
	f.Intent = intentFile(s.Intent)
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return nil, err
	}
	// One span per line: [from, to].
	return append(compactSpans(b), '\n'), nil
}

// intentFile returns the file form of an intent.
func intentFile(intent []FrameIntent) []frameIntentFile {
	var out []frameIntentFile
	for _, fi := range intent {
		ff := frameIntentFile{Segment: fi.Segment, Dev: fi.ID.Dev, Ino: fi.ID.Ino, Before: fi.Before, After: fi.After}
		if len(fi.Streams) > 0 {
			ff.Streams = make(map[string]FrameSpans, len(fi.Streams))
			for id, r := range fi.Streams {
				ff.Streams[streamKey(id)] = r
			}
		}
		out = append(out, ff)
	}
	return out
}

// compactSpans rewrites, in place, every span as json.MarshalIndent lays it out over
// four lines ("[\n\t\tFROM,\n\t\tTO\n\t]") as "[FROM, TO]". A hand-written scan: a
// regular expression cost about half of a state save, which runs at every flush.
func compactSpans(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		if b[i] == '[' {
			if from, to, end, ok := indentedSpanAt(b, i); ok {
				out = append(out, '[')
				out = append(out, from...)
				out = append(out, ", "...)
				out = append(out, to...)
				out = append(out, ']')
				i = end
				continue
			}
		}
		out = append(out, b[i])
		i++
	}
	return out
}

// indentedSpanAt matches "[\n\t+DIGITS,\n\t+DIGITS\n\t+]" at b[i:], returning the two
// numbers and the index after the ']'. The output never gets ahead of the input: it
// writes at most as many bytes as it consumed.
func indentedSpanAt(b []byte, i int) (from, to []byte, end int, ok bool) {
	p := i + 1
	newlineTabs := func() bool {
		if p >= len(b) || b[p] != '\n' {
			return false
		}
		p++
		n := p
		for p < len(b) && b[p] == '\t' {
			p++
		}
		return p > n
	}
	digits := func() []byte {
		n := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		return b[n:p]
	}
	if !newlineTabs() {
		return nil, nil, 0, false
	}
	if from = digits(); len(from) == 0 || p >= len(b) || b[p] != ',' {
		return nil, nil, 0, false
	}
	p++
	if !newlineTabs() {
		return nil, nil, 0, false
	}
	if to = digits(); len(to) == 0 || !newlineTabs() || p >= len(b) || b[p] != ']' {
		return nil, nil, 0, false
	}
	return from, to, p + 1, true
}

// decodeStrict decodes b into v, refusing unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrCorruptState)
	}
	return nil
}

// UnmarshalState decodes a state file written by MarshalState, version 5, 4, 3, 2 or 1.
// A version 1 or 2 stream with high-water mark N becomes base 0 and the written span
// [0, N); a version 2 intent's per-stream range [first, end) becomes one span.
// Unknown fields (an intent in a version 1 file too), trailing data, bad stream ids,
// unsorted or overlapping spans, an inconsistent intent and truncated input are errors
// wrapping ErrCorruptState; another version is ErrStateVersion.
func UnmarshalState(b []byte) (State, error) {
	s, _, err := unmarshalState(b)
	return s, err
}

// unmarshalState decodes a snapshot and returns the sequence number of the last change
// it holds (0 before version 6).
func unmarshalState(b []byte) (State, uint64, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return State{}, 0, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	var f stateFile
	switch v.Version {
	case StateVersion, stateVersion5, stateVersion4, stateVersion3:
		if err := decodeStrict(b, &f); err != nil {
			return State{}, 0, err
		}
		if v.Version < StateVersion && f.Seq != 0 {
			return State{}, 0, fmt.Errorf("%w: seq in a version %d state", ErrCorruptState, v.Version)
		}
		if v.Version < stateVersion5 {
			for _, ff := range f.Intent {
				if ff.Dev != 0 || ff.Ino != 0 {
					return State{}, 0, fmt.Errorf("%w: segment identity in a version %d state", ErrCorruptState, v.Version)
				}
			}
		}
	case stateVersion1, stateVersion2:
		var err error
		if f, err = upgradeV2(b); err != nil {
			return State{}, 0, err
		}
	case 0:
		return State{}, 0, fmt.Errorf("%w: no version", ErrCorruptState)
	default:
		return State{}, 0, fmt.Errorf("%w: %d", ErrStateVersion, v.Version)
	}
	if f.Streams == nil {
		return State{}, 0, fmt.Errorf("%w: no streams", ErrCorruptState)
	}
	s := State{Streams: make(map[uint64]StreamState, len(f.Streams)), Logs: f.Logs}
	for k, st := range f.Streams {
		id, err := parseStreamKey(k)
		if err != nil {
			return State{}, 0, err
		}
		if !validRangeSet(st.Written) {
			return State{}, 0, fmt.Errorf("%w: stream %s: written spans not sorted and disjoint", ErrCorruptState, k)
		}
		s.Streams[id] = st
	}
	for k, st := range f.Expired {
		id, err := parseStreamKey(k)
		if err != nil {
			return State{}, 0, err
		}
		if len(st.Written) > 1 || !validRangeSet(st.Written) || len(st.Groups) > 0 {
			return State{}, 0, fmt.Errorf("%w: expired stream %s: want a base and at most one written span", ErrCorruptState, k)
		}
		if s.Expired == nil {
			s.Expired = make(map[uint64]StreamState, len(f.Expired))
		}
		s.Expired[id] = st
	}
	intent, err := decodeIntent(f.Intent)
	if err != nil {
		return State{}, 0, err
	}
	s.Intent = intent
	if s.Logs == nil {
		s.Logs = map[string]LogState{}
	}
	return s, f.Seq, nil
}

// decodeIntent checks and decodes the file form of an intent.
func decodeIntent(fis []frameIntentFile) ([]FrameIntent, error) {
	var intent []FrameIntent
	seen := make(map[string]bool, len(fis))
	for i, ff := range fis {
		switch {
		case ff.Segment == "":
			return nil, fmt.Errorf("%w: intent %d names no segment", ErrCorruptState, i)
		case seen[ff.Segment]:
			return nil, fmt.Errorf("%w: intent names segment %q twice", ErrCorruptState, ff.Segment)
		case ff.Before < 0 || ff.After <= ff.Before:
			return nil, fmt.Errorf("%w: intent for %q: sizes %d..%d", ErrCorruptState, ff.Segment, ff.Before, ff.After)
		}
		seen[ff.Segment] = true
		fi := FrameIntent{Segment: ff.Segment, ID: segment.FileID{Dev: ff.Dev, Ino: ff.Ino}, Before: ff.Before, After: ff.After}
		if len(ff.Streams) > 0 {
			fi.Streams = make(map[uint64]FrameSpans, len(ff.Streams))
			for k, r := range ff.Streams {
				id, err := parseStreamKey(k)
				if err != nil {
					return nil, err
				}
				if !validRangeSet(r.Spans) || (r.Rest != nil && (len(r.Spans) == 0 || r.Rest.From <= r.Spans[len(r.Spans)-1].To)) {
					return nil, fmt.Errorf("%w: intent for %q: stream %s: spans not sorted and disjoint", ErrCorruptState, ff.Segment, k)
				}
				fi.Streams[id] = r
			}
		}
		intent = append(intent, fi)
	}
	return intent, nil
}

// upgradeV2 decodes a version 1 or 2 state into the version 3 form.
func upgradeV2(b []byte) (stateFile, error) {
	var o stateFileV2
	if err := decodeStrict(b, &o); err != nil {
		return stateFile{}, err
	}
	if o.Version == stateVersion1 && o.Intent != nil {
		return stateFile{}, fmt.Errorf("%w: intent in a version 1 state", ErrCorruptState)
	}
	f := stateFile{Version: StateVersion, Logs: o.Logs}
	if o.Streams != nil {
		f.Streams = make(map[string]StreamState, len(o.Streams))
		for k, st := range o.Streams {
			var ss StreamState
			if st.Next > 0 {
				ss.Written = []Span{{0, st.Next}}
			}
			f.Streams[k] = ss
		}
	}
	for _, oi := range o.Intent {
		fi := frameIntentFile{Segment: oi.Segment, Before: oi.Before, After: oi.After}
		for k, r := range oi.Streams {
			if r.End < r.First || r.Bytes > r.End-r.First {
				return stateFile{}, fmt.Errorf("%w: intent for %q: stream %s range %d..%d", ErrCorruptState, oi.Segment, k, r.First, r.End)
			}
			if fi.Streams == nil {
				fi.Streams = make(map[string]FrameSpans)
			}
			var fs FrameSpans
			if r.End > r.First {
				fs.Spans = []Span{{r.First, r.End}}
			}
			fi.Streams[k] = fs
		}
		f.Intent = append(f.Intent, fi)
	}
	return f, nil
}

// LoadState reads the state at path: the snapshot, and the records of its journal
// (path + JournalSuffix) after it. A missing snapshot is an empty state (first start),
// not an error; an unreadable or corrupt one is an error naming the file: the
// collector does not silently reset its de-duplication state. A torn last journal
// record (a crash while it was appended) is not applied.
func LoadState(path string) (State, error) {
	s, _, _, err := loadState(path)
	return s, err
}

// SaveState writes s to path as a snapshot, atomically: a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory is fsynced,
// so after a crash path holds either the old or the new state, complete. The journal
// beside it, whose changes the new snapshot supersedes, is removed.
func SaveState(path string, s State) error {
	_, seq, _, err := loadState(path)
	if err != nil {
		seq = 0 // replaced: its journal is removed below
	}
	b, err := marshalState(s, seq+1)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o640); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Remove(journalPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save state: remove the journal: %w", err)
	}
	return nil
}

// mergeExpired folds the record of an expired stream that is also kept in full (the
// intent of a crash brought its frames back, or the file was edited) into the
// stream's written spans, so that what the record had stays had.
func (s *State) mergeExpired() {
	for id, rec := range s.Expired {
		ss, ok := s.Streams[id]
		if !ok {
			continue
		}
		r := rangeSet(slices.Clone(ss.Written))
		r.addAll(rec.Written)
		ss.Written = r
		s.Streams[id] = ss
		delete(s.Expired, id)
	}
}
