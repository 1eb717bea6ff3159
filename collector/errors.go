package collector

import (
	"errors"
	"fmt"
)

// Sentinel errors of the collector. Callers test them with errors.Is; the returned
// errors wrap them with context.
var (
	// ErrBadName is wrapped by every *NameError: a group or vhost name that cannot be
	// used in a file name.
	ErrBadName = errors.New("invalid log name")
	// ErrBadTemplate reports an unusable segment file name template.
	ErrBadTemplate = errors.New("invalid segment name template")
	// ErrBadConfig reports a configuration that fails Validate.
	ErrBadConfig = errors.New("invalid configuration")
	// ErrSegmentExists reports that no free segment name was found for a template
	// (every numbered suffix is taken).
	ErrSegmentExists = errors.New("no free segment name")
	// ErrWriterClosed is returned by a SegmentWriter after Close.
	ErrWriterClosed = errors.New("segment writer closed")
	// ErrTornFrame is wrapped by the *TornError CatSegment returns when the last frame
	// (or last line of a plain segment) is incomplete, as after a crash mid-write.
	ErrTornFrame = errors.New("torn last frame")
	// ErrCorruptSegment reports segment bytes that cannot be decoded (not a torn tail).
	ErrCorruptSegment = errors.New("corrupt segment")
	// ErrCorruptState reports a state file that cannot be decoded.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrStateVersion reports a state file written by an unknown format version.
	ErrStateVersion = errors.New("unsupported state file version")
	// ErrBadMessage reports a message the sequencer cannot use (malformed batch,
	// checksum mismatch, undecodable body). It is counted and nothing is written.
	ErrBadMessage = errors.New("bad message")
	// ErrFlushNeeded is returned by a SegmentWriter when it would have to write a
	// frame first: its owner writes one (Prepare, Commit) and tries again.
	ErrFlushNeeded = errors.New("segment writer: a frame must be written first")
)

// NameError reports a group or vhost name rejected by ValidateGroup or ValidateVhost.
// It wraps ErrBadName.
type NameError struct {
	// Kind is "group" or "vhost".
	Kind string
	// Name is the rejected name, quoted when printed.
	Name string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *NameError) Error() string {
	return fmt.Sprintf("%s: %s %q: %s", ErrBadName, e.Kind, e.Name, e.Reason)
}

// Unwrap returns ErrBadName.
func (e *NameError) Unwrap() error { return ErrBadName }

// TornError reports a segment whose last frame is incomplete. It wraps ErrTornFrame.
// Every complete line before the tear was written to the output.
type TornError struct {
	// InputOffset is the number of segment bytes read when the tear was found
	// (the size of the segment for a truncated file).
	InputOffset int64
	// OutputOffset is the number of uncompressed bytes written: the end of the last
	// complete line.
	OutputOffset int64
	// Err is the decoder's error, if any.
	Err error
}

// Error implements error.
func (e *TornError) Error() string {
	s := fmt.Sprintf("%s at input byte %d (output ends at byte %d)", ErrTornFrame, e.InputOffset, e.OutputOffset)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrTornFrame and the decoder's error.
func (e *TornError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTornFrame}
	}
	return []error{ErrTornFrame, e.Err}
}
