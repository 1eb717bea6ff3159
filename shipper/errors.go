package shipper

import "errors"

// Sentinel errors of the sender, wrapped with context; test them with errors.Is.
var (
	// ErrConfig reports an invalid Config, or a Run without sources.
	ErrConfig = errors.New("invalid shipper config")
	// ErrRunning is returned by Shipper.Run while another Run is in progress.
	ErrRunning = errors.New("shipper already running")
	// ErrAckTimeout reports an ack marker that did not come back within Config.AckTimeout.
	ErrAckTimeout = errors.New("ack marker not delivered in time")
)
