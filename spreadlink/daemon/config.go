package daemon

import (
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/logspread/logspread/spreadlink"
)

// Config configures a Daemon. The zero value of every field means its default (see
// DefaultConfig); New fills them in before validating.
type Config struct {
	// Listen lists the addresses to serve, in the forms spreadlink.ParseAddress takes
	// ("127.0.0.1:4803", "4803@localhost", "unix:/tmp/4803", "4803" for /tmp/4803).
	// Port 0 picks a free TCP port; Daemon.Addrs reports it.
	Listen []string
	// Name is the daemon name, 1..19 bytes of 0x24..0x7E except '#'. Private groups are
	// "#<private name>#<Name>".
	Name string
	// MaxSessionMessages bounds the deliveries queued for one session inside the daemon
	// (not counting what the kernel socket buffers hold). Passing it disconnects the
	// session, as Spread does.
	MaxSessionMessages int
	// MaxSessionBytes bounds the bytes queued for one session; passing it disconnects
	// the session.
	MaxSessionBytes int
	// MaxSessions bounds the connections served at once; further ones get REJECT_QUOTA.
	MaxSessions int
	// MaxSessionGroups bounds the groups one session is a member of at once: a join
	// beyond it is refused with a reject notice (ILLEGAL_GROUP, spreadlink.RejectNotice)
	// and the session is disconnected, so no client can make the daemon's tables grow
	// without bound.
	MaxSessionGroups int
	// HandshakeTimeout bounds the whole connect handshake of a session. Unlike Spread,
	// the daemon reads each field fully until this deadline.
	HandshakeTimeout time.Duration
	// ShutdownFlush is how long Shutdown lets each session's writer deliver what is
	// already queued before the connections close (Shutdown's context may cut it
	// shorter). Default 1s.
	ShutdownFlush time.Duration
	// AllowNonLoopback permits TCP listen addresses that are not loopback.
	AllowNonLoopback bool
	// Allow lists the networks TCP clients may connect from. A connection from any other
	// address is refused right after accept with REJECT_AUTH, the code a real Spread
	// daemon's IP access control answers with, and counted in rejects_total. Empty means
	// loopback only (DefaultAllow). Unix socket clients are not checked here: SocketMode
	// and SocketGroup say who may connect to the socket.
	Allow []netip.Prefix
	// SocketMode is the permission bits of every unix socket the daemon creates; 0 means
	// DefaultSocketMode (every local user may connect, as to Spread's /tmp/4803).
	SocketMode fs.FileMode
	// SocketGroup names the group (a name or a numeric id) that owns every unix socket;
	// "" leaves the daemon's own group. Start fails if the group does not exist or the
	// daemon may not give the socket to it.
	SocketGroup string

	// FlowControl makes the daemon stop reading requests from every client while any
	// session's outbound queue is above its soft mark (SoftSessionMessages or
	// SoftSessionBytes), and resume once every queue is back below it, so that a reader
	// that is merely slower than the senders slows the senders down instead of being
	// disconnected. Real Spread daemons do not do this. DefaultConfig turns it on; it is
	// the one field whose zero value (off: pure Spread behaviour) is not its default.
	FlowControl bool
	// SoftSessionMessages is the soft mark on the deliveries queued for one session; 0
	// means half of MaxSessionMessages. Used only with FlowControl.
	SoftSessionMessages int
	// SoftSessionBytes is the soft mark on the bytes queued for one session; 0 means half
	// of MaxSessionBytes, at most DefaultSoftSessionBytes. Used only with FlowControl.
	SoftSessionBytes int
	// StallTimeout disconnects a lossless session that stays above its soft mark
	// without its client taking any data for this long (any byte taken is progress: a
	// slow reader is not a stalled one), so that a dead or stuck reader pauses the
	// others only briefly. Used only with FlowControl.
	StallTimeout time.Duration
	// LosslessPrefixes lists the private-name prefixes of the sessions that must not
	// lose data: with FlowControl, only they pause the readers (slow the senders)
	// when their queue passes the soft mark. Every other session is best effort: what
	// arrives for it while its queue is above the soft mark is dropped (counted) and
	// the session is told with a drop notice (spreadlink.DropNotice) before its next
	// message, so one slow `logspread tail` never stalls the pipeline. Membership
	// messages are never dropped. nil means DefaultLosslessPrefixes (collectors); a
	// list holding "" makes every session lossless.
	LosslessPrefixes []string
}

// DefaultLosslessPrefixes are the private-name prefixes of lossless sessions:
// collectors, whose names start with 'c' (formats/envelope.CollectorPrefix, the same
// rule shippers use to count collectors). Shippers ('s') receive only their own ack
// markers and membership notices, which never fill a queue.
var DefaultLosslessPrefixes = []string{"c"}

// Defaults used by DefaultConfig.
const (
	DefaultName               = "localhost"
	DefaultMaxSessionMessages = 1000
	DefaultMaxSessionBytes    = 64 << 20
	DefaultMaxSessions        = 997
	DefaultMaxSessionGroups   = 1000
	DefaultHandshakeTimeout   = 3 * time.Second
	DefaultShutdownFlush      = time.Second
	DefaultStallTimeout       = 10 * time.Second
	// DefaultSoftSessionBytes caps the default soft byte mark: a few MiB queued per
	// reader keep it busy, and the daemon's memory stays small under backpressure.
	DefaultSoftSessionBytes = 8 << 20
)

// DefaultSocketMode is the permission of unix sockets unless Config.SocketMode says
// otherwise: any local user may connect, as any may to the loopback TCP port.
const DefaultSocketMode fs.FileMode = 0o666

// DefaultAllow returns the networks TCP clients may connect from unless Config.Allow
// says otherwise: loopback, IPv4 and IPv6.
func DefaultAllow() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// DefaultConfig returns the configuration of a stock local daemon: TCP 127.0.0.1:4803 and
// the unix socket /tmp/4803, named "localhost", with Spread's limits.
func DefaultConfig() Config {
	return Config{
		Listen:             []string{"127.0.0.1:4803", "unix:/tmp/4803"},
		Name:               DefaultName,
		MaxSessionMessages: DefaultMaxSessionMessages,
		MaxSessionBytes:    DefaultMaxSessionBytes,
		MaxSessions:        DefaultMaxSessions,
		MaxSessionGroups:   DefaultMaxSessionGroups,
		HandshakeTimeout:   DefaultHandshakeTimeout,
		ShutdownFlush:      DefaultShutdownFlush,
		Allow:              DefaultAllow(),
		SocketMode:         DefaultSocketMode,
		FlowControl:        true,
		StallTimeout:       DefaultStallTimeout,
	}
}

// fill replaces zero fields with their defaults.
func (c *Config) fill() {
	d := DefaultConfig()
	if len(c.Listen) == 0 {
		c.Listen = d.Listen
	}
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.MaxSessionMessages == 0 {
		c.MaxSessionMessages = d.MaxSessionMessages
	}
	if c.MaxSessionBytes == 0 {
		c.MaxSessionBytes = d.MaxSessionBytes
	}
	if c.MaxSessionGroups == 0 {
		c.MaxSessionGroups = d.MaxSessionGroups
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = d.MaxSessions
	}
	if c.ShutdownFlush == 0 {
		c.ShutdownFlush = d.ShutdownFlush
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.SoftSessionMessages == 0 {
		c.SoftSessionMessages = max(c.MaxSessionMessages/2, 1)
	}
	if c.SoftSessionBytes == 0 {
		c.SoftSessionBytes = min(c.MaxSessionBytes/2, DefaultSoftSessionBytes)
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = d.StallTimeout
	}
	if len(c.Allow) == 0 {
		c.Allow = d.Allow
	}
	if c.SocketMode == 0 {
		c.SocketMode = d.SocketMode
	}
	if c.LosslessPrefixes == nil {
		c.LosslessPrefixes = DefaultLosslessPrefixes
	}
}

// lossless reports whether the session of private name must not lose data.
func (c *Config) lossless(name string) bool {
	if !c.FlowControl {
		return true // pure Spread: no drops; a full queue disconnects
	}
	for _, p := range c.LosslessPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Validate checks c as given (zero fields are errors; New fills defaults first).
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if len(c.Listen) == 0 {
		return bad("no listen address")
	}
	for _, l := range c.Listen {
		a, err := spreadlink.ParseAddress(l)
		if err != nil {
			return fmt.Errorf("%w: listen: %w", ErrInvalidConfig, err)
		}
		if err := checkLoopback(a, c.AllowNonLoopback); err != nil {
			return err
		}
	}
	if len(c.Name) == 0 || len(c.Name) > spreadlink.MaxProcName || strings.Contains(c.Name, "#") || !spreadlink.ValidGroupName(c.Name) {
		return bad("daemon name %q: want 1..%d bytes of 0x24..0x7E, no '#'", c.Name, spreadlink.MaxProcName)
	}
	if c.MaxSessionMessages <= 0 {
		return bad("MaxSessionMessages %d", c.MaxSessionMessages)
	}
	if c.MaxSessionBytes < spreadlink.HeaderLen+spreadlink.MaxPayload {
		return bad("MaxSessionBytes %d below one maximal message (%d)", c.MaxSessionBytes, spreadlink.HeaderLen+spreadlink.MaxPayload)
	}
	if c.MaxSessionGroups <= 0 {
		return bad("MaxSessionGroups %d", c.MaxSessionGroups)
	}
	if c.MaxSessions <= 0 {
		return bad("MaxSessions %d", c.MaxSessions)
	}
	if len(c.Allow) == 0 {
		return bad("no allowed client network")
	}
	for _, p := range c.Allow {
		if !p.IsValid() {
			return bad("allowed client network %v", p)
		}
	}
	if c.SocketMode == 0 || c.SocketMode&^fs.ModePerm != 0 {
		return bad("socket mode %#o: want permission bits such as 0660", uint32(c.SocketMode))
	}
	if c.ShutdownFlush < 0 {
		return bad("ShutdownFlush %v", c.ShutdownFlush)
	}
	if c.HandshakeTimeout <= 0 {
		return bad("HandshakeTimeout %v", c.HandshakeTimeout)
	}
	// The soft marks are checked when flow control is on; zero means half the bound.
	if c.FlowControl {
		if c.SoftSessionMessages < 0 || c.SoftSessionMessages > c.MaxSessionMessages {
			return bad("SoftSessionMessages %d: want 1..MaxSessionMessages (%d), or 0 for half", c.SoftSessionMessages, c.MaxSessionMessages)
		}
		if c.SoftSessionBytes < 0 || c.SoftSessionBytes > c.MaxSessionBytes {
			return bad("SoftSessionBytes %d: want 1..MaxSessionBytes (%d), or 0 for half", c.SoftSessionBytes, c.MaxSessionBytes)
		}
		if c.StallTimeout <= 0 {
			return bad("StallTimeout %v", c.StallTimeout)
		}
	}
	return nil
}

// checkLoopback refuses a TCP address whose host is not a loopback IP or "localhost".
func checkLoopback(a spreadlink.Address, allow bool) error {
	if a.Network != "tcp" || allow {
		return nil
	}
	host, _, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return fmt.Errorf("%w: listen %q: %w", ErrInvalidConfig, a.Addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (loopback only unless AllowNonLoopback is set)", ErrNonLoopback, a.Addr)
}

// allowed reports whether a TCP client at addr may connect; clients of other networks
// (unix sockets) always may.
func (c *Config) allowed(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return true
	}
	ip := ta.AddrPort().Addr().Unmap()
	for _, p := range c.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
