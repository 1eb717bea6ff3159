// Package daemon is an embedded, single-node daemon that speaks the Spread Toolkit client
// protocol (version 4.x/5.x, as described in shared/spread/PROTOCOL.md). Stock libspread
// clients (spuser, mod_log_spread, spreadlogd) and the spreadlink client connect to it over
// a unix socket or loopback TCP.
//
// # Semantics
//
// The daemon keeps one total order over everything it delivers: data messages of every
// service level and membership messages alike pass one ordering point (a mutex under
// which a request is assigned its place and appended to the outbound queue of every
// recipient), so every session sees the deliveries it gets in the same relative order.
// On one daemon that satisfies AGREED and SAFE at once.
//
// Groups are open (a sender need not be a member); a message naming several groups is
// delivered once to each session that is in any of them, with the full group list; a
// destination "#name#daemon" is a private group, i.e. a unicast. Membership messages
// (REG_MEMB with CAUSED_BY_JOIN, _LEAVE or _DISCONNECT, and the self-leave notice) go to
// sessions that asked for them in their hello, exactly as Spread 5.0.1 sends them.
//
// Requests that break the rules of PROTOCOL.md §5.1 close the offending session (its
// groups see CAUSED_BY_DISCONNECT); the daemon lives on. A session whose outbound queue
// passes Config.MaxSessionMessages or Config.MaxSessionBytes is disconnected the same way,
// as Spread does with slow readers.
//
// # Flow control
//
// Spread never slows a sender down for a slow reader. With Config.FlowControl (on in
// DefaultConfig) this daemon does: while any session's outbound queue is above its soft
// mark (Config.SoftSessionMessages or SoftSessionBytes, half the hard bounds by default),
// the daemon reads no request from any client, as Spread stops reading clients while its
// ring queue is above WATER_MARK; senders are then throttled by their sockets. Writers keep
// draining, and once every queue is back below its soft mark the readers resume. Each
// reader may still order the one request it was reading when the pause began, so the
// hard bounds are reached only by requests admitted before the pause; they still
// disconnect at once. Membership requests (join, leave) are requests like data and wait
// too. A session that stays above its soft mark while its client takes nothing for
// Config.StallTimeout is disconnected as stalled, so a dead reader pauses the others only
// for that long. With FlowControl off the daemon behaves as Spread does.
//
// # Goroutines
//
// Each session has one reader goroutine (handshake, then one request at a time: a sender
// is throttled by its socket until its previous request has been ordered; during a flow
// control pause it waits on a condition variable before reading) and one writer
// goroutine, which swaps the session's outbound buffer out under the lock and writes it
// in large chunks, coalescing many deliveries per system call. With flow control one more
// goroutine, the stall watcher, sleeps until a pause begins and then until the earliest
// stall deadline. Every goroutine is tracked; Shutdown stops the listeners, wakes paused
// readers, flushes what is queued (best effort) and waits for all of them.
//
// # Lock order
//
// There is one lock, Daemon.mu, the ordering point. It guards the session and group
// tables, every session's outbound queue and the flow control state (the condition
// variable Daemon.flow uses it). Nothing blocks on I/O while holding it.
package daemon
