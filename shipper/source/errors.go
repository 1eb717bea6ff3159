package source

import "errors"

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
)
