package spreadlink

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// SessionConfig configures a Session.
type SessionConfig struct {
	// Config is used for every connection: address, private name, membership
	// messages, dialer, timeouts and buffers.
	Config
	// NewName, when set, returns the private name of each new connection, and
	// Config.Name is ignored. A fresh random name per connection never collides with
	// a lost connection the daemon has not dropped yet (REJECT_NOT_UNIQUE).
	NewName func() string
	// Groups are joined, in this order, on every new connection before Connect returns
	// it. Each must pass CheckGroupName.
	Groups []string
	// Backoff paces the attempts after failures (see Session).
	Backoff Backoff
	// Sleep waits d, or until ctx is done and then returns ctx.Err(). Nil means a
	// timer. Tests inject a function that records d and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnConnectError, when set, is called by Connect after each failed attempt with
	// the error, the failures in a row (Failures) and the wait before the next
	// attempt, for logs and metrics. It runs on the goroutine calling Connect.
	OnConnectError func(err error, failures int, wait time.Duration)
}

// Session keeps a client connected to a Spread daemon: it dials, joins the configured
// groups, and after a failure connects again with one backoff policy. Each connection
// is a *Conn; the Session outlives them.
//
// A Session counts failures in a row: failed attempts, and connections the caller
// reports Lost. Before an attempt it waits Backoff.Delay(failures) (nothing when there
// were none). The count drops to zero only when the caller reports the connection
// Healthy: what proves a connection depends on the caller (its own joins delivered, a
// marker come back), and a daemon that accepts connections and then drops them must
// still be backed off from.
//
// The membership wait (JoinWait) is driven by the caller's receive loop, since the
// deliveries around a join belong to the caller.
//
// A typical reader:
//
//	for {
//		conn, err := s.Connect(ctx) // waits the backoff owed; fails only once ctx is done
//		if err != nil {
//			return err
//		}
//		joins := s.JoinWait()
//		for err == nil {
//			if err = conn.Receive(&m); err == nil && joins.Observe(&m) {
//				s.Healthy() // from here on, every message of the groups arrives
//			}
//			// ... handle m
//		}
//		conn.Abort()
//		s.Lost()
//	}
//
// Concurrency: Connect and TryConnect must not be called concurrently with each other
// (a Session stands for one connection at a time). Lost, Healthy and Failures may be
// called from any goroutine at any time. The Conns it returns follow Conn's contract.
type Session struct {
	cfg SessionConfig

	mu       sync.Mutex // Guards the fields below.
	failures int
	wait     time.Duration // owed before the next attempt
}

// NewSession checks cfg (address, private name unless NewName is set, group names)
// and returns a Session. It does not connect.
func NewSession(cfg SessionConfig) (*Session, error) {
	if _, err := ParseAddress(cfg.Address); err != nil {
		return nil, err
	}
	if cfg.NewName == nil && !ValidPrivateName(cfg.Name) {
		return nil, newError(RejectIllegalName, "session", fmt.Sprintf("private name %q: want at most %d characters of '$'..'~'", cfg.Name, MaxPrivateName), nil)
	}
	for _, g := range cfg.Groups {
		if err := groupNameError("session", g); err != nil {
			return nil, err
		}
	}
	cfg.Groups = append([]string(nil), cfg.Groups...)
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Session{cfg: cfg}, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connect returns a new connection that has sent its joins of every group. It waits
// the backoff owed for earlier failures, then tries, and after each failed attempt
// calls OnConnectError, waits and tries again. It returns an error only when ctx is
// done (ctx.Err()).
func (s *Session) Connect(ctx context.Context) (*Conn, error) {
	for {
		c, err := s.TryConnect(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if s.cfg.OnConnectError != nil {
			s.mu.Lock()
			n, wait := s.failures, s.wait
			s.mu.Unlock()
			s.cfg.OnConnectError(err, n, wait)
		}
	}
}

// TryConnect makes one attempt: it waits the backoff owed for earlier failures (none
// the first time), dials, and joins every group. A failed attempt counts as a failure
// and returns the error: a *Error (dial and handshake errors; join errors wrapped with
// the group), or ctx.Err() if ctx ended the attempt, which does not count.
func (s *Session) TryConnect(ctx context.Context) (*Conn, error) {
	s.mu.Lock()
	wait := s.wait
	s.mu.Unlock()
	if wait > 0 {
		if err := s.cfg.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.fail()
		return nil, err
	}
	s.mu.Lock()
	s.wait = 0
	s.mu.Unlock()
	return c, nil
}

// dial opens one connection and joins every group.
func (s *Session) dial(ctx context.Context) (*Conn, error) {
	cfg := s.cfg.Config
	if s.cfg.NewName != nil {
		cfg.Name = s.cfg.NewName()
	}
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, g := range s.cfg.Groups {
		if err := c.Join(g); err != nil {
			_ = c.Abort()
			return nil, fmt.Errorf("join %s: %w", g, err)
		}
	}
	return c, nil
}

// fail counts one failure and computes the wait before the next attempt.
func (s *Session) fail() {
	s.mu.Lock()
	s.failures++
	s.wait = s.cfg.Backoff.Delay(s.failures)
	s.mu.Unlock()
}

// Lost records that a connection this Session returned has failed. It counts as a
// failure, so the next attempt waits. The caller closes (or aborts) the connection.
func (s *Session) Lost() { s.fail() }

// Healthy records that the current connection has proved itself (for example, the
// daemon delivered its own joins): the failure count drops to zero, and the next
// failure waits only the first step again.
func (s *Session) Healthy() {
	s.mu.Lock()
	s.failures, s.wait = 0, 0
	s.mu.Unlock()
}

// Failures returns the failures in a row: failed attempts and lost connections since
// the last Healthy.
func (s *Session) Failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}

// JoinWait returns a JoinWait for the groups every connection of s joins.
func (s *Session) JoinWait() *JoinWait { return NewJoinWait(s.cfg.Groups...) }

// JoinWait follows the deliveries of one connection until the daemon has delivered,
// for each of a set of groups, the session's own join: the first regular membership
// message of the group that lists the session (Receive sets its MessType to the
// session's index, >= 0). From that point of the total order on, the session
// receives every message multicast to the group. The connection must have asked for
// membership messages (Config.Membership); a daemon sends none otherwise.
//
// Concurrency: a JoinWait belongs to one connection and is fed by the goroutine that
// calls its Receive; it is not safe for concurrent use.
type JoinWait struct {
	pending []string
}

// NewJoinWait returns a JoinWait for groups. With no groups it is Done at once.
func NewJoinWait(groups ...string) *JoinWait {
	w := &JoinWait{}
	for _, g := range groups {
		if !w.has(g) {
			w.pending = append(w.pending, g)
		}
	}
	return w
}

func (w *JoinWait) has(g string) bool {
	for _, p := range w.pending {
		if p == g {
			return true
		}
	}
	return false
}

// Observe looks at one delivery and reports whether it completed the wait: true
// exactly once, for the delivery of the last awaited join.
func (w *JoinWait) Observe(m *Message) bool {
	if len(w.pending) == 0 || !m.Service.IsRegMemb() || m.Membership == nil || m.MessType < 0 {
		return false
	}
	for i, g := range w.pending {
		if g == m.Membership.Group {
			w.pending = append(w.pending[:i], w.pending[i+1:]...)
			return len(w.pending) == 0
		}
	}
	return false
}

// Done reports whether every awaited join was delivered.
func (w *JoinWait) Done() bool { return len(w.pending) == 0 }
