package shipper

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

// startTestDaemon starts an embedded daemon listening on sock (a unix socket path) and on
// a free loopback TCP port. It is stopped at the end of the test (or by its Stop).
func startTestDaemon(t testing.TB, sock string) *testsupport.Daemon {
	t.Helper()
	// Tests stop daemons mid-stream and count on the goodbye delivering every queued
	// message, also on a loaded -race machine.
	return testsupport.StartDaemon(t, testsupport.WithSocket(sock), testsupport.WithSessionBounds(20000, 0),
		testsupport.WithShutdownFlush(10*time.Second))
}

// sockPath returns a unix socket path in a fresh temp directory.
func sockPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(testsupport.SocketDir(t), "4803")
}

// receiver is the receiving test client: it connects as a collector does (private
// name "c…", joins the group, then its presence group), feeds every delivery to a
// collector.Sequencer (which de-duplicates by stream and offset), and keeps the output.
// It reconnects when the daemon goes away, unless held (leave).
type receiver struct {
	t     testing.TB
	addr  string
	group string
	opts  receiverOptions
	seq   *collector.Sequencer
	dec   envelope.Decoder // for its own checks; seq decodes again
	stop  chan struct{}
	wg    sync.WaitGroup
	ready chan struct{}

	mu         sync.Mutex // Guards the fields below.
	out        []byte
	settled    int               // settled notices (envelope.FlagSettled)
	raw        int               // raw (type 0) messages
	batches    int               // batch messages, duplicates included
	compressed int               // of them, compressed (batch v2)
	maxRaw     uint32            // the largest raw length of a batch
	perStream  map[uint64]uint64 // logical bytes delivered per stream (duplicates included)
	ends       map[uint64]uint64 // highest batch end delivered per stream
	conn       *spreadlink.Conn
	sessions   int
	joined     int // sessions that saw their last join (the presence group's, if any)
	// dataBeforeCollector is how many data messages arrived before the first membership
	// message showing another collector in the presence group (-1: none seen yet).
	dataBeforeCollector int
	hold                chan struct{} // not nil: do not reconnect until it is closed
	left                chan struct{} // closed when a graceful leave has ended the session
	bad                 []string
}

// receiverOptions change how a receiver connects.
type receiverOptions struct {
	prefix     byte // first byte of the private name; 0 means envelope.CollectorPrefix
	noPresence bool // join only the group (a legacy receiver)
}

func startReceiver(t testing.TB, addr, group string) *receiver {
	t.Helper()
	return startReceiverOpts(t, addr, group, receiverOptions{})
}

func startReceiverOpts(t testing.TB, addr, group string, opts receiverOptions) *receiver {
	t.Helper()
	if opts.prefix == 0 {
		opts.prefix = envelope.CollectorPrefix
	}
	seq, err := collector.NewSequencer(collector.DefaultSequencerConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zdec.Close)
	r := &receiver{t: t, addr: addr, group: group, opts: opts, seq: seq, dec: envelope.Decoder{Decompressor: zdec}, stop: make(chan struct{}),
		ready: make(chan struct{}), perStream: map[uint64]uint64{}, ends: map[uint64]uint64{}, dataBeforeCollector: -1}
	r.wg.Go(r.run)
	t.Cleanup(r.close)
	testsupport.Done(t, r.ready, "receiver joined")
	return r
}

func (r *receiver) close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	r.mu.Lock()
	if r.conn != nil {
		r.conn.Abort()
	}
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.seq.Close()
}

// away ends the receiver's session and keeps it away until back is called.
func (r *receiver) away() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = make(chan struct{})
	if r.conn != nil {
		r.conn.Abort()
	}
}

// back lets a receiver kept away connect again.
func (r *receiver) back() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
}

func (r *receiver) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *receiver) run() {
	first := true
	for !r.stopped() {
		r.mu.Lock()
		hold := r.hold
		r.mu.Unlock()
		if hold != nil {
			select {
			case <-r.stop:
				return
			case <-hold:
			}
			continue
		}
		presence := envelope.PresenceGroup(r.group)
		last := presence
		if r.opts.noPresence {
			last = r.group
		}
		c, err := spreadlink.Dial(context.Background(), spreadlink.Config{Address: r.addr,
			Name: envelope.RandomPrivateName(r.opts.prefix), Membership: true})
		if err != nil {
			select {
			case <-r.stop:
				return
			case <-time.After(10 * time.Millisecond): // reconnect pace, not synchronisation
			}
			continue
		}
		r.mu.Lock()
		r.conn = c
		r.sessions++
		r.mu.Unlock()
		if r.stopped() {
			c.Abort()
			return
		}
		if err := c.Join(r.group); err != nil {
			c.Abort()
			continue
		}
		if !r.opts.noPresence {
			if err := c.Join(presence); err != nil {
				c.Abort()
				continue
			}
		}
		var m spreadlink.Message
		for {
			if err := c.Receive(&m); err != nil {
				break
			}
			if m.Service.IsSelfLeave() && m.Sender == presence {
				// A graceful leave: everything ordered before it was read.
				r.mu.Lock()
				if r.left != nil {
					close(r.left)
					r.left = nil
				}
				r.mu.Unlock()
				break
			}
			if m.Service.IsMembership() {
				if m.Service.IsRegMemb() && m.Sender == presence {
					r.noteCollectors(&m, c.PrivateGroup())
				}
				if m.Service.IsRegMemb() && m.Service&spreadlink.CausedByJoin != 0 && m.Sender == last &&
					m.Membership != nil && m.Membership.Changed == c.PrivateGroup() {
					r.mu.Lock()
					r.joined++
					r.mu.Unlock()
					if first {
						first = false
						close(r.ready)
					}
				}
				continue
			}
			if m.Service.IsRegular() {
				r.deliver(&m)
			}
		}
		c.Close()
		r.mu.Lock()
		r.conn = nil
		r.seq.ConnectionLost()
		r.mu.Unlock()
	}
}

func (r *receiver) deliver(m *spreadlink.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m.MessType {
	case envelope.MessTypeRaw:
		r.raw++
	case envelope.MessTypeBatch:
		r.batches++
		b, err := r.dec.Decode(m.Data)
		if err != nil {
			r.bad = append(r.bad, err.Error())
			return
		}
		h := b.Header
		if h.IsSettled() { // not a batch: what it settles is counted by seq
			r.batches--
			r.settled++
			break
		}
		r.maxRaw = max(r.maxRaw, h.RawLen)
		if h.Flags&envelope.FlagZstd != 0 {
			r.compressed++
			if b.Frame == nil {
				r.bad = append(r.bad, "compressed batch is not one zstd frame (batch v2)")
			}
		}
		r.perStream[h.Stream] += h.Span
		r.ends[h.Stream] = max(r.ends[h.Stream], h.End())
	}
	var err error
	r.out, err = r.seq.Process(r.out, m.MessType, m.Data)
	if err != nil {
		r.bad = append(r.bad, err.Error())
	}
}

// noteCollectors records, at the first membership of the presence group that holds a
// collector other than the receiver itself, how many data messages came before it.
// Membership and data share one total order, so these were ordered before any other
// collector was present.
func (r *receiver) noteCollectors(m *spreadlink.Message, self string) {
	if m.Membership == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dataBeforeCollector >= 0 {
		return
	}
	for _, member := range m.Membership.Members {
		if member != self && envelope.IsCollector(member) {
			r.dataBeforeCollector = r.raw + r.batches
			return
		}
	}
}

// waitCollector waits until the receiver has seen another collector in the presence
// group and returns how many data messages it received before (see noteCollectors).
func (r *receiver) waitCollector(t testing.TB) int {
	t.Helper()
	n := -1
	testsupport.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		n = r.dataBeforeCollector
		return n >= 0
	}, "receiver has seen no collector join the presence group")
	return n
}

// end returns the highest batch end delivered for stream.
func (r *receiver) end(stream uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ends[stream]
}

func (r *receiver) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.out)
}

func (r *receiver) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.out)
}

func (r *receiver) stats() collector.SequencerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq.Stats()
}

func (r *receiver) streams() map[uint64]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[uint64]uint64, len(r.perStream))
	for k, v := range r.perStream {
		m[k] = v
	}
	return m
}

// waitLen waits until the receiver holds at least n bytes of output.
func (r *receiver) waitLen(n int) {
	r.t.Helper()
	testsupport.EventuallyErr(r.t, func() error {
		if got := r.len(); got < n {
			return fmt.Errorf("receiver has %d bytes, want %d", got, n)
		}
		return nil
	})
}

// expect waits for want and compares it with the output, byte for byte.
func (r *receiver) expect(want []byte) {
	r.t.Helper()
	r.waitLen(len(want))
	got := r.bytes()
	r.mu.Lock()
	bad := r.bad
	r.mu.Unlock()
	for _, b := range bad {
		r.t.Errorf("bad message: %s", b)
	}
	if !bytes.Equal(got, want) {
		r.t.Fatalf("received %d bytes, differ from the %d sent; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

// testSendConfig returns a Config for tests against addr.
func testSendConfig(addr, group string) Config {
	c := DefaultConfig()
	c.Address = addr
	c.Group = group
	c.BackoffMin = 5 * time.Millisecond
	c.BackoffMax = 50 * time.Millisecond
	c.DrainTimeout = 5 * time.Second
	// The receivers of these tests report no progress: acknowledge what is ordered.
	c.Ack = AckOrdered
	return c
}

// runningShipper is a Shipper run in a goroutine, stopped at the end of the test.
type runningShipper struct {
	*Shipper
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startShipper(t testing.TB, cfg Config, srcs ...source.Source) *runningShipper {
	t.Helper()
	reg := prometheus.NewRegistry()
	sh, err := New(cfg, testsupport.Logger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningShipper{Shipper: sh, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() { // owned: stop waits for done
		defer close(rs.done)
		rs.err = sh.Run(ctx, srcs)
	}()
	t.Cleanup(func() { rs.stop() })
	return rs
}

// stop cancels Run and waits for it.
func (rs *runningShipper) stop() error {
	rs.cancel()
	<-rs.done
	return rs.err
}

// waitAcked waits until the shipper has acknowledged n logical bytes.
func (rs *runningShipper) waitAcked(t testing.TB, n uint64) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); st.AckedBytes < n {
			return fmt.Errorf("acked %d bytes, want %d (stats %+v)", st.AckedBytes, n, st)
		}
		return nil
	})
}

// freezeDialer dials for real but lets a test freeze the reading side of every
// connection made so far (a daemon that stopped delivering), to exercise the ack timeout.
type freezeDialer struct {
	d      net.Dialer
	frozen atomic.Bool
	dials  atomic.Int32
}

func (f *freezeDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := f.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	f.dials.Add(1)
	return &freezeConn{Conn: c, f: f, frozenAtDial: f.frozen.Load(), closed: make(chan struct{})}, nil
}

type freezeConn struct {
	net.Conn
	f            *freezeDialer
	frozenAtDial bool
	once         sync.Once
	closed       chan struct{}
	reads        atomic.Int64
}

func (c *freezeConn) Read(b []byte) (int, error) {
	// Connections made after the freeze work: only the handshake and the old sessions
	// are affected (reads after the first few).
	frozen := func() bool { return c.f.frozen.Load() && !c.frozenAtDial && c.reads.Load() > 0 }
	if frozen() {
		<-c.closed
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(b)
	if frozen() { // what arrives after the freeze is never seen
		<-c.closed
		return 0, net.ErrClosed
	}
	c.reads.Add(1)
	return n, err
}

func (c *freezeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// appender appends to a file from its own goroutine until stopped, keeping a copy of
// everything it wrote.
type appender struct {
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu   sync.Mutex // Guards want.
	want bytes.Buffer
}

// startAppender appends next(0), next(1), ... to path, pausing for pause after each
// write (0: none), until stop or the end of the test.
func startAppender(t testing.TB, path string, pause time.Duration, next func(i int) []byte) *appender {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := &appender{quit: make(chan struct{})}
	a.wg.Go(func() {
		defer f.Close()
		for i := 0; ; i++ {
			select {
			case <-a.quit:
				return
			default:
			}
			b := next(i)
			a.mu.Lock()
			a.want.Write(b)
			_, werr := f.Write(b)
			a.mu.Unlock()
			if werr != nil {
				t.Error(werr)
				return
			}
			if pause > 0 {
				time.Sleep(pause)
			}
		}
	})
	t.Cleanup(func() { a.stop() })
	return a
}

// stop ends the writing and returns a copy of everything written.
func (a *appender) stop() []byte {
	a.once.Do(func() { close(a.quit) })
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.want.Bytes())
}
