// Package spreadlink speaks the Spread client protocol, wire-compatible with Spread 4.x
// and 5.x daemons and with the embedded daemon (spreadlink/daemon).
//
//   - The codec: AppendHeader, DecodeHeader, the hello and auth frames, membership
//     bodies (the facts and captured bytes are in ../shared/spread/).
//   - Conn: one connection (a Spread "session"): Dial, Join, Leave, Multicast,
//     Receive. ParseAddress reads daemon names ("4803", "4803@host", "host:port",
//     "unix:/path").
//   - Session: the one connection lifecycle of logspread's clients. It dials, joins
//     the configured groups, and after a failure connects again with one Backoff
//     (capped exponential, equal jitter). JoinWait tells when the daemon delivered a
//     connection's own joins, from which point it receives every message of the groups.
//   - Spread's name rules (ValidPrivateName, ValidGroupName, CheckGroupName) and its
//     numeric result codes as a typed *Error, compared with errors.Is against the
//     Err* values.
package spreadlink
