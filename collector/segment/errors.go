package segment

import (
	"errors"
	"fmt"
)

// Sentinel errors of the segment package. Callers test them with errors.Is; the
// returned errors wrap them with context.
var (
	// ErrBadName reports a group or vhost name that cannot be used in a segment file
	// name (see Template.Expand).
	ErrBadName = errors.New("invalid log name")
	// ErrBadTemplate reports an unusable segment file name template.
	ErrBadTemplate = errors.New("invalid segment name template")
	// ErrBadConfig reports a Config that fails Validate.
	ErrBadConfig = errors.New("invalid configuration")
	// ErrSegmentExists reports that no free segment name was found for a template
	// (every numbered suffix is taken).
	ErrSegmentExists = errors.New("no free segment name")
	// ErrWriterClosed is returned by a Writer after Close or Abandon.
	ErrWriterClosed = errors.New("segment writer closed")
	// ErrFlushNeeded is returned by a Writer when it would have to write a frame
	// first: its owner writes one (Prepare, Commit) and tries again.
	ErrFlushNeeded = errors.New("segment writer: a frame must be written first")
	// ErrNotZstd is returned by WriteFrame on a writer whose segments are not zstd.
	ErrNotZstd = errors.New("segment writer: a zstd frame for a segment that is not zstd")
	// ErrTornFrame is wrapped by the *TornError Cat returns when the last frame (or
	// last line of a plain segment) is incomplete, as after a crash mid-write.
	ErrTornFrame = errors.New("torn last frame")
	// ErrCorruptSegment reports segment bytes that cannot be decoded (not a torn tail).
	ErrCorruptSegment = errors.New("corrupt segment")
	// ErrNotSegment reports input that is not a segment at all: neither zstd nor gzip,
	// and not text (a directory, random bytes).
	ErrNotSegment = errors.New("not a segment")
)

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

// SkippedError reports the damaged frames (or gzip members, or trailing bytes that are
// no frame) Cat skipped to go on with the next frame that decodes. It wraps
// ErrCorruptSegment. Nothing of a skipped frame was written.
type SkippedError struct {
	// Frames is the number of damaged stretches skipped; Bytes their total size.
	Frames int
	Bytes  int64
	// First is the input offset where the first skipped stretch starts, and Err what
	// was wrong with it.
	First int64
	Err   error
}

// add records a skipped stretch of n bytes at input offset at.
func (e *SkippedError) add(at, n int64, err error) {
	if e.Frames == 0 {
		e.First, e.Err = at, err
	}
	e.Frames++
	e.Bytes += n
}

// orNil returns e as an error, or nil if nothing was skipped.
func (e *SkippedError) orNil() error {
	if e.Frames == 0 {
		return nil
	}
	return e
}

// Error implements error.
func (e *SkippedError) Error() string {
	return fmt.Sprintf("%s: skipped %d damaged frame(s), %d bytes, the first at input byte %d: %v", ErrCorruptSegment, e.Frames, e.Bytes, e.First, e.Err)
}

// Unwrap returns ErrCorruptSegment.
func (e *SkippedError) Unwrap() error { return ErrCorruptSegment }
