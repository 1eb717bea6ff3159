package daemon

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

// Daemon is an embedded daemon speaking the Spread client protocol.
//
// Concurrency: all methods are safe for concurrent use. Start, Run and Shutdown may be
// called in any order; Shutdown is idempotent and waits for every goroutine the daemon
// started.
type Daemon struct {
	cfg     Config // its live fields (see Reconfigure) are guarded by mu
	log     *slog.Logger
	m       *metrics
	id      int32 // the daemon's "virtual id", first int of every group id
	stamp   int32 // membership timestamp, second int of every group id
	suffix  string
	wg      sync.WaitGroup
	done    chan struct{} // closed when Shutdown has finished
	goodbye time.Duration // how long Shutdown lets writers flush by default
	t0      time.Time     // origin of the monotonic clock d.now
	stop    chan struct{} // closed when Shutdown starts; ends the stall watcher
	flowArm chan struct{} // capacity 1: "a pause began", wakes the stall watcher
	paused  atomic.Bool   // some session is above its soft mark (mirrors over > 0)
	tick    atomic.Int64  // progressTick(cfg.StallTimeout), read by writers without mu

	mu sync.Mutex // The ordering point. Guards the fields below and every session's queue.
	// started and shutdown track the lifecycle; no goroutine starts once shutdown is set.
	started   bool
	shutdown  bool
	listeners []net.Listener
	addrs     []spreadlink.Address
	conns     map[*session]struct{} // every served connection, handshaking or not
	names     map[string]*session   // private name -> session (reserved during handshake)
	privs     map[string]*session   // private group "#name#daemon" -> session (after accept)
	groups    map[string]*group
	epoch     uint64     // delivery counter, used to deliver a multi-group message once
	kicks     []*session // sessions to disconnect once the current operation is done
	mbuf      []byte     // scratch for membership messages and notices
	// noticeSender is the private group the daemon's notices come from.
	noticeSender []byte
	nextConn     int // connection counter, the "fd" of invented names
	// Flow control (Config.FlowControl): over counts the sessions above their soft mark;
	// readers wait on flow while it is positive. pausedAt is when the current pause
	// began, pausedFor the length of the pauses that ended.
	over      int
	flow      sync.Cond
	pausedAt  time.Duration
	pausedFor time.Duration
}

// New builds a daemon from cfg (zero fields take DefaultConfig's values). logger may be
// nil (discard); reg may be nil (no metrics registered).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Daemon, error) {
	cfg.Listen = append([]string(nil), cfg.Listen...)
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := fnv.New32a()
	h.Write([]byte(cfg.Name))
	d := &Daemon{
		cfg:    cfg,
		log:    logger.With("component", "spread-daemon", "daemon", cfg.Name),
		id:     int32(h.Sum32() & 0x7fffffff),
		stamp:  int32(time.Now().Unix()),
		suffix: "#" + cfg.Name,
		// The sender of the daemon's notices (spreadlink.DropNotice).
		noticeSender: []byte("#" + spreadlink.NoticeName + "#" + cfg.Name),
		done:         make(chan struct{}),
		goodbye:      cfg.ShutdownFlush,
		t0:           time.Now(),
		stop:         make(chan struct{}),
		flowArm:      make(chan struct{}, 1),
		conns:        make(map[*session]struct{}),
		names:        make(map[string]*session),
		privs:        make(map[string]*session),
		groups:       make(map[string]*group),
	}
	d.flow.L = &d.mu
	d.tick.Store(int64(progressTick(cfg.StallTimeout)))
	m, err := newMetrics(reg, d)
	if err != nil {
		return nil, fmt.Errorf("register daemon metrics: %w", err)
	}
	d.m = m
	return d, nil
}

// Start binds every listen address and starts accepting sessions. Calling it again is a
// no-op; after Shutdown it returns ErrShutdown.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutdown {
		return ErrShutdown
	}
	if d.started {
		return nil
	}
	var lns []net.Listener
	var addrs []spreadlink.Address
	gid := -1
	if g := d.cfg.SocketGroup; g != "" {
		var err error
		if gid, err = lookupGroup(g); err != nil {
			return err
		}
	}
	for _, l := range d.cfg.Listen {
		a, err := spreadlink.ParseAddress(l)
		if err == nil {
			var ln net.Listener
			ln, err = listen(a, d.cfg.SocketMode, gid)
			if err == nil {
				lns = append(lns, ln)
				if a.Network == "tcp" {
					a.Addr = ln.Addr().String()
				}
				addrs = append(addrs, a)
				continue
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		return fmt.Errorf("daemon listen %s: %w", l, err)
	}
	d.started = true
	d.listeners, d.addrs = lns, addrs
	for _, ln := range lns {
		d.wg.Go(func() { d.acceptLoop(ln) })
	}
	if d.cfg.FlowControl {
		d.wg.Go(d.stallWatcher)
	}
	d.log.Info("daemon started", "addrs", addrs)
	return nil
}

// errAddrInUse is the system error for a bound address.
const errAddrInUse = syscall.EADDRINUSE

// lookupGroup returns the id of group, a name or a number.
func lookupGroup(group string) (int, error) {
	if id, err := strconv.Atoi(group); err == nil && id >= 0 {
		return id, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("%w: socket group %q: %w", ErrInvalidConfig, group, err)
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("%w: socket group %q has id %q", ErrInvalidConfig, group, g.Gid)
	}
	return id, nil
}

// listen binds one address. A unix socket file left by a dead daemon is removed; one that
// still answers gives ErrAddressInUse. A unix socket gets the permission bits mode and,
// unless gid is -1, the group gid.
func listen(a spreadlink.Address, mode fs.FileMode, gid int) (net.Listener, error) {
	if a.Network != "unix" {
		ln, err := net.Listen(a.Network, a.Addr)
		if err != nil && errors.Is(err, errAddrInUse) {
			return nil, fmt.Errorf("%w: %w", ErrAddressInUse, err)
		}
		return ln, err
	}
	if fi, err := os.Lstat(a.Addr); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%w: %s exists and is not a socket", ErrAddressInUse, a.Addr)
		}
		if c, err := net.DialTimeout("unix", a.Addr, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s has a listener", ErrAddressInUse, a.Addr)
		}
		if err := os.Remove(a.Addr); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", a.Addr)
	if err != nil {
		if errors.Is(err, errAddrInUse) {
			return nil, fmt.Errorf("%w: %w", ErrAddressInUse, err)
		}
		return nil, err
	}
	if gid >= 0 {
		if err := os.Lchown(a.Addr, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket group %d: %w (the daemon's user must be root or a member of the group)", gid, err)
		}
	}
	if err := os.Chmod(a.Addr, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket mode %#o: %w", uint32(mode), err)
	}
	return ln, nil
}

// Addrs returns the bound addresses, with the real port where port 0 was asked for. It is
// empty before Start.
func (d *Daemon) Addrs() []spreadlink.Address {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]spreadlink.Address(nil), d.addrs...)
}

// Name returns the daemon name.
func (d *Daemon) Name() string { return d.cfg.Name }

// Run starts the daemon if needed, serves until ctx is done, then shuts down, giving the
// sessions a short time to receive what is queued for them.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Shutdown(sctx)
}

// Shutdown stops accepting, stops reading requests, flushes what is queued for every
// session (best effort, bounded by ctx and one second), closes every connection and waits
// for all goroutines. It is idempotent; later calls wait for the first to finish.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if d.shutdown {
		d.mu.Unlock()
		select {
		case <-d.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.shutdown = true
	lns := d.listeners
	deadline := time.Now().Add(d.goodbye)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	for s := range d.conns {
		s.goodbyeLocked(deadline)
	}
	close(d.stop)
	d.flow.Broadcast() // readers paused by flow control stop too
	d.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}

	waited := make(chan struct{})
	go func() { // untracked on purpose: it only waits, and ends with the others
		d.wg.Wait()
		close(waited)
	}()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = ctx.Err()
		d.mu.Lock()
		for s := range d.conns {
			s.nc.Close()
		}
		d.mu.Unlock()
		<-waited
	}
	close(d.done)
	d.log.Info("daemon stopped")
	return err
}

func (d *Daemon) acceptLoop(ln net.Listener) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait a little, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			d.log.Warn("accept failed", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		d.serve(nc)
	}
}

// serve starts the session goroutines for a new connection, or closes it when the daemon
// is shutting down.
func (d *Daemon) serve(nc net.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutdown {
		nc.Close()
		return
	}
	if !d.cfg.allowed(nc.RemoteAddr()) {
		d.log.Warn("connection refused: client address not allowed (see --allow)", "client", nc.RemoteAddr().String(), "code", spreadlink.RejectAuth.String())
		d.wg.Go(func() { d.reject(nc, spreadlink.RejectAuth) })
		return
	}
	if len(d.conns) >= d.cfg.MaxSessions {
		d.wg.Go(func() { d.reject(nc, spreadlink.RejectQuota) })
		return
	}
	d.nextConn++
	s := newSession(d, nc, d.nextConn)
	d.conns[s] = struct{}{}
	d.wg.Go(s.readLoop)
}

// stats is a snapshot for the gauges.
type stats struct {
	sessions, groups        int
	queuedMsgs, queuedBytes int
}

func (d *Daemon) stats() stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := stats{sessions: len(d.privs), groups: len(d.groups)}
	for s := range d.conns {
		st.queuedMsgs += s.outMsgs
		st.queuedBytes += len(s.out)
	}
	return st
}
