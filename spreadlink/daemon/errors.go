package daemon

import "errors"

// Sentinel errors of the daemon. Returned errors wrap them with context; compare with
// errors.Is.
var (
	// ErrInvalidConfig reports a Config that Validate refuses.
	ErrInvalidConfig = errors.New("invalid daemon config")
	// ErrNonLoopback reports a TCP listen address that is not loopback while
	// Config.AllowNonLoopback is false.
	ErrNonLoopback = errors.New("non-loopback listen address refused")
	// ErrAddressInUse reports a listen address (TCP port or unix socket) that another
	// process serves.
	ErrAddressInUse = errors.New("address in use")
	// ErrShutdown reports an operation on a daemon that has been shut down.
	ErrShutdown = errors.New("daemon shut down")

	// errProtocol is the cause recorded when a session breaks a rule of PROTOCOL.md §5.1.
	errProtocol = errors.New("protocol violation")
	// errSlow is the cause recorded when a session's outbound queue passes its bound.
	errSlow = errors.New("outbound queue full")
	// errStalled is the cause recorded when a session stays above its soft mark without
	// taking data for Config.StallTimeout (flow control).
	errStalled = errors.New("stalled reader")
	// errTooManyGroups is the cause recorded when a session joins more groups than
	// Config.MaxSessionGroups.
	errTooManyGroups = errors.New("too many groups")
	// errKilled is the cause recorded when a session asked to disconnect.
	errKilled = errors.New("disconnect requested")
)
