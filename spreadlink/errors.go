package spreadlink

import (
	"errors"
	"fmt"
)

// Code is one of Spread's numeric result codes (ACCEPT_SESSION, REJECT_*, ILLEGAL_*, ...).
type Code int32

// Spread's codes, with the values of the C library.
const (
	AcceptSession     Code = 1
	IllegalSpread     Code = -1
	CouldNotConnect   Code = -2
	RejectQuota       Code = -3
	RejectNoName      Code = -4
	RejectIllegalName Code = -5
	RejectNotUnique   Code = -6
	RejectVersion     Code = -7
	ConnectionClosed  Code = -8
	RejectAuth        Code = -9
	IllegalSession    Code = -11
	IllegalService    Code = -12
	IllegalMessage    Code = -13
	IllegalGroup      Code = -14
	BufferTooShort    Code = -15
	GroupsTooShort    Code = -16
	MessageTooLong    Code = -17
	NetErrorOnSession Code = -18
	SPBug             Code = -19
	IllegalTime       Code = -20
)

var codeNames = map[Code]string{
	AcceptSession: "ACCEPT_SESSION", IllegalSpread: "ILLEGAL_SPREAD",
	CouldNotConnect: "COULD_NOT_CONNECT", RejectQuota: "REJECT_QUOTA",
	RejectNoName: "REJECT_NO_NAME", RejectIllegalName: "REJECT_ILLEGAL_NAME",
	RejectNotUnique: "REJECT_NOT_UNIQUE", RejectVersion: "REJECT_VERSION",
	ConnectionClosed: "CONNECTION_CLOSED", RejectAuth: "REJECT_AUTH",
	IllegalSession: "ILLEGAL_SESSION", IllegalService: "ILLEGAL_SERVICE",
	IllegalMessage: "ILLEGAL_MESSAGE", IllegalGroup: "ILLEGAL_GROUP",
	BufferTooShort: "BUFFER_TOO_SHORT", GroupsTooShort: "GROUPS_TOO_SHORT",
	MessageTooLong: "MESSAGE_TOO_LONG", NetErrorOnSession: "NET_ERROR_ON_SESSION",
	SPBug: "SP_BUG", IllegalTime: "ILLEGAL_TIME",
}

// String returns Spread's name for c.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code(%d)", int32(c))
}

// Error is a Spread error: a Code, the operation that failed, and optional detail and cause.
// Compare with errors.Is against the Err* values, which match on Code alone.
type Error struct {
	Code   Code
	Op     string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "spread: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += e.Code.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinel errors, one per code, for errors.Is.
var (
	ErrIllegalSpread     = &Error{Code: IllegalSpread}
	ErrCouldNotConnect   = &Error{Code: CouldNotConnect}
	ErrRejectQuota       = &Error{Code: RejectQuota}
	ErrRejectNoName      = &Error{Code: RejectNoName}
	ErrRejectIllegalName = &Error{Code: RejectIllegalName}
	ErrRejectNotUnique   = &Error{Code: RejectNotUnique}
	ErrRejectVersion     = &Error{Code: RejectVersion}
	ErrConnectionClosed  = &Error{Code: ConnectionClosed}
	ErrRejectAuth        = &Error{Code: RejectAuth}
	ErrIllegalSession    = &Error{Code: IllegalSession}
	ErrIllegalService    = &Error{Code: IllegalService}
	ErrIllegalMessage    = &Error{Code: IllegalMessage}
	ErrIllegalGroup      = &Error{Code: IllegalGroup}
	ErrMessageTooLong    = &Error{Code: MessageTooLong}
	ErrNetErrorOnSession = &Error{Code: NetErrorOnSession}
	ErrIllegalTime       = &Error{Code: IllegalTime}
)

func newError(code Code, op, detail string, cause error) *Error {
	return &Error{Code: code, Op: op, Detail: detail, Err: cause}
}
