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
// as Spread does with slow readers; senders are never slowed down for a slow reader.
//
// # Goroutines
//
// Each session has one reader goroutine (handshake, then one request at a time: a sender
// is throttled by its socket until its previous request has been ordered) and one writer
// goroutine, which swaps the session's outbound buffer out under the lock and writes it
// with a single Write, coalescing many deliveries per system call. Every goroutine is
// tracked; Shutdown stops the listeners, flushes what is queued (best effort) and waits
// for all of them.
//
// # Lock order
//
// There is one lock, Daemon.mu, the ordering point. It guards the session and group
// tables and every session's outbound queue. Nothing blocks on I/O while holding it.
package daemon
