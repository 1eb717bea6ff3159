package collector

import (
	"errors"
	"fmt"

	"github.com/logspread/logspread/collector/segment"
)

// Sentinel errors of the collector. Callers test them with errors.Is; the returned
// errors wrap them with context. Template errors wrap segment.ErrBadTemplate.
var (
	// ErrBadName is wrapped by every *NameError: a group or vhost name that cannot be
	// used in a file name. It is segment.ErrBadName, so one test covers the names
	// rejected here and by a segment writer.
	ErrBadName = segment.ErrBadName
	// ErrBadConfig reports a configuration that fails Validate. It is
	// segment.ErrBadConfig, so one test covers the segment settings too.
	ErrBadConfig = segment.ErrBadConfig
	// ErrCorruptState reports a state file that cannot be decoded.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrStateVersion reports a state file written by an unknown format version.
	ErrStateVersion = errors.New("unsupported state file version")
	// ErrBadMessage reports a message the sequencer cannot use (malformed batch,
	// checksum mismatch, undecodable body). It is counted and nothing is written.
	ErrBadMessage = errors.New("bad message")
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
