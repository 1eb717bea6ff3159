package source

import (
	"errors"
	"io/fs"
)

// Sentinel errors returned by the sources, wrapped with context; test them with errors.Is.
var (
	// ErrConfig reports an invalid Config (or an invalid glob pattern).
	ErrConfig = errors.New("invalid source config")
	// ErrCorruptCheckpoint reports a checkpoint file that cannot be decoded.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint file")
	// ErrCorruptJournal reports a journal segment damaged before its last record.
	ErrCorruptJournal = errors.New("corrupt journal segment")
	// ErrClosed is returned by a source used after Close.
	ErrClosed = errors.New("source closed")
	// ErrChunkMax reports a max argument to Next smaller than the source can honour.
	ErrChunkMax = errors.New("chunk bound too small")
	// ErrNotFollowed reports a Glob asked to rewind a stream it no longer follows (its
	// match was deleted and drained).
	ErrNotFollowed = errors.New("stream not followed")
	// ErrNotRegular reports a path that is not a regular file (a FIFO, a socket, a device,
	// a directory): it is never opened for reading (a FIFO's open would block).
	ErrNotRegular = errors.New("not a regular file")
)

// notRegular returns the error for name, found to be of mode's type: ErrNotRegular,
// saying what it is.
func notRegular(op, name string, mode fs.FileMode) error {
	return &fs.PathError{Op: op, Path: name, Err: notRegularError{mode.Type()}}
}

// notRegularError is ErrNotRegular for a file of a known type.
type notRegularError struct{ typ fs.FileMode }

func (e notRegularError) Error() string {
	what, do := "of another type", ""
	switch {
	case e.typ&fs.ModeNamedPipe != 0:
		what, do = "a named pipe, FIFO", "; to ship what is written to a pipe, pipe it into 'logspread ship -'"
	case e.typ&fs.ModeSocket != 0:
		what = "a socket"
	case e.typ&fs.ModeDevice != 0:
		what = "a device"
	case e.typ&fs.ModeDir != 0:
		what = "a directory"
	}
	return "not a regular file (" + what + "): only regular files are read" + do
}

func (e notRegularError) Is(target error) bool { return target == ErrNotRegular }
