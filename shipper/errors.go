package shipper

import "errors"

// Sentinel errors returned by the sources, wrapped with context; test them with errors.Is.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("invalid shipper config")
	// ErrCorruptCheckpoint reports a checkpoint file that cannot be decoded.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint file")
	// ErrCorruptJournal reports a journal segment damaged before its last record.
	ErrCorruptJournal = errors.New("corrupt journal segment")
	// ErrClosed is returned by a source used after Close.
	ErrClosed = errors.New("source closed")
	// ErrChunkMax reports a max argument to Next smaller than the source can honour.
	ErrChunkMax = errors.New("chunk bound too small")
)

// Errors of the sending half.
var (
	// ErrRunning is returned by Shipper.Run while another Run is in progress.
	ErrRunning = errors.New("shipper already running")
	// ErrAckTimeout reports an ack marker that did not come back within SendConfig.AckTimeout.
	ErrAckTimeout = errors.New("ack marker not delivered in time")
)
