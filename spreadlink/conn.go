package spreadlink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Dialer opens the byte stream to a daemon. *net.Dialer satisfies it; tests may pass an
// in-memory network. Implementations must be safe for concurrent use.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Config configures a client session.
type Config struct {
	// Address of the daemon (see ParseAddress). Empty means "4803", the local unix socket.
	Address string
	// Name is the requested private name, 0..10 bytes of 0x24..0x7E; empty lets the daemon pick one.
	Name string
	// Membership asks for membership messages (join, leave, disconnect, network changes).
	Membership bool
	// Priority sets the hello's priority bit (parsed and ignored by Spread daemons).
	Priority bool
	// HandshakeTimeout bounds connect plus handshake. Zero means 5 seconds.
	HandshakeTimeout time.Duration
	// Dialer opens the connection. Nil means a *net.Dialer.
	Dialer Dialer
	// ReadBufferSize is the size of the receive buffer. Zero means 256 KiB.
	ReadBufferSize int
	// MaxQueuedWrite bounds the bytes queued behind an in-progress write before senders
	// wait. Zero means 4 MiB.
	MaxQueuedWrite int
}

// DefaultConfig returns a Config for the local daemon with the defaults filled in.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   256 << 10,
		MaxQueuedWrite:   4 << 20,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = d.ReadBufferSize
	}
	if c.MaxQueuedWrite <= 0 {
		c.MaxQueuedWrite = d.MaxQueuedWrite
	}
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
}

// Conn is one client session with a Spread daemon.
//
// Concurrency: any number of goroutines may call Join, Leave, Multicast and Close at
// once; their frames are written whole and in call order, and writes queued behind an
// in-progress write are coalesced into one system call. Receive must be called by one
// goroutine at a time.
type Conn struct {
	nc          net.Conn
	private     string
	privateSlot []byte
	daemonMajor byte
	daemonMinor byte
	daemonPatch byte
	maxQueued   int
	rd          frameReader
	closeOnce   sync.Once
	closeErr    error

	wmu sync.Mutex // Guards the fields below.
	// wcond signals the end of a write turn.
	wcond   *sync.Cond
	wbuf    []byte // frames queued for the next write
	spare   []byte // the buffer being written, swapped with wbuf
	writing bool   // one goroutine is writing; others only queue
	werr    error  // first write error; the session is dead after it
	closed  bool
}

// Dial connects to the daemon at cfg.Address and completes the handshake.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg.fill()
	if !ValidPrivateName(cfg.Name) {
		return nil, newError(RejectIllegalName, "connect", fmt.Sprintf("private name %q: want at most %d bytes of 0x24..0x7E", cfg.Name, MaxPrivateName), nil)
	}
	addr, err := ParseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	nc, err := cfg.Dialer.DialContext(ctx, addr.Network, addr.Addr)
	if err != nil {
		return nil, newError(CouldNotConnect, "connect", addr.String(), err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
	}
	c, err := NewConn(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewConn runs the client handshake over an open connection. The deadline of ctx (or
// cfg.HandshakeTimeout) bounds it. On error the caller still owns nc.
func NewConn(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	cfg.fill()
	if !ValidPrivateName(cfg.Name) {
		return nil, newError(RejectIllegalName, "connect", fmt.Sprintf("private name %q", cfg.Name), nil)
	}
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c := &Conn{nc: nc, maxQueued: cfg.MaxQueuedWrite}
	c.wcond = sync.NewCond(&c.wmu)
	br := bufio.NewReaderSize(nc, cfg.ReadBufferSize)
	c.rd.r = br
	if err := c.handshake(br, cfg); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, newError(CouldNotConnect, "connect", "handshake", ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) handshake(br *bufio.Reader, cfg Config) error {
	closed := func(what string, err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
		}
		return newError(ConnectionClosed, "connect", what, err)
	}
	// The daemon reads the hello and the auth choice with single non-blocking reads,
	// so each goes out in exactly one write.
	if _, err := c.nc.Write(AppendHello(nil, cfg.Name, cfg.Membership, cfg.Priority)); err != nil {
		return closed("write hello", err)
	}
	n, err := br.ReadByte()
	if err != nil {
		return closed("read auth offer", err)
	}
	if int8(n) < 0 {
		return rejectError(int8(n))
	}
	if n > 90 {
		return newError(ConnectionClosed, "connect", fmt.Sprintf("auth list of %d bytes", n), nil)
	}
	methods := make([]byte, n)
	if _, err := io.ReadFull(br, methods); err != nil {
		return closed("read auth offer", err)
	}
	if !offersNull(methods) {
		return newError(RejectAuth, "connect", fmt.Sprintf("daemon offers %q, not NULL", methods), nil)
	}
	if _, err := c.nc.Write(AppendAuthChoice(nil, "NULL")); err != nil {
		return closed("write auth choice", err)
	}
	var acc [5]byte // accept, major, minor, patch, name length
	if _, err := io.ReadFull(br, acc[:1]); err != nil {
		return closed("read accept", err)
	}
	if int8(acc[0]) != int8(AcceptSession) {
		return rejectError(int8(acc[0]))
	}
	if _, err := io.ReadFull(br, acc[1:]); err != nil {
		return closed("read accept", err)
	}
	if acc[1] < 3 {
		return newError(RejectVersion, "connect", fmt.Sprintf("daemon version %d.%d", acc[1], acc[2]), nil)
	}
	c.daemonMajor, c.daemonMinor, c.daemonPatch = acc[1], acc[2], acc[3]
	p := int(int8(acc[4]))
	if p <= 0 || p >= GroupNameLen {
		return newError(ConnectionClosed, "connect", fmt.Sprintf("private group name of %d bytes", p), nil)
	}
	name := make([]byte, p)
	if _, err := io.ReadFull(br, name); err != nil {
		return closed("read private group", err)
	}
	c.private = string(name)
	c.privateSlot = AppendGroupSlot(nil, name)
	return nil
}

func offersNull(methods []byte) bool {
	for len(methods) > 0 {
		var m []byte
		m, methods, _ = cutByte(methods, ' ')
		if string(m) == "NULL" {
			return true
		}
	}
	return false
}

func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// rejectError is the error for a daemon's refusal of a session, saying why in a user's
// words where the code tells it (the daemon sends nothing else).
func rejectError(code int8) error {
	detail := "rejected by daemon"
	switch Code(code) {
	case RejectAuth:
		detail = "rejected by daemon: its access control refuses this client (logspread daemon --allow, or the Spread daemon's access rules)"
	case RejectQuota:
		detail = "rejected by daemon: it serves as many sessions as it may (logspread daemon --max-sessions, or Spread's limit)"
	case RejectNotUnique:
		detail = "rejected by daemon: another session of this daemon has the same private name"
	case RejectIllegalName, RejectNoName:
		detail = "rejected by daemon: the private name is not valid"
	case RejectVersion:
		detail = "rejected by daemon: it does not speak this client's protocol version"
	}
	return newError(Code(code), "connect", detail, nil)
}

// PrivateGroup returns the session's private group name, "#name#daemon".
func (c *Conn) PrivateGroup() string { return c.private }

// DaemonVersion returns the version the daemon announced.
func (c *Conn) DaemonVersion() (major, minor, patch int) {
	return int(c.daemonMajor), int(c.daemonMinor), int(c.daemonPatch)
}

// Join joins group.
func (c *Conn) Join(group string) error { return c.control(JoinMess, group) }

// Leave leaves group.
func (c *Conn) Leave(group string) error { return c.control(LeaveMess, group) }

func (c *Conn) control(kind ServiceType, group string) error {
	op := "join"
	if kind == LeaveMess {
		op = "leave"
	}
	if err := groupNameError(op, group); err != nil {
		return err
	}
	return c.enqueue(op, false, func(b []byte) []byte {
		b = AppendHeader(b, kind, c.privateSlot, 1, 0, 0)
		return AppendGroupSlot(b, []byte(group))
	})
}

// Multicast sends data to one group with service svc (one level, optionally
// |SelfDiscard) and application message type messType.
func (c *Conn) Multicast(svc ServiceType, group string, messType int16, data []byte) error {
	return c.multicast(svc, group, messType, data, false)
}

// MulticastDeferred is Multicast without the immediate write: the frame is queued and
// goes out with the next Flush, once DeferredFlushBytes are queued, or with another
// goroutine's write. A single goroutine sending many small messages uses it to write
// many frames per system call; it must call Flush when it has nothing more to send.
func (c *Conn) MulticastDeferred(svc ServiceType, group string, messType int16, data []byte) error {
	return c.multicast(svc, group, messType, data, true)
}

// DeferredFlushBytes is how many queued bytes make MulticastDeferred write at once.
const DeferredFlushBytes = 64 << 10

// Flush writes every frame queued by MulticastDeferred.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeState("flush"); err != nil {
		return err
	}
	if c.writing || len(c.wbuf) == 0 {
		return nil // the writing goroutine drains the queue
	}
	return c.drainLocked("flush")
}

func (c *Conn) multicast(svc ServiceType, group string, messType int16, data []byte, deferred bool) error {
	if err := checkSend(svc, 1, len(data)); err != nil {
		return err
	}
	if !validDestination(group) {
		return newError(IllegalGroup, "multicast", fmt.Sprintf("destination %q", group), nil)
	}
	return c.enqueue("multicast", deferred, func(b []byte) []byte {
		b = AppendHeader(b, svc, c.privateSlot, 1, messType, len(data))
		b = AppendGroupSlot(b, []byte(group))
		return append(b, data...)
	})
}

// MulticastGroups sends data once to every member of any of groups (1..100 names).
func (c *Conn) MulticastGroups(svc ServiceType, groups []string, messType int16, data []byte) error {
	if len(groups) == 0 || len(groups) > MaxGroupsPerMessage {
		return newError(IllegalGroup, "multicast", fmt.Sprintf("%d destination groups, want 1..%d", len(groups), MaxGroupsPerMessage), nil)
	}
	if err := checkSend(svc, len(groups), len(data)); err != nil {
		return err
	}
	for _, g := range groups {
		if !validDestination(g) {
			return newError(IllegalGroup, "multicast", fmt.Sprintf("destination %q", g), nil)
		}
	}
	return c.enqueue("multicast", false, func(b []byte) []byte {
		b = AppendHeader(b, svc, c.privateSlot, len(groups), messType, len(data))
		for _, g := range groups {
			b = AppendGroupSlot(b, []byte(g))
		}
		return append(b, data...)
	})
}

func checkSend(svc ServiceType, groups, n int) error {
	if !svc.validSend() {
		return newError(IllegalService, "multicast", fmt.Sprintf("service type %s", svc), nil)
	}
	if n+groups*GroupNameLen > MaxPayload {
		return newError(MessageTooLong, "multicast", fmt.Sprintf("%d bytes to %d groups exceeds %d", n, groups, MaxPayload), nil)
	}
	return nil
}

// enqueue appends a frame built by build to the write queue and, unless another
// goroutine is already writing (or deferred is set and the queue is still small),
// writes the queue out, coalescing whatever other goroutines add meanwhile.
func (c *Conn) enqueue(op string, deferred bool, build func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.writing && len(c.wbuf) >= c.maxQueued && c.werr == nil && !c.closed {
		c.wcond.Wait()
	}
	if err := c.writeState(op); err != nil {
		return err
	}
	c.wbuf = build(c.wbuf)
	if c.writing || deferred && len(c.wbuf) < DeferredFlushBytes {
		return nil
	}
	return c.drainLocked(op)
}

func (c *Conn) writeState(op string) error {
	if c.closed {
		return newError(IllegalSession, op, "session closed", nil)
	}
	if c.werr != nil {
		return newError(NetErrorOnSession, op, "", c.werr)
	}
	return nil
}

// drainLocked writes the queue until it is empty. Called with wmu held; releases it
// around each write.
func (c *Conn) drainLocked(op string) error {
	c.writing = true
	for len(c.wbuf) > 0 && c.werr == nil {
		buf := c.wbuf
		c.wbuf = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.nc.Write(buf)
		c.wmu.Lock()
		c.spare = buf[:0]
		if err != nil {
			c.werr = err
		}
		c.wcond.Broadcast()
	}
	c.writing = false
	c.wcond.Broadcast()
	if c.werr != nil {
		return newError(ConnectionClosed, op, "write", c.werr)
	}
	return nil
}

// Close sends the disconnect request (after any queued frames) and closes the connection.
// It is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		for c.writing {
			c.wcond.Wait()
		}
		if c.werr == nil && !c.closed {
			c.wbuf = AppendHeader(c.wbuf, KillMess, c.privateSlot, 1, 0, 0)
			c.wbuf = append(c.wbuf, c.privateSlot...)
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_ = c.drainLocked("disconnect")
		}
		c.closed = true
		c.wcond.Broadcast()
		c.wmu.Unlock()
		c.closeErr = c.nc.Close()
	})
	return c.closeErr
}

// Abort closes the connection at once without a disconnect request, as a crash would.
func (c *Conn) Abort() error {
	c.wmu.Lock()
	c.closed = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
	return c.nc.Close()
}

// SetReadDeadline sets the deadline for Receive.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Receive reads the next message into m, reusing its buffers. It fills in what the C
// library computes: the receiver's index as MessType of regular membership messages,
// -1 for transitional and self-leave messages, EndianMismatch, and the membership body.
func (c *Conn) Receive(m *Message) error {
	if err := c.rd.next(m); err != nil {
		var se *Error
		if errors.As(err, &se) {
			return err
		}
		return newError(ConnectionClosed, "receive", "", err)
	}
	if e := rejectNotice(m); e != nil {
		return e
	}
	if m.Service.IsRegMemb() {
		m.MessType = -1
		for i, g := range m.Groups {
			if g == c.private {
				m.MessType = int16(i)
				break
			}
		}
	}
	return nil
}

// Buffered returns the number of received bytes waiting in the read buffer, so a
// reader can flush its own output when no more deliveries are at hand.
func (c *Conn) Buffered() int { return c.rd.r.Buffered() }
