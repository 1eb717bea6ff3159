package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// StateVersion is the state file format version written by SaveState.
const StateVersion = 1

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

// State is the collector's durable state: saved after each durable flush, loaded at start.
type State struct {
	// Streams maps a stream id to its state.
	Streams map[uint64]StreamState
	// Logs maps a log name ("group" or "group/vhost") to its state.
	Logs map[string]LogState
}

// stateFile is the JSON form: stream ids as 16 hex digits (JSON numbers lose
// precision above 2^53).
type stateFile struct {
	Version int                    `json:"version"`
	Streams map[string]StreamState `json:"streams"`
	Logs    map[string]LogState    `json:"logs,omitempty"`
}

// MarshalState encodes s in the version 1 format:
//
//	{"version":1,"streams":{"00000000000000ab":{"next":1234}},"logs":{"www":{"segment":"www-….zst"}}}
//
// Stream ids are 16 lower-case hex digits; output is deterministic (sorted keys).
func MarshalState(s State) ([]byte, error) {
	f := stateFile{Version: StateVersion, Streams: make(map[string]StreamState, len(s.Streams)), Logs: s.Logs}
	for id, st := range s.Streams {
		f.Streams[fmt.Sprintf("%016x", id)] = st
	}
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// UnmarshalState decodes a state file written by MarshalState. Unknown fields,
// trailing data, bad stream ids and truncated input are errors wrapping
// ErrCorruptState; another version is ErrStateVersion.
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
	if f.Version != StateVersion {
		if f.Version == 0 {
			return State{}, fmt.Errorf("%w: no version", ErrCorruptState)
		}
		return State{}, fmt.Errorf("%w: %d", ErrStateVersion, f.Version)
	}
	if f.Streams == nil {
		return State{}, fmt.Errorf("%w: no streams", ErrCorruptState)
	}
	s := State{Streams: make(map[uint64]StreamState, len(f.Streams)), Logs: f.Logs}
	for k, st := range f.Streams {
		if len(k) != 16 {
			return State{}, fmt.Errorf("%w: stream id %q is not 16 hex digits", ErrCorruptState, k)
		}
		id, err := strconv.ParseUint(k, 16, 64)
		if err != nil {
			return State{}, fmt.Errorf("%w: stream id %q: %w", ErrCorruptState, k, err)
		}
		s.Streams[id] = st
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
func SaveState(path string, s State) (err error) {
	b, err := MarshalState(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save state: sync directory: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("save state: sync directory: %w", err)
	}
	return nil
}
