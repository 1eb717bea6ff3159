package formats

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by the log line formats. Errors with more detail wrap one of these;
// test with errors.Is.
var (
	// ErrFormat is wrapped by a FormatError: a format string that cannot be compiled.
	ErrFormat = errors.New("malformed log format")
	// ErrNoMatch is wrapped by a ParseError: a line that does not match its format.
	ErrNoMatch = errors.New("line does not match log format")
	// ErrUnknownFormat is returned for a named format that does not exist.
	ErrUnknownFormat = errors.New("unknown log format name")
	// ErrFieldCount is returned by Render when the number of values differs from the
	// number of fields.
	ErrFieldCount = errors.New("wrong number of field values")
	// ErrRender is returned by Render for values that cannot make one line that parses back.
	ErrRender = errors.New("values cannot be rendered as one log line")
)

// FormatError reports a malformed format string and where in it the problem is.
type FormatError struct {
	// Spec is the format string as given.
	Spec string
	// Pos is the 0-based byte offset in Spec of the problem.
	Pos int
	// Msg says what is wrong.
	Msg string
}

// Error returns "malformed log format at byte N: msg".
func (e *FormatError) Error() string {
	return "malformed log format at byte " + strconv.Itoa(e.Pos) + ": " + e.Msg
}

// Unwrap returns ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

// ParseError reports a line that does not match its format: which field could not be
// found, and at which byte of the line the matching stopped.
type ParseError struct {
	// Field is the directive being matched ("%>s", "$remote_addr", a JSON key), or empty
	// when the problem is in literal text before the first field.
	Field string
	// Pos is the 0-based byte offset in the line where matching failed.
	Pos int
	// Msg says what was expected.
	Msg string
}

// Error returns "line does not match log format at byte N (field F): msg".
func (e *ParseError) Error() string {
	s := ErrNoMatch.Error() + " at byte " + strconv.Itoa(e.Pos)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s + ": " + e.Msg
}

// Unwrap returns ErrNoMatch.
func (e *ParseError) Unwrap() error { return ErrNoMatch }

func formatErr(spec string, pos int, format string, args ...any) error {
	return &FormatError{Spec: spec, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
