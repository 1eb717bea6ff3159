package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/logspread/logspread/internal/atomicfile"
)

// StateVersion is the state file format version written by SaveState. Version 2
// added the write-ahead intent; LoadState still reads version 1 files (no intent).
const StateVersion = 2

// stateVersion1 is the first format: streams and logs, no intent.
const stateVersion1 = 1

// StreamState is what the collector remembers of one stream.
type StreamState struct {
	// Next is the logical offset just past the last line written: lines ending at or
	// before it are duplicates.
	Next uint64 `json:"next"`
}

// LogState is what the collector remembers of one log (group or group+vhost).
type LogState struct {
	// Segment is the last segment written, relative to the output directory.
	Segment string `json:"segment,omitempty"`
}

// StreamRange is the part of one stream held by one frame: the logical offset of its
// first line, the offset just past its last line, and the bytes of its lines (less
// than End-First when other frames hold lines in between, as with one log per vhost).
type StreamRange struct {
	First uint64 `json:"first"`
	End   uint64 `json:"end"`
	Bytes uint64 `json:"bytes"`
}

// FrameIntent is one frame about to be written: the segment (relative to the output
// directory), its size before and after the frame, and per stream the lines it holds.
type FrameIntent struct {
	Segment string
	Before  int64
	After   int64
	Streams map[uint64]StreamRange
}

// State is the collector's durable state, saved before the frames of each flush are
// written and loaded at start.
type State struct {
	// Streams maps a stream id to its state: the lines covered are in complete
	// frames on disk (not counting the frames of Intent).
	Streams map[uint64]StreamState
	// Logs maps a log name ("group" or "group/vhost") to its state.
	Logs map[string]LogState
	// Intent lists the frames being written when the state was saved (write-ahead):
	// at start, the frames found complete advance Streams, torn ones are cut off (see
	// RecoverIntent). Empty in a clean state.
	Intent []FrameIntent
}

// stateFile is the JSON form: stream ids as 16 hex digits (JSON numbers lose
// precision above 2^53).
type stateFile struct {
	Version int                    `json:"version"`
	Streams map[string]StreamState `json:"streams"`
	Logs    map[string]LogState    `json:"logs,omitempty"`
	Intent  []frameIntentFile      `json:"intent,omitempty"`
}

type frameIntentFile struct {
	Segment string                 `json:"segment"`
	Before  int64                  `json:"before"`
	After   int64                  `json:"after"`
	Streams map[string]StreamRange `json:"streams,omitempty"`
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

// MarshalState encodes s in the version 2 format:
//
//	{"version":2,"streams":{"00000000000000ab":{"next":1234}},"logs":{"www":{"segment":"www-….zst"}},
//	 "intent":[{"segment":"www-….zst","before":0,"after":812,"streams":{"00000000000000ab":{"first":1234,"end":5678}}}]}
//
// Stream ids are 16 lower-case hex digits; output is deterministic (sorted keys,
// intent in the given order). "intent" is omitted when empty.
func MarshalState(s State) ([]byte, error) {
	f := stateFile{Version: StateVersion, Streams: make(map[string]StreamState, len(s.Streams)), Logs: s.Logs}
	for id, st := range s.Streams {
		f.Streams[streamKey(id)] = st
	}
	for _, fi := range s.Intent {
		ff := frameIntentFile{Segment: fi.Segment, Before: fi.Before, After: fi.After}
		if len(fi.Streams) > 0 {
			ff.Streams = make(map[string]StreamRange, len(fi.Streams))
			for id, r := range fi.Streams {
				ff.Streams[streamKey(id)] = r
			}
		}
		f.Intent = append(f.Intent, ff)
	}
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// UnmarshalState decodes a state file written by MarshalState, version 2 or 1.
// Unknown fields (an intent in a version 1 file too), trailing data, bad stream ids,
// an inconsistent intent and truncated input are errors wrapping ErrCorruptState;
// another version is ErrStateVersion.
func UnmarshalState(b []byte) (State, error) {
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return State{}, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	if dec.More() {
		return State{}, fmt.Errorf("%w: trailing data", ErrCorruptState)
	}
	switch f.Version {
	case StateVersion:
	case stateVersion1:
		if f.Intent != nil {
			return State{}, fmt.Errorf("%w: intent in a version 1 state", ErrCorruptState)
		}
	case 0:
		return State{}, fmt.Errorf("%w: no version", ErrCorruptState)
	default:
		return State{}, fmt.Errorf("%w: %d", ErrStateVersion, f.Version)
	}
	if f.Streams == nil {
		return State{}, fmt.Errorf("%w: no streams", ErrCorruptState)
	}
	s := State{Streams: make(map[uint64]StreamState, len(f.Streams)), Logs: f.Logs}
	for k, st := range f.Streams {
		id, err := parseStreamKey(k)
		if err != nil {
			return State{}, err
		}
		s.Streams[id] = st
	}
	seen := make(map[string]bool, len(f.Intent))
	for i, ff := range f.Intent {
		switch {
		case ff.Segment == "":
			return State{}, fmt.Errorf("%w: intent %d names no segment", ErrCorruptState, i)
		case seen[ff.Segment]:
			return State{}, fmt.Errorf("%w: intent names segment %q twice", ErrCorruptState, ff.Segment)
		case ff.Before < 0 || ff.After <= ff.Before:
			return State{}, fmt.Errorf("%w: intent for %q: sizes %d..%d", ErrCorruptState, ff.Segment, ff.Before, ff.After)
		}
		seen[ff.Segment] = true
		fi := FrameIntent{Segment: ff.Segment, Before: ff.Before, After: ff.After}
		if len(ff.Streams) > 0 {
			fi.Streams = make(map[uint64]StreamRange, len(ff.Streams))
			for k, r := range ff.Streams {
				id, err := parseStreamKey(k)
				if err != nil {
					return State{}, err
				}
				if r.End < r.First || r.Bytes > r.End-r.First {
					return State{}, fmt.Errorf("%w: intent for %q: stream %s range %d..%d", ErrCorruptState, ff.Segment, k, r.First, r.End)
				}
				fi.Streams[id] = r
			}
		}
		s.Intent = append(s.Intent, fi)
	}
	if s.Logs == nil {
		s.Logs = map[string]LogState{}
	}
	return s, nil
}

// LoadState reads the state file at path. A missing file is an empty state (first
// start), not an error; an unreadable or corrupt one is an error naming the file:
// the collector does not silently reset its de-duplication state.
func LoadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Streams: map[uint64]StreamState{}, Logs: map[string]LogState{}}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read state file: %w", err)
	}
	s, err := UnmarshalState(b)
	if err != nil {
		return State{}, fmt.Errorf("state file %s: %w", path, err)
	}
	return s, nil
}

// SaveState writes s to path atomically: a temporary file in the same directory is
// written and fsynced, renamed over path, and the directory is fsynced, so after a
// crash path holds either the old or the new state, complete.
func SaveState(path string, s State) error {
	b, err := MarshalState(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o640); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
