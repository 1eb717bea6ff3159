package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/spreadlink"
)

const (
	readBufferSize = 128 << 10
	// maxSpare is the largest outbound buffer a writer keeps for reuse.
	maxSpare = 16 << 20
)

var errRejected = errors.New("session rejected")

// session is one client connection.
type session struct {
	d   *Daemon
	nc  net.Conn
	br  *bufio.Reader
	seq int    // connection number, used in invented names
	buf []byte // the reader's frame buffer

	// Set during the handshake, before the session is visible to others; read-only after.
	name       string                        // private name
	private    string                        // private group, "#name#daemon"
	privSlot   [spreadlink.GroupNameLen]byte // private group, NUL-padded
	membership bool                          // wants membership messages

	wake chan struct{} // capacity 1: "the queue is not empty"
	quit chan struct{} // closed by endSessionLocked

	// Guarded by d.mu.
	out       []byte        // deliveries queued for the writer
	outMsgs   int           // number of deliveries in out
	groups    []*group      // groups joined, in join order
	seen      uint64        // the last delivery epoch that reached this session
	dead      bool          // takes no more deliveries
	ended     bool          // left its groups and the tables; quit is closed
	graceful  bool          // the daemon is shutting down: flush out before closing
	hasWriter bool          // the writer goroutine was started
	kick      string        // why the session was kicked (kickQueueFull, kickStalled), if it was
	over      bool          // above its soft mark (flow control)
	overSince time.Duration // when it went over, on the daemon's clock
	parked    bool          // its reader waits in waitFlow (tests watch it)
	dropped   uint64        // best effort: messages dropped since the last drop notice

	// lossless is set during the handshake: the session must not lose data, so flow
	// control waits for it; otherwise it is best effort (Config.LosslessPrefixes).
	lossless bool
	// bye is the deadline of the graceful close at shutdown (Unix nanoseconds), 0
	// before; the writer never sets a write deadline past it.
	bye atomic.Int64

	// progress is the daemon-clock time of the writer's last completed chunk (flow
	// control): a session that is over and makes none for StallTimeout is stalled.
	progress atomic.Int64
	// full says the writer's last write timed out having written nothing (flow
	// control): the client's socket buffer is full, and stays so until it reads.
	full atomic.Bool
}

func newSession(d *Daemon, nc net.Conn, seq int) *session {
	return &session{
		d:    d,
		nc:   nc,
		seq:  seq,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
	}
}

// readLoop runs the handshake, then reads requests until the session ends.
func (s *session) readLoop() {
	err := s.handshake()
	if err == nil {
		err = s.requests()
	}
	d := s.d
	d.mu.Lock()
	d.endSessionLocked(s, err)
	d.reapLocked()
	d.mu.Unlock()
}

// goodbyeLocked starts the graceful close of a session at shutdown: the reader stops at
// once, the writer flushes what is queued until deadline, then closes.
func (s *session) goodbyeLocked(deadline time.Time) {
	s.graceful = true
	s.bye.Store(deadline.UnixNano())
	_ = s.nc.SetReadDeadline(time.Unix(1, 0))
	_ = s.nc.SetWriteDeadline(deadline)
}

func (s *session) handshake() error {
	d := s.d
	// Under the lock: a Shutdown that came first has set a read deadline in the past
	// (goodbyeLocked), which this one must not replace.
	d.mu.Lock()
	if d.shutdown {
		d.mu.Unlock()
		return ErrShutdown
	}
	_ = s.nc.SetDeadline(time.Now().Add(d.cfg.HandshakeTimeout))
	d.mu.Unlock()
	s.br = bufio.NewReaderSize(s.nc, readBufferSize)
	h, code, err := readHello(s.br)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if code != 0 {
		s.reject(code)
		return fmt.Errorf("%w: %s (hello version %d, name %q)", errRejected, code, h.version, h.name)
	}
	s.membership = h.membership
	if code := d.reserveName(s, h.name); code != 0 {
		s.reject(code)
		return fmt.Errorf("%w: %s (name %q)", errRejected, code, h.name)
	}
	if h.version >= authVersion {
		if _, err := s.nc.Write(authOffer); err != nil {
			return fmt.Errorf("write auth offer: %w", err)
		}
		var choice [spreadlink.AuthChoiceLen]byte
		if _, err := io.ReadFull(s.br, choice[:]); err != nil {
			return fmt.Errorf("read auth choice: %w", err)
		}
		if !acceptAuth(choice[:]) {
			s.reject(spreadlink.RejectAuth)
			return fmt.Errorf("%w: %s (%q)", errRejected, spreadlink.RejectAuth, bytes.TrimRight(choice[:], "\x00"))
		}
	}
	// Register first, so that the session is addressable once the client knows its name;
	// deliveries queue up until the writer starts, after the accept is written.
	d.mu.Lock()
	if s.ended || d.shutdown {
		d.mu.Unlock()
		return ErrShutdown
	}
	d.privs[s.private] = s
	d.mu.Unlock()
	if _, err := s.nc.Write(appendAccept(nil, h.version, s.private)); err != nil {
		return fmt.Errorf("write accept: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.ended || d.shutdown {
		return ErrShutdown
	}
	_ = s.nc.SetDeadline(time.Time{})
	s.hasWriter = true
	d.wg.Go(s.writeLoop)
	d.m.sessionsAccepted.Inc()
	d.log.Debug("session accepted", "private", s.private, "version", h.version, "membership", s.membership)
	return nil
}

// reserveName claims the private name (or invents one) and sets the session's names.
func (d *Daemon) reserveName(s *session, name string) spreadlink.Code {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name == spreadlink.NoticeName {
		return spreadlink.RejectNotUnique // the daemon's own notices come from it
	}
	if name == "" {
		for {
			name = fmt.Sprintf("r%d-%d", rand.IntN(9999), s.seq)
			name = name[:min(len(name), 9)]
			if d.names[name] == nil {
				break
			}
		}
	} else if d.names[name] != nil {
		return spreadlink.RejectNotUnique
	}
	d.names[name] = s
	s.name = name
	s.lossless = d.cfg.lossless(name)
	s.private = "#" + name + d.suffix
	copy(s.privSlot[:], s.private)
	return 0
}

// reject refuses the session with code. Its name and its place among MaxSessions are
// released first, so that a client that saw the code can retry at once.
func (s *session) reject(code spreadlink.Code) {
	s.d.mu.Lock()
	if s.name != "" && s.d.names[s.name] == s {
		delete(s.d.names, s.name)
	}
	delete(s.d.conns, s)
	s.d.mu.Unlock()
	s.d.reject(s.nc, code)
}

// reject refuses a connection with code, then closes it without discarding the code:
// a close with unread input would reset the connection before the client read it.
func (d *Daemon) reject(nc net.Conn, code spreadlink.Code) {
	d.m.rejects.WithLabelValues(code.String()).Inc()
	_ = nc.SetDeadline(time.Now().Add(250 * time.Millisecond))
	if _, err := nc.Write([]byte{byte(int8(code))}); err == nil {
		if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
		}
	}
	nc.Close()
}

// requests reads, validates and orders one request after the other.
func (s *session) requests() error {
	const hl = spreadlink.HeaderLen
	if s.buf == nil {
		s.buf = make([]byte, 4096)
	}
	for {
		// Flow control: a paused daemon takes no request, membership requests included.
		if s.d.paused.Load() {
			if err := s.d.waitFlow(s); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(s.br, s.buf[:hl]); err != nil {
			return err
		}
		req, err := parseRequest(s.buf[:hl])
		if err == nil && string(spreadlink.SlotName(s.buf[4:36])) != s.private {
			err = fmt.Errorf("%w: sender %q is not %q", errProtocol, spreadlink.SlotName(s.buf[4:36]), s.private)
		}
		if err != nil {
			s.d.m.violations.Inc()
			return err
		}
		n := req.size()
		if n > len(s.buf) {
			nb := make([]byte, max(n, 2*len(s.buf)))
			copy(nb, s.buf[:hl])
			s.buf = nb
		}
		frame := s.buf[:n]
		if _, err := io.ReadFull(s.br, frame[hl:]); err != nil {
			return err
		}
		copy(frame[4:36], s.privSlot[:])
		s.d.m.messagesIn.Inc()
		s.d.m.bytesIn.Add(float64(n))
		if err := s.d.order(s, req, frame); err != nil {
			return err
		}
	}
}

// progressTick bounds one blocked Write with flow control on (see progressTick); it
// follows Reconfigure.
func (d *Daemon) progressTick() time.Duration { return time.Duration(d.tick.Load()) }

// write writes buf in chunks of at most writeChunk bytes. With flow control, every
// write is bounded by progressTick, and every byte the client takes is recorded as
// progress for the stall watcher: only a client that takes nothing is stalled.
func (s *session) write(buf []byte) error {
	flow := s.d.cfg.FlowControl
	for len(buf) > 0 {
		k := min(len(buf), writeChunk)
		if flow {
			dl := time.Now().Add(s.d.progressTick())
			if bye := s.bye.Load(); bye != 0 && dl.UnixNano() > bye {
				dl = time.Unix(0, bye)
			}
			_ = s.nc.SetWriteDeadline(dl)
		}
		n, err := s.nc.Write(buf[:k])
		buf = buf[n:]
		if flow && n > 0 {
			s.progress.Store(int64(s.d.now()))
			s.full.Store(false)
		}
		if err != nil {
			var ne net.Error
			if flow && errors.As(err, &ne) && ne.Timeout() {
				if n == 0 {
					s.full.Store(true)
				}
				// A progress tick, not the end: the stall watcher decides (a kick
				// closes the connection), or the goodbye deadline at shutdown.
				if bye := s.bye.Load(); bye == 0 || time.Now().UnixNano() < bye {
					continue
				}
			}
			return err
		}
	}
	return nil
}

// writeLoop writes the session's queue, coalescing everything queued since the last
// write into one Write.
func (s *session) writeLoop() {
	d := s.d
	var spare []byte
	for {
		select {
		case <-s.wake:
		case <-s.quit:
		}
		d.mu.Lock()
		buf, n := d.takeLocked(s, spare)
		ended, graceful := s.ended, s.graceful
		d.mu.Unlock()
		if ended && !graceful {
			return // endSessionLocked closed the connection and dropped the queue
		}
		if len(buf) > 0 {
			if err := s.write(buf); err != nil {
				d.mu.Lock()
				d.endSessionLocked(s, fmt.Errorf("write: %w", err))
				d.reapLocked()
				d.mu.Unlock()
				s.nc.Close()
				return
			}
			d.m.messagesOut.Add(float64(n))
			d.m.bytesOut.Add(float64(len(buf)))
		}
		spare = nil
		if cap(buf) <= maxSpare {
			spare = buf[:0]
		}
		if ended {
			s.nc.Close()
			return
		}
	}
}
