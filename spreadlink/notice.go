package spreadlink

import (
	"strconv"
	"strings"
)

// Drop notices: logspread's embedded daemon tells a best-effort session (one that
// flow control does not wait for, such as `logspread tail`) how many messages it
// dropped for it while the session read slower than the groups were written. The
// notice is a regular (AGREED) message to the session's private group, sent by the
// reserved private name NoticeName, with message type DropNoticeType and the count
// in decimal as its body. It is delivered before the first message after the drops.
// A real Spread daemon never sends one: it disconnects a slow reader instead.
const (
	// NoticeName is the private name the daemon's notices come from; no client can
	// take it.
	NoticeName = "logspread"
	// DropNoticeType is the message type of a drop notice.
	DropNoticeType int16 = 0x4c44
)

// Reject notices: the embedded daemon refuses a request it cannot take in the middle of
// a session (a join beyond its max_session_groups) with a reject notice, then
// disconnects the session, as Spread refuses a connection with a REJECT code. The
// notice comes from NoticeName to the session's private group, with message type
// RejectNoticeType and "CODE detail" as its body (Spread's numeric code in decimal).
// Conn.Receive turns it into an *Error with that code and detail.
const RejectNoticeType int16 = 0x4c52

// AppendRejectNotice appends the body of a reject notice with Spread code c.
func AppendRejectNotice(dst []byte, c Code, detail string) []byte {
	dst = strconv.AppendInt(dst, int64(c), 10)
	return append(append(dst, ' '), detail...)
}

// rejectNotice returns the error a reject notice m says, or nil when m is none.
func rejectNotice(m *Message) *Error {
	if !m.Service.IsRegular() || m.MessType != RejectNoticeType || !strings.HasPrefix(m.Sender, "#"+NoticeName+"#") {
		return nil
	}
	code, detail, _ := strings.Cut(string(m.Data), " ")
	n, err := strconv.ParseInt(code, 10, 32)
	if err != nil {
		return nil
	}
	return &Error{Code: Code(n), Op: "daemon refused", Detail: detail}
}

// AppendDropNotice appends the body of a drop notice for n dropped messages.
func AppendDropNotice(dst []byte, n uint64) []byte { return strconv.AppendUint(dst, n, 10) }

// DropNotice reports whether m is a drop notice, and how many messages it says were
// dropped.
func DropNotice(m *Message) (uint64, bool) {
	if !m.Service.IsRegular() || m.MessType != DropNoticeType || !strings.HasPrefix(m.Sender, "#"+NoticeName+"#") {
		return 0, false
	}
	n, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
