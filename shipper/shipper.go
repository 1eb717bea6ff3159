package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxBatchBytes is the largest batch body Config.BatchBytes may ask for: one batch
// v1 envelope, with the longest header (a host name of envelope.MaxHostLen), must fit
// into the largest Spread message.
const MaxBatchBytes = spreadlink.MaxBody - envelope.MaxBatchHeaderLen

// Config configures the sending half of a shipper: the Spread session, batching,
// the acknowledgement window and reconnection.
type Config struct {
	// Address of the Spread daemon (spreadlink.ParseAddress forms). Empty means "4803".
	Address string
	// Name is the requested private name; it must start with 's' (envelope.ShipperPrefix).
	// Empty picks "s" and 8 random characters at every connection.
	Name string
	// Group receives the batches.
	Group string
	// Service is the service level of batches and ack markers: spreadlink.Agreed (the
	// default), Safe, FIFO or Reliable. With Reliable, a returned marker does not prove
	// that the batches before it were ordered at every daemon.
	Service spreadlink.ServiceType
	// Compression is how batch bodies travel: CompressZstd (the default) sends batch v2,
	// each body one zstd frame compressed at CompressionLevel, and lets batches grow
	// while catching up (up to MaxBatchRaw raw bytes, as long as the frame fits into
	// one Spread message); CompressNone sends batch v1, uncompressed, for receivers that
	// do not decompress. Legacy ignores it.
	Compression string
	// CompressionLevel is the zstd level: "fastest" (the default), "default", "better"
	// or "best".
	CompressionLevel string
	// MaxBatchRaw bounds the raw (decompressed) bytes of a compressed batch; at least
	// BatchBytes, at most MaxCompressedRaw.
	MaxBatchRaw int
	// Legacy sends one raw message (type 0) per line, as mod_log_spread does, instead of
	// batch v1 envelopes. Receivers cannot de-duplicate raw lines: after a reconnect the
	// unacknowledged lines are sent again and may appear twice.
	Legacy bool
	// RequireCollector (the default) acknowledges batches only while a collector is
	// present: the shipper watches the membership of the group's presence group
	// (envelope.PresenceGroup), and after any moment without a collector it holds its
	// window (backpressure) until one is back, then sends the window again. Without it
	// a batch ordered while no collector is in the group is acknowledged and lost. Turn
	// it off for receivers that do not join the presence group (spreadlogd, legacy).
	RequireCollector bool
	// BatchBytes bounds a batch body; at most MaxBatchBytes. Sources must accept it as
	// the max argument of Next (for a source.Glob: at least source.Config.ChunkMax).
	BatchBytes int
	// BatchDelay is how long a small chunk waits for more lines of the same stream
	// before it is sent. Zero sends every chunk as it comes.
	BatchDelay time.Duration
	// Window bounds the batches sent and not yet acknowledged; WindowBytes bounds their
	// bytes. A full window stops reading the sources (backpressure).
	Window      int
	WindowBytes int
	// AckEvery sends an ack marker after at most this many batches (and always when no
	// further chunk is ready).
	AckEvery int
	// AckTimeout is how long a marker may take to come back before the connection is
	// presumed dead and replaced.
	AckTimeout time.Duration
	// CheckpointInterval paces checkpoint saves: after saving, the shipper waits this
	// long before saving again, and what was acknowledged meanwhile is saved in one
	// round (each save fsyncs twice; a busy stream is acknowledged hundreds of times a
	// second). After a crash at most this much more is resent; collectors drop it. The
	// final positions are saved at once when Run ends. 0 saves every acknowledgement.
	// A position whose save frees space (a stdin journal segment wholly acknowledged) is
	// saved at once.
	CheckpointInterval time.Duration
	// DrainTimeout bounds the wait for outstanding acknowledgements when Run's context
	// is cancelled.
	DrainTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between connection attempts; it doubles
	// after every failure, with random jitter of up to half of it.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Dialer opens connections; nil means a *net.Dialer.
	Dialer spreadlink.Dialer

	// Ack is the acknowledgement policy (see the package documentation). AckWritten
	// needs RequireCollector and not Legacy: receivers that do not join the presence
	// group never report progress.
	Ack AckPolicy
	// RequireCollectors names collectors (collect --name) that checkpoints wait for
	// without limit, even before they first appear (AckWritten).
	RequireCollectors []string
	// AbsentTimeout is how long checkpoints wait for a collector that left without a
	// clean stop (AckWritten).
	AbsentTimeout time.Duration
	// StateDir keeps the collectors' cursors (CursorsFile); empty keeps them in memory.
	StateDir string
	// Host is the name of this web host, carried in every batch header (the ExtHost
	// extension, envelope.ValidHost), so collectors can say where a line comes from
	// ({host} templates, host prefixes). Empty sends none. Legacy raw lines carry none.
	Host string
	// Tally counts each line once in Stats (read, re-read, acknowledged); share one
	// between Shippers that replace each other over the same sources (a reload). Nil:
	// the Shipper keeps its own.
	Tally *Tally
}

// written reports whether c acknowledges written lines (AckWritten in effect).
func (c *Config) written() bool { return c.Ack == AckWritten && c.RequireCollector && !c.Legacy }

// settles reports whether the shipper sends settled notices (envelope.FlagSettled):
// with AckOrdered, when it sends batches (not Legacy).
func (c *Config) settles() bool { return !c.written() && !c.Legacy }

// DefaultConfig returns the defaults: agreed service, zstd batches (fastest level, up to
// 1 MiB of lines while catching up), 64 KiB reads, 5 ms delay, a
// window of 64 batches or 8 MiB, a marker every 8 batches, 30 s ack timeout, 5 s drain,
// reconnect backoff from 100 ms to 10 s. Group must still be set.
func DefaultConfig() Config {
	return Config{
		Service:            spreadlink.Agreed,
		RequireCollector:   true,
		Compression:        CompressZstd,
		CompressionLevel:   "fastest",
		MaxBatchRaw:        1 << 20,
		BatchBytes:         64 << 10,
		BatchDelay:         5 * time.Millisecond,
		Window:             64,
		WindowBytes:        8 << 20,
		AckEvery:           8,
		AckTimeout:         30 * time.Second,
		DrainTimeout:       5 * time.Second,
		CheckpointInterval: time.Second,
		BackoffMin:         100 * time.Millisecond,
		BackoffMax:         10 * time.Second,
		Ack:                AckWritten,
		AbsentTimeout:      5 * time.Minute,
	}
}

// Validate checks c without changing it; its errors wrap ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if _, err := spreadlink.ParseAddress(c.Address); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := spreadlink.CheckGroupName(c.Group); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case c.Name != "" && (!spreadlink.ValidPrivateName(c.Name) || c.Name[0] != envelope.ShipperPrefix):
		return bad("private name %q: want 1..%d characters of '$'..'~' starting with %q (collectors' names start with %q)",
			c.Name, spreadlink.MaxPrivateName, envelope.ShipperPrefix, envelope.CollectorPrefix)
	case c.Service != spreadlink.Agreed && c.Service != spreadlink.Safe &&
		c.Service != spreadlink.FIFO && c.Service != spreadlink.Reliable:
		return bad("service %s: want agreed, safe, fifo or reliable", c.Service)
	case c.Host != "" && !envelope.ValidHost(c.Host):
		return bad("host %q: want 1..%d letters, digits, '-', '_' or '.', not starting with '.' or '-', without \"..\"", c.Host, envelope.MaxHostLen)
	case c.BatchBytes < 2 || c.BatchBytes > MaxBatchBytes:
		return bad("batch bytes %d outside 2..%d", c.BatchBytes, MaxBatchBytes)
	case c.BatchDelay < 0:
		return bad("batch delay %v", c.BatchDelay)
	case c.Compression != CompressZstd && c.Compression != CompressNone:
		return bad("compression %q: want %s or %s", c.Compression, CompressZstd, CompressNone)
	case c.Compression == CompressZstd && (c.MaxBatchRaw < c.BatchBytes || c.MaxBatchRaw > MaxCompressedRaw):
		return bad("max raw batch %d outside batch bytes %d..%d", c.MaxBatchRaw, c.BatchBytes, MaxCompressedRaw)
	case c.Window < 1:
		return bad("window %d below 1", c.Window)
	case c.WindowBytes < c.BatchBytes+envelope.BatchHeaderLen:
		return bad("window bytes %d below one batch", c.WindowBytes)
	case c.AckEvery < 1:
		return bad("ack every %d below 1", c.AckEvery)
	case c.AckTimeout <= 0:
		return bad("ack timeout %v", c.AckTimeout)
	case c.DrainTimeout < 0:
		return bad("drain timeout %v", c.DrainTimeout)
	case c.CheckpointInterval < 0:
		return bad("checkpoint interval %v", c.CheckpointInterval)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return bad("backoff %v..%v", c.BackoffMin, c.BackoffMax)
	case c.Ack != AckWritten && c.Ack != AckOrdered:
		return bad("ack policy %d", c.Ack)
	case c.Ack == AckWritten && c.Legacy:
		return bad("ack written with legacy: legacy receivers (spreadlogd) never report what they wrote; use ack ordered")
	case c.Ack == AckWritten && !c.RequireCollector:
		return bad("ack written without require collector: progress reports come through the presence group; use ack ordered")
	case c.Ack == AckWritten && c.AbsentTimeout <= 0:
		return bad("absent timeout %v: want a positive duration such as 5m", c.AbsentTimeout)
	}
	seen := map[string]bool{}
	for _, n := range c.RequireCollectors {
		switch {
		case !envelope.ValidCollectorName(n):
			return bad("required collector %q: want 1 to %d bytes of letters, digits, '.', '_' or '-' (a collector's --name)", n, envelope.MaxCollectorName)
		case seen[n]:
			return bad("required collector %q named twice", n)
		case c.Ack != AckWritten:
			return bad("required collectors need ack written")
		}
		seen[n] = true
	}
	if c.Compression == CompressZstd {
		if _, err := compressionLevel(c.CompressionLevel); err != nil {
			return err
		}
	}
	return nil
}

// Stats are running totals of a Shipper, for progress reports and tests.
type Stats struct {
	SentBatches uint64 // batches (legacy: lines) taken into the window to be multicast
	SentLines   uint64 // lines multicast: ReadLines plus RereadLines
	SentBytes   uint64 // body bytes
	// ReadLines and ReadBytes count the lines (and logical bytes) read from the
	// sources, each once (Tally); RereadLines and RereadBytes those read again: from a
	// checkpoint for a collector that came back lacking them (AckWritten), or by a
	// Shipper that replaced another (Config.Tally).
	ReadLines, ReadBytes     uint64
	RereadLines, RereadBytes uint64
	AckedBatches             uint64
	// AckedLines and AckedBytes count the lines (logical bytes) acknowledged, each once:
	// a line re-read and acknowledged again is not counted again.
	AckedLines uint64
	AckedBytes uint64
	Resent     uint64 // batches multicast again from the window (a reconnect, a collector back)
	Reconnects uint64 // sessions established after the first
	InFlight   int    // batches sent and not acknowledged
	Connected  bool
	// Collectors is the number of collectors in the presence group as last seen (0
	// while disconnected or without RequireCollector).
	Collectors int
	// WaitingForCollector is true while a moment without a collector holds the
	// acknowledgements back.
	WaitingForCollector bool
	// PresenceResends counts the window resends after a collector came back.
	PresenceResends uint64
	// LastConnectError is why the Spread daemon is not reached: the error of the last
	// failed connection attempt, or of the lost session before one; nil while connected
	// and before the first attempt failed.
	LastConnectError error
}

// A Shipper sends the chunks of its sources to a Spread group, waits for them to be
// ordered (acknowledged by its own markers), advances the sources' checkpoints, and
// resends what is unacknowledged after a reconnect. See the package documentation.
//
// Concurrency: Run must not be called concurrently with itself; Stats may be called at
// any time from any goroutine.
type Shipper struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	// link is the Spread session Run connects through.
	link *spreadlink.Session

	running atomic.Bool
	stats   struct {
		sentBatches, sentLines, sentBytes    atomic.Uint64
		readLines, readBytes                 atomic.Uint64
		rereadLines, rereadBytes             atomic.Uint64
		ackedBatches, ackedLines, ackedBytes atomic.Uint64
		resent, reconnects                   atomic.Uint64
		inFlight, collectors                 atomic.Int64
		connected, waiting                   atomic.Bool
		presenceResends                      atomic.Uint64
		// connectErr is the last failed connection attempt's error; nil while connected.
		connectErr atomic.Pointer[error]
	}
}

// New validates cfg and returns a Shipper whose metrics are registered in reg
// (nil: not registered).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register sender metrics: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tally == nil {
		cfg.Tally = NewTally()
	}
	s := &Shipper{cfg: cfg, log: log.With("component", "shipper", "group", cfg.Group), m: m}
	if s.link, err = spreadlink.NewSession(s.sessionConfig()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// Stats returns the running totals.
func (s *Shipper) Stats() Stats {
	st := &s.stats
	out := Stats{
		SentBatches: st.sentBatches.Load(), SentLines: st.sentLines.Load(), SentBytes: st.sentBytes.Load(),
		ReadLines: st.readLines.Load(), ReadBytes: st.readBytes.Load(),
		RereadLines: st.rereadLines.Load(), RereadBytes: st.rereadBytes.Load(),
		AckedBatches: st.ackedBatches.Load(), AckedLines: st.ackedLines.Load(), AckedBytes: st.ackedBytes.Load(),
		Resent: st.resent.Load(), Reconnects: st.reconnects.Load(),
		InFlight: int(st.inFlight.Load()), Connected: st.connected.Load(),
		Collectors: int(st.collectors.Load()), WaitingForCollector: st.waiting.Load(),
		PresenceResends: st.presenceResends.Load(),
	}
	if e := st.connectErr.Load(); e != nil {
		out.LastConnectError = *e
	}
	return out
}

// Run ships the chunks of sources until ctx is done, or, when every source is finite
// and has returned io.EOF, until everything was acknowledged (then it returns nil). On
// cancellation it stops reading, waits up to DrainTimeout for the acknowledgements of
// what was sent, records them, and returns nil. A source error other than io.EOF ends
// Run with that error (after the same bounded drain). A Spread daemon that is down or
// goes away is not an error: Run keeps reconnecting with backoff.
//
// Run does not close the sources; it calls their Next from one goroutine each, and Ack
// from one acknowledging goroutine, and returns only after all of them have stopped.
func (s *Shipper) Run(ctx context.Context, sources []source.Source) error {
	if len(sources) == 0 {
		return fmt.Errorf("%w: no sources", ErrConfig)
	}
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)

	ack := newAcker(s, sources)
	l := newSendLoop(s, sources, ack)
	if l.tr != nil {
		if err := l.loadCursors(); err != nil {
			return err
		}
	}
	var ackers sync.WaitGroup
	ackers.Go(ack.run)

	pctx, cancelPumps := context.WithCancel(ctx)
	defer cancelPumps()
	l.pctx = pctx
	for i := range sources {
		l.startPump(i)
	}
	err := l.run(ctx)
	l.stopPumps()
	ack.stop()
	ackers.Wait()
	return err
}

// pumpItem carries one chunk (or the end of a source) from a pump to the send loop.
type pumpItem struct {
	src int
	ch  source.Chunk
	err error // io.EOF or a source error; ch is empty
	// frame is ch.Data compressed (batch v2 body), or nil: send ch.Data uncompressed.
	// The send loop signals done once it copied frame and ch.Data.
	frame []byte
	done  chan<- struct{}
}

// readMax is the max argument of Next.
func (s *Shipper) readMax() int {
	if s.cfg.Legacy {
		// One line per raw message: lines up to the largest message pass whole.
		return max(s.cfg.BatchBytes, spreadlink.MaxBody)
	}
	return s.cfg.BatchBytes
}

// pump reads src and hands its chunks to the send loop, merging small contiguous chunks
// of one stream that come within BatchDelay.
func (s *Shipper) pump(ctx context.Context, idx int, src source.Source, out chan<- pumpItem) {
	post := func(it pumpItem) bool {
		select {
		case out <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	max := s.readMax()
	mergeMax := max
	var b *batcher
	if !s.cfg.Legacy && s.cfg.Compression == CompressZstd {
		var err error
		if b, err = newBatcher(s.cfg); err != nil {
			post(pumpItem{src: idx, err: err})
			return
		}
		defer b.close()
		mergeMax = s.cfg.MaxBatchRaw
	}
	var held source.Chunk
	have := false
	for {
		cur := held
		if have {
			have = false
		} else {
			c, err := b.next(ctx, src, max, nil)
			if err != nil {
				if ctx.Err() == nil {
					post(pumpItem{src: idx, err: err})
				}
				return
			}
			cur = c
		}
		var err error
		if b != nil {
			b.reset(&cur)
		}
		if s.cfg.BatchDelay > 0 && mergeable(&cur) && len(cur.Data) < mergeMax/2 {
			cur, held, have, err = s.merge(ctx, src, cur, max, mergeMax, b)
		}
		if b != nil {
			if !b.emit(ctx, cur, post, idx, s.m) {
				return
			}
		} else if !post(pumpItem{src: idx, ch: cur}) {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				post(pumpItem{src: idx, err: err})
			}
			return
		}
	}
}

// mergeable reports whether c holds whole lines that may share a batch with others.
func mergeable(c *source.Chunk) bool { return c.Flags == 0 && c.Span == uint64(len(c.Data)) }

// merge appends to cur the chunks src returns (Next(max)) within BatchDelay while they
// continue cur's stream and fit in mergeMax. A chunk that does not is returned as next
// (have). With a batcher (compression) the batch is gathered in the batcher's buffer,
// each chunk read straight into it when src is a source.Appender, and each chunk
// appended is recorded in b.
func (s *Shipper) merge(ctx context.Context, src source.Source, cur source.Chunk, max, mergeMax int, b *batcher) (out, next source.Chunk, have bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.BatchDelay)
	defer cancel()
	var buf []byte // the batch's data once gathered in one buffer
	if b != nil {
		// The send loop copied the last batch before emit returned: the batcher's
		// buffer is free again (a fresh 1 MiB per batch cost a clear and GC).
		if !b.holds(cur.Data) {
			b.merged = append(b.buffer(mergeMax), cur.Data...)
			cur.Data = b.merged
		}
		buf = cur.Data
		defer func() { b.merged = buf }()
	}
	for len(cur.Data) < mergeMax {
		nx, err := b.next(dctx, src, max, buf)
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return cur, source.Chunk{}, false, nil
			}
			return cur, source.Chunk{}, false, err
		}
		if !mergeable(&nx) || nx.Stream != cur.Stream || nx.Epoch != cur.Epoch || nx.Offset != cur.End() || len(cur.Data)+len(nx.Data) > mergeMax {
			if follows(buf, nx.Data) {
				// Read into the buffer, which the next batch reuses.
				nx.Data = bytes.Clone(nx.Data)
			}
			return cur, nx, true, nil
		}
		switch {
		case follows(buf, nx.Data): // read in place
			buf = buf[:len(buf)+len(nx.Data)]
		case buf == nil:
			buf = make([]byte, 0, mergeMax)
			buf = append(append(buf, cur.Data...), nx.Data...)
		default:
			buf = append(buf, nx.Data...)
		}
		cur.Data = buf
		cur.Span += nx.Span
		cur.Lines += nx.Lines
		cur.Pos = nx.Pos
		if b != nil {
			b.add(&cur)
		}
	}
	return cur, source.Chunk{}, false, nil
}

// follows reports whether data lies just past the end of buf, in its array (read there
// by a source.Appender).
func follows(buf, data []byte) bool {
	return len(data) > 0 && cap(buf) > len(buf) && &buf[:len(buf)+1][len(buf)] == &data[0]
}

// isEOF reports whether a pump's error is the end of a finite source.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }
