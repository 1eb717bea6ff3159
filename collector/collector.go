package collector

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

// StateFileName is the name of the collector's state file inside Config.StateDir.
const StateFileName = "collector.state"

// DefaultVhostName is the vhost name lines go to when they carry no usable vhost.
const DefaultVhostName = "_default"

// DefaultHostName is the host name of lines that carry none (raw messages, shippers
// that send no host) or an unsafe one, in {host} templates and host prefixes.
const DefaultHostName = "_unknown"

// DefaultFormat is the log format the vhost of a line is read with when a LogConfig
// names none.
const DefaultFormat = "vhost_combined"

// LogConfig names one log: the lines delivered on one Spread group, written to
// segments named by a template.
type LogConfig struct {
	// Group is the Spread group to join (validated with ValidateGroup).
	Group string `yaml:"group"`
	// Template names the segments, relative to Config.Dir, or absolute: then the
	// directory before its first field is the log's own output directory, confined
	// as Dir is (see segment.Template). When it holds {vhost}, each line goes to the
	// log of its virtual host.
	Template string `yaml:"path"`
	// Format is the log format the vhost is read from (a name known to formats.Named,
	// or a format string for formats.Compile); only used with {vhost}. Empty means
	// "vhost_combined".
	Format string `yaml:"format"`
	// HostPrefix starts every line written with the name of the web host it came from
	// (the batch header's host, ship --host) and a space; lines that carry none get
	// Config.DefaultHost. Gap markers are written as they are.
	HostPrefix bool `yaml:"host_prefix"`
}

// Config configures a Collector.
type Config struct {
	// Spread is the daemon address (spreadlink.ParseAddress); empty means "4803".
	Spread string
	// Name is the collector's stable name across restarts, sent in its progress
	// reports (envelope.ValidCollectorName): shippers keep per name what it has
	// written. Empty means DefaultName(Dir).
	Name string
	// PrivateName is the Spread private name asked for; it must start with 'c'
	// (envelope.CollectorPrefix), which is what makes shippers count this session as a
	// collector. Empty picks "c" and 8 random characters at every connection.
	PrivateName string
	// Logs are the logs to write; at least one, one per group.
	Logs []LogConfig
	// Dir is the output directory every template is relative to. It is created if
	// missing. No name can leave it (os.Root).
	Dir string
	// StateDir holds the state file (StateFileName); empty means Dir.
	StateDir string

	// Config configures every segment writer: Compression, FlushBytes,
	// RotateBytes, RotateInterval, Fsync, UTC and the clock Now (nil: time.Now).
	segment.Config
	// FlushInterval is how often every open segment is flushed (one frame closed)
	// and the state file saved. Default 1s.
	FlushInterval time.Duration

	// GapMarkers writes "# logspread gap ..." lines where data may be missing: before
	// the first line after a stream gap (in that line's log) and, after a lost
	// session, in every open log.
	GapMarkers bool
	// MaxHoles bounds the holes kept per stream (SequencerConfig.MaxHoles); beyond
	// it the lowest hole becomes a counted gap. Zero means DefaultMaxHoles.
	MaxHoles int
	// MaxLine bounds a reassembled fragmented line (SequencerConfig.MaxLine); zero
	// means the sequencer default.
	MaxLine int
	// MaxStreams bounds the streams whose de-duplication state is kept in full, and
	// the records kept of expired ones (SequencerConfig.MaxStreams). Beyond it the
	// least recently active stream whose lines are all written expires. Zero means
	// DefaultMaxStreams.
	MaxStreams int
	// StreamExpiry is how long a stream may go without a batch before its state
	// expires (Sequencer.Expire: its holes become counted gaps, a record of the span
	// it had is kept, so a batch of it that comes back is de-duplicated against the
	// record). Zero means DefaultStreamExpiry.
	StreamExpiry time.Duration
	// ReassemblyBytes bounds the bytes of fragmented lines being reassembled over
	// every stream (SequencerConfig.ReassemblyBytes); zero means
	// DefaultReassemblyBytes.
	ReassemblyBytes int
	// MaxLogs bounds the logs (group, or group and vhost) the collector remembers
	// without an open writer: their last segment (so their next writer appends to
	// it), the vhost names validated per log, the names refused. Beyond it the
	// memory of one log is forgotten (counted). Zero means DefaultMaxLogs.
	MaxLogs int
	// DefaultVhost receives the lines of a {vhost} log whose vhost is missing or not a
	// safe file name. Default "_default".
	DefaultVhost string
	// DefaultHost is the host of lines that carry none, or one that is not a safe
	// file name (ValidateHost), for {host} templates and host prefixes. Default
	// "_unknown".
	DefaultHost string
	// MaxOpenWriters bounds the open segment writers (one per log, or per log and
	// vhost); beyond it the least recently used is closed. Default 64. Each active
	// writer holds up to FlushBytes of lines plus its compressor state.
	MaxOpenWriters int

	// QueueBytes bounds the delivered messages waiting for the writer. When the
	// queue is full the reader stops reading: the embedded daemon's flow control then
	// slows the shippers down; a real Spread daemon disconnects the session once its
	// own per-session queue overflows (a recorded gap). Never unbounded memory.
	// Default 32 MiB.
	QueueBytes int
	// ReconnectMin and ReconnectMax bound the exponential backoff (with jitter)
	// between connection attempts. Defaults 100ms and 10s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// WriteRetryMax bounds the backoff between retries of a failed segment write or
	// state save (spreadlink.Backoff from 50ms). Default 5s.
	WriteRetryMax time.Duration
	// DrainTimeout (the stop timeout) bounds how long Run keeps retrying failed writes
	// after its context is done; the lines still unwritten then are lost, logged with
	// their count, and Run returns an error. Default 20s: shorter than the unit's
	// TimeoutStopSec (30s), so the collector says what it lost before systemd kills it.
	DrainTimeout time.Duration

	// Dialer opens the connection to the daemon; nil means a *net.Dialer.
	Dialer spreadlink.Dialer
}

// DefaultStopTimeout is the default DrainTimeout.
const DefaultStopTimeout = 20 * time.Second

// DefaultMaxLogs is the default MaxLogs.
const DefaultMaxLogs = 4096

// DefaultConfig returns a Config with the defaults filled in and no logs.
func DefaultConfig() Config {
	return Config{
		Spread:          "4803",
		Dir:             ".",
		Config:          segment.DefaultConfig(),
		FlushInterval:   time.Second,
		DefaultVhost:    DefaultVhostName,
		DefaultHost:     DefaultHostName,
		MaxOpenWriters:  64,
		MaxStreams:      DefaultMaxStreams,
		StreamExpiry:    DefaultStreamExpiry,
		ReassemblyBytes: DefaultReassemblyBytes,
		MaxLogs:         DefaultMaxLogs,
		QueueBytes:      32 << 20,
		ReconnectMin:    100 * time.Millisecond,
		ReconnectMax:    10 * time.Second,
		WriteRetryMax:   5 * time.Second,
		DrainTimeout:    DefaultStopTimeout,
	}
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Spread == "" {
		c.Spread = d.Spread
	}
	if c.Dir == "" {
		c.Dir = d.Dir
	}
	if c.StateDir == "" {
		c.StateDir = c.Dir
	}
	if c.Name == "" {
		c.Name = DefaultName(c.Dir)
	}
	if c.Compression == "" {
		c.Compression = d.Compression
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = d.FlushBytes
	}
	if c.Fsync == "" {
		c.Fsync = d.Fsync
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.DefaultVhost == "" {
		c.DefaultVhost = d.DefaultVhost
	}
	if c.DefaultHost == "" {
		c.DefaultHost = d.DefaultHost
	}
	if c.MaxHoles == 0 {
		c.MaxHoles = DefaultMaxHoles
	}
	if c.MaxOpenWriters == 0 {
		c.MaxOpenWriters = d.MaxOpenWriters
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = d.MaxStreams
	}
	if c.StreamExpiry == 0 {
		c.StreamExpiry = d.StreamExpiry
	}
	if c.ReassemblyBytes == 0 {
		c.ReassemblyBytes = d.ReassemblyBytes
	}
	if c.MaxLogs == 0 {
		c.MaxLogs = d.MaxLogs
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = d.ReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(d.ReconnectMax, c.ReconnectMin)
	}
	if c.WriteRetryMax == 0 {
		c.WriteRetryMax = d.WriteRetryMax
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	return c
}

// Compiled is what Validate returns: the configuration a Collector runs with.
type Compiled struct {
	// Config is the validated Config with defaults in place of its zero fields, and
	// the default format set on {vhost} logs that name none.
	Config Config
	// Logs holds the compiled form of Config.Logs, in the same order.
	Logs []CompiledLog
}

// CompiledLog is the compiled form of one LogConfig.
type CompiledLog struct {
	// Template names the log's segments (LogConfig.Template, parsed).
	Template *segment.Template
	// Format reads the vhost of a line (LogConfig.Format, compiled); nil unless
	// Template uses {vhost}.
	Format *formats.Format
}

// Validate checks c, with defaults in place of its zero fields, and returns what it
// compiled: the configuration with the defaults filled in, and every log's template
// and vhost format. It does not change c. Errors wrap ErrBadConfig,
// segment.ErrBadTemplate or ErrBadName and name the offending setting.
func (c Config) Validate() (*Compiled, error) {
	c = c.withDefaults()
	if _, err := spreadlink.ParseAddress(c.Spread); err != nil {
		return nil, fmt.Errorf("%w: spread address: %w", ErrBadConfig, err)
	}
	if !spreadlink.ValidPrivateName(c.PrivateName) || (c.PrivateName != "" && c.PrivateName[0] != envelope.CollectorPrefix) {
		return nil, fmt.Errorf("%w: private name %q: want at most %d bytes of '$'..'~' starting with %q (shippers count only such members as collectors)",
			ErrBadConfig, c.PrivateName, spreadlink.MaxPrivateName, envelope.CollectorPrefix)
	}
	if !envelope.ValidCollectorName(c.Name) {
		return nil, fmt.Errorf("%w: collector name %q: want 1 to %d bytes of letters, digits, '.', '_' or '-'",
			ErrBadConfig, c.Name, envelope.MaxCollectorName)
	}
	if len(c.Logs) == 0 {
		return nil, fmt.Errorf("%w: no logs configured", ErrBadConfig)
	}
	if err := c.Config.Validate(); err != nil { // the segment settings
		return nil, err
	}
	c.Logs = slices.Clone(c.Logs) // the defaults go into a copy
	logs := make([]CompiledLog, len(c.Logs))
	seen := make(map[string]bool, len(c.Logs))
	for i := range c.Logs {
		l := &c.Logs[i]
		if err := ValidateGroup(l.Group); err != nil {
			return nil, fmt.Errorf("log %d: %w", i+1, err)
		}
		if err := spreadlink.CheckGroupName(l.Group); err != nil {
			return nil, fmt.Errorf("%w: log %d: %w", ErrBadConfig, i+1, err)
		}
		if seen[l.Group] {
			return nil, fmt.Errorf("%w: group %q configured twice", ErrBadConfig, l.Group)
		}
		seen[l.Group] = true
		t, err := segment.ParseTemplate(l.Template)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", l.Group, err)
		}
		if err := checkExtension(t, c.Compression); err != nil {
			return nil, fmt.Errorf("log %s: %w", l.Group, err)
		}
		logs[i].Template = t
		if t.UsesVhost() {
			if l.Format == "" {
				l.Format = DefaultFormat
			}
			f, err := formats.Compile(l.Format)
			if err != nil {
				return nil, fmt.Errorf("%w: log %s: format: %w", ErrBadConfig, l.Group, err)
			}
			if !f.HasVHost() {
				return nil, fmt.Errorf("%w: log %s: format %q has no vhost field but the template uses {vhost}", ErrBadConfig, l.Group, l.Format)
			}
			logs[i].Format = f
		}
	}
	if err := ValidateHost(c.DefaultHost); err != nil {
		return nil, fmt.Errorf("%w: default host: %w", ErrBadConfig, err)
	}
	if err := ValidateVhost(c.DefaultVhost); err != nil {
		return nil, fmt.Errorf("%w: default vhost: %w", ErrBadConfig, err)
	}
	switch {
	case c.FlushInterval < 0:
		return nil, fmt.Errorf("%w: negative flush interval %v", ErrBadConfig, c.FlushInterval)
	case c.MaxOpenWriters < 1:
		return nil, fmt.Errorf("%w: max open writers %d below 1", ErrBadConfig, c.MaxOpenWriters)
	case c.MaxLogs < 1:
		return nil, fmt.Errorf("%w: max logs %d below 1", ErrBadConfig, c.MaxLogs)
	case c.StreamExpiry < 0:
		return nil, fmt.Errorf("%w: negative stream expiry %v", ErrBadConfig, c.StreamExpiry)
	case c.QueueBytes < 64<<10:
		return nil, fmt.Errorf("%w: queue bound %d below 64KiB", ErrBadConfig, c.QueueBytes)
	case c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin:
		return nil, fmt.Errorf("%w: reconnect backoff %v..%v", ErrBadConfig, c.ReconnectMin, c.ReconnectMax)
	case c.WriteRetryMax < 0 || c.DrainTimeout < 0:
		return nil, fmt.Errorf("%w: negative write retry or drain timeout", ErrBadConfig)
	}
	sc := c.sequencerConfig()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &Compiled{Config: c, Logs: logs}, nil
}

// sequencerConfig returns the sequencer's configuration (c with defaults).
func (c *Config) sequencerConfig() SequencerConfig {
	sc := DefaultSequencerConfig()
	sc.GapMarker = c.GapMarkers
	sc.MaxHoles = c.MaxHoles
	sc.MaxStreams = c.MaxStreams
	sc.ReassemblyBytes = c.ReassemblyBytes
	sc.Now = c.Now
	if c.MaxLine != 0 {
		sc.MaxLine = c.MaxLine
	}
	return sc
}

// checkExtension checks that the compression extension t's names end with, if any,
// is the one of compression c.
func checkExtension(t *segment.Template, c segment.Compression) error {
	want := map[string]segment.Compression{".zst": segment.CompressZstd, ".zstd": segment.CompressZstd, ".gz": segment.CompressGzip}
	ext := t.Extension()
	if ext == "" || want[ext] == c {
		return nil
	}
	return fmt.Errorf("%w %q: the names end in %q but the segments are compressed with %q (compress): change the extension or the compression",
		segment.ErrBadTemplate, t.String(), ext, c)
}

// logSpec is one configured log, prepared for the writer.
type logSpec struct {
	cfg    LogConfig
	tmpl   *segment.Template
	format *formats.Format // nil unless the template uses {vhost}
}

// byHost reports whether the log needs each line's host: for {host} or a host prefix.
func (ls *logSpec) byHost() bool { return ls.cfg.HostPrefix || ls.tmpl.UsesHost() }

// split reports whether the log has a writer per vhost or host (not one writer).
func (ls *logSpec) split() bool { return ls.format != nil || ls.tmpl.UsesHost() }

// Collector subscribes to the configured Spread groups and writes their lines,
// de-duplicated and in delivery order, to compressed segments.
//
// Run owns two goroutines: a reader that always drains the Spread connection into a
// bounded queue (reconnecting with backoff, recording every lost session as a gap),
// and the writer (Run's own goroutine) that sequences the messages in delivery order,
// splits lines per log and vhost, and every FlushInterval saves the state file with
// the frames about to be written (a write-ahead intent) and then writes them, so a
// restart after a crash neither loses nor repeats the lines of complete frames. Write
// errors are retried without dropping lines.
//
// Concurrency: Run is called once. Reopen and Healthy may be called from any
// goroutine, at any time.
type Collector struct {
	cfg  Config
	log  *slog.Logger
	reg  prometheus.Registerer
	m    *CollectorMetrics
	segm *segment.Metrics // shared by every segment writer
	logs []logSpec
	// byGroup maps a configured group to its index in logs.
	byGroup map[string]int
	q       *msgQueue
	// link is the Spread session the reader connects through.
	link *spreadlink.Session
	// progress sends the progress reports (writer: after flushes; reader: hellos).
	progress *progressSender
	// reopen requests a reopen of every open segment (cap 1, coalesced).
	reopen chan struct{}
	// fs replaces the os.Root file system in tests (fault injection).
	fs segment.FS

	started   atomic.Bool
	running   atomic.Bool
	connected atomic.Bool
	stall     atomic.Pointer[error] // the last write error while writes are failing
}

// New checks cfg and returns a Collector. Nothing is opened before Run.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	v, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	cfg = v.Config
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := NewCollectorMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("collector metrics: %w", err)
	}
	segm, err := segment.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("segment writer metrics: %w", err)
	}
	c := &Collector{
		cfg:     cfg,
		log:     logger.With("component", "collector"),
		reg:     reg,
		m:       m,
		segm:    segm,
		byGroup: make(map[string]int, len(cfg.Logs)),
		reopen:  make(chan struct{}, 1),
	}
	for i, l := range cfg.Logs {
		c.logs = append(c.logs, logSpec{cfg: l, tmpl: v.Logs[i].Template, format: v.Logs[i].Format})
		c.byGroup[l.Group] = i
	}
	c.q = newMsgQueue(cfg.QueueBytes, m)
	groups := make([]string, len(cfg.Logs))
	for i, l := range cfg.Logs {
		groups[i] = l.Group
	}
	c.progress = newProgressSender(cfg.Name, groups, m, c.log)
	if c.link, err = spreadlink.NewSession(c.sessionConfig()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return c, nil
}

// Metrics returns the collector's own metrics.
func (c *Collector) Metrics() *CollectorMetrics { return c.m }

// Reopen asks the writer to reopen every open segment (SIGHUP, after logrotate): each
// is flushed and closed cleanly (complete frames), and the next lines reopen it by
// name: appended to the segment the name still points to, or a new segment under the
// name when it was moved away (segment.Writer.Reopen). Requests made while one is
// pending are coalesced. It never blocks.
func (c *Collector) Reopen() { wake(c.reopen) }

// Healthy returns nil while the collector runs, has seen its own join to every group
// delivered (so it receives everything multicast to them from then on), and its
// segment writes succeed, and an error saying what is wrong otherwise.
func (c *Collector) Healthy() error {
	if !c.running.Load() {
		return errors.New("collector is not running")
	}
	if e := c.stall.Load(); e != nil {
		return fmt.Errorf("stalled: segment writes or state saves failing (retrying): %w", *e)
	}
	if !c.connected.Load() {
		return fmt.Errorf("not connected to the Spread daemon at %s", c.cfg.Spread)
	}
	return nil
}

// Run checks that it can create files in the output and state directories, opens
// them and the state file, then subscribes and writes until ctx is done. On ctx done
// (a clean stop) it writes and flushes every message queued so far, sends its final
// progress report, leaves the presence groups, writes what arrived until the daemon
// confirmed the leave, closes the segments cleanly, saves the state and returns nil.
// It returns an error if the output or state cannot be opened, or if lines could not
// be written before DrainTimeout passed after ctx was done (then it sends no final
// report and logs how many lines and bytes it could not write). Run may be called
// once.
func (c *Collector) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("collector: Run called twice")
	}
	if err := c.checkDirs(); err != nil {
		return err
	}
	w, err := c.newWriterSet()
	if err != nil {
		return err
	}
	defer w.release()
	c.running.Store(true)
	defer c.running.Store(false)
	c.log.Info("collector started", "name", c.cfg.Name, "spread", c.cfg.Spread, "dir", c.cfg.Dir, "logs", len(c.logs), "streams", w.restored)

	// abort stops the reader at once when the writer gives up.
	abortCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer c.q.close()
		c.readLoop(ctx, abortCtx)
	})
	err = w.loop(ctx, c.q, c.reopen)
	abort()
	wg.Wait()
	if err != nil {
		lines, n := w.unwritten(c.q)
		w.abandon()
		c.log.Error("stopped with lines not written (no final progress report: shippers keep them)",
			"lines", lines, "bytes", n, "err", err)
		return fmt.Errorf("%d lines (%d bytes) not written: %w", lines, n, err)
	}
	return nil
}

// DirError reports an output or state directory the collector cannot create files
// in. Setting names the flag (and YAML key) that chose the directory.
type DirError struct {
	Setting string // "--dir (YAML dir)" or "--state-dir (YAML state_dir)"
	Dir     string
	Err     error
}

// Error implements error.
func (e *DirError) Error() string {
	return fmt.Sprintf("%s %s: cannot create a file there: %v (make it writable by the collector's user, or choose another directory)", e.Setting, e.Dir, e.Err)
}

// Unwrap returns the file system error.
func (e *DirError) Unwrap() error { return e.Err }

// checkDirs creates (if needed) the output and state directories and a file in each,
// removed at once, so a collector that could not write says so at start.
func (c *Collector) checkDirs() error {
	if c.fs != nil {
		return nil // a test's file system
	}
	for _, d := range []struct{ dir, setting string }{
		{c.cfg.Dir, "--dir (YAML dir)"},
		{c.cfg.StateDir, "--state-dir (YAML state_dir)"},
	} {
		err := os.MkdirAll(d.dir, segment.DirMode)
		if err == nil {
			var f *os.File
			if f, err = os.CreateTemp(d.dir, ".logspread-check-*"); err == nil {
				f.Close()
				err = os.Remove(f.Name())
			}
		}
		if err != nil {
			return &DirError{Setting: d.setting, Dir: d.dir, Err: err}
		}
	}
	return nil
}

// statePath returns the state file path.
func (c *Collector) statePath() string { return filepath.Join(c.cfg.StateDir, StateFileName) }

// newWriterSet opens the output directory (unless a test set c.fs) and hands the
// writerSet what it needs.
func (c *Collector) newWriterSet() (*writerSet, error) {
	wc := writerSetConfig{
		cfg:       c.cfg,
		logs:      c.logs,
		fs:        c.fs,
		statePath: c.statePath(),
		log:       c.log,
		reg:       c.reg,
		m:         c.m,
		segm:      c.segm,
		stall:     &c.stall,
		progress:  c.progress,
	}
	if wc.fs == nil {
		fsys, closeFS, err := c.openRoots()
		if err != nil {
			return nil, err
		}
		wc.fs, wc.closeFS = fsys, closeFS
	}
	return newWriterSet(wc)
}

// openRoots creates the output directory, and the directory of every absolute
// template, if needed and opens each as an os.Root: the FS of the segments
// (segment.MultiFS when a template is absolute) and the function that closes them.
func (c *Collector) openRoots() (segment.FS, func() error, error) {
	var roots []*os.Root
	closeAll := func() error {
		var err error
		for _, r := range roots {
			err = errors.Join(err, r.Close())
		}
		return err
	}
	open := func(dir, what string) (segment.FS, error) {
		if err := os.MkdirAll(dir, segment.DirMode); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		roots = append(roots, root)
		return segment.RootFS(root), nil
	}
	def, err := open(c.cfg.Dir, "output directory")
	if err != nil {
		return nil, nil, err
	}
	abs := make(map[string]segment.FS)
	for _, l := range c.logs {
		dir := l.tmpl.Root()
		if dir == "" || abs[dir] != nil {
			continue
		}
		if abs[dir], err = open(dir, "output directory of log "+l.cfg.Group); err != nil {
			_ = closeAll()
			return nil, nil, err
		}
	}
	if len(abs) == 0 {
		return def, closeAll, nil
	}
	return segment.MultiFS(def, abs), closeAll, nil
}

// readLoop connects, joins and drains the connection into the queue until ctx is
// done, reconnecting with the session's backoff. A session lost after it joined queues
// a gap item.
func (c *Collector) readLoop(ctx, abort context.Context) {
	for {
		conn, err := c.link.Connect(ctx)
		if err != nil {
			return // ctx is done
		}
		c.m.Connects.Inc()
		c.log.Info("connected", "spread", c.cfg.Spread, "private", conn.PrivateGroup(), "groups", len(c.logs))
		err = c.drain(ctx, abort, conn)
		c.progress.detach(conn)
		c.setConnected(false)
		if ctx.Err() != nil {
			_ = conn.Close()
			return
		}
		_ = conn.Abort()
		c.link.Lost()
		c.m.SessionsLost.Inc()
		c.log.Warn("Spread session lost; messages may be missing (gap)", "spread", c.cfg.Spread, "err", err)
		gap := newItem()
		gap.kind = itemGap
		c.q.push(ctx, gap, func() {})
	}
}

func (c *Collector) setConnected(v bool) {
	c.connected.Store(v)
	if v {
		c.m.Connected.Set(1)
	} else {
		c.m.Connected.Set(0)
	}
}

// sessionConfig returns the configuration of the Spread session: membership notices
// on, every group joined, then every group's presence group (envelope.PresenceGroup):
// a member of the presence group is always a member of the group, so shippers that
// see a collector there know that it hears their batches.
func (c *Collector) sessionConfig() spreadlink.SessionConfig {
	sc := spreadlink.SessionConfig{
		Config:  spreadlink.Config{Address: c.cfg.Spread, Name: c.cfg.PrivateName, Membership: true, Dialer: c.cfg.Dialer},
		Backoff: spreadlink.Backoff{Min: c.cfg.ReconnectMin, Max: c.cfg.ReconnectMax},
		OnConnectError: func(err error, _ int, wait time.Duration) {
			c.m.ConnectErrors.Inc()
			c.log.Warn("cannot connect to Spread daemon, retrying", "spread", c.cfg.Spread, "in", wait.Round(time.Millisecond), "err", err)
		},
	}
	if c.cfg.PrivateName == "" {
		sc.NewName = func() string { return envelope.RandomPrivateName(envelope.CollectorPrefix) }
	}
	for _, l := range c.logs {
		sc.Groups = append(sc.Groups, l.cfg.Group)
	}
	sc.Groups = append(sc.Groups, c.presenceGroups()...)
	return sc
}

// isPresence reports whether p is the presence group of group and of no group
// configured before it.
func (c *Collector) isPresence(p, group string) bool {
	for _, l := range c.logs {
		if l.cfg.Group == group {
			return true
		}
		if envelope.PresenceGroup(l.cfg.Group) == p {
			return false
		}
	}
	return true
}

// presenceGroups returns the presence groups this collector joins.
func (c *Collector) presenceGroups() []string {
	var ps []string
	for _, l := range c.logs {
		if p := envelope.PresenceGroup(l.cfg.Group); c.isPresence(p, l.cfg.Group) {
			ps = append(ps, p)
		}
	}
	return ps
}

// leaveTimeout bounds how long a stopping collector keeps reading after it left its
// presence groups, waiting for the daemon to confirm.
const leaveTimeout = 5 * time.Second

// drain receives deliveries and queues the data messages of configured groups until
// the connection fails or ctx is done. It waits (does not read) while the queue is
// full.
//
// When ctx is done after the session joined every group, it queues a stop item: the
// writer writes and flushes everything queued before it, sends the final progress
// report, and then has the reader leave the presence groups; the reader goes on
// reading until the daemon confirms the leave (or leaveTimeout). Shippers stop
// counting this collector at that point of the total order, and every batch ordered
// before it is read, queued and written, so a graceful stop or restart loses nothing
// that shippers consider delivered. When abort is done (the writer gave up), it stops
// at once.
func (c *Collector) drain(ctx, abort context.Context, conn *spreadlink.Conn) error {
	presence := c.presenceGroups()
	var joinedAll atomic.Bool
	// Queueing goes on while leaving; it gives up (as on ctx done before) once the
	// leave has taken longer than leaveTimeout.
	pushCtx, stopPush := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPush()
	var grace atomic.Pointer[time.Timer]
	defer func() {
		if t := grace.Load(); t != nil {
			t.Stop()
		}
	}()
	var leaveOnce sync.Once
	leave := func() {
		leaveOnce.Do(func() {
			for _, p := range presence {
				_ = conn.Leave(p)
			}
			_ = conn.SetReadDeadline(time.Now().Add(leaveTimeout))
			grace.Store(time.AfterFunc(leaveTimeout, stopPush))
		})
	}
	halt := func() {
		stopPush()
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	}
	stop := context.AfterFunc(ctx, func() {
		if !joinedAll.Load() {
			halt()
			return
		}
		it := newItem()
		it.kind, it.done = itemStop, leave
		c.q.push(context.Background(), it, func() {}) // never refused
	})
	defer stop()
	stopAbort := context.AfterFunc(abort, halt)
	defer stopAbort()
	left := 0
	full := func() {
		c.m.QueueFull.Inc()
		c.log.Warn("queue full: reading paused until the writer catches up (the daemon may disconnect this session)",
			"bound_bytes", c.cfg.QueueBytes)
	}
	joins := c.link.JoinWait()
	shippers := shipperMembers{}
	var m spreadlink.Message
	for {
		if err := conn.Receive(&m); err != nil {
			return err
		}
		if !m.Service.IsRegular() {
			c.m.Ignored.Inc() // membership notices and rejects
			if ctx.Err() != nil && m.Service.IsSelfLeave() && slices.Contains(presence, m.Sender) {
				if left++; left == len(presence) {
					return ctx.Err() // everything ordered before our leave is queued
				}
				continue
			}
			wasJoined := joinedAll.Load()
			newShipper := shippers.note(&m, presence)
			// Our own join is delivered in the total order: from there on we receive
			// every message of the group.
			if joins.Observe(&m) {
				joinedAll.Store(true)
				c.setConnected(true)
				c.link.Healthy()
				c.log.Info("joined all groups", "private", conn.PrivateGroup(), "groups", len(c.logs))
				c.progress.attach(conn) // the hello
			} else if wasJoined && newShipper != "" {
				c.progress.hello(newShipper) // a shipper that starts after us learns us at once
			}
			continue
		}
		it := newItem()
		for _, g := range m.Groups {
			if i, ok := c.byGroup[g]; ok && !containsInt(it.logs, i) {
				it.logs = append(it.logs, i)
			}
		}
		if len(it.logs) == 0 {
			freeItem(it)
			c.m.Ignored.Inc()
			continue
		}
		it.kind = itemData
		it.messType = m.MessType
		it.data = append(it.data[:0], m.Data...)
		c.m.Messages.Inc()
		c.m.MessageBytes.Add(float64(len(m.Data)))
		if !c.q.push(pushCtx, it, full) {
			freeItem(it)
			return ctx.Err()
		}
	}
}

// shipperMembers holds, per presence group, the shipper members (envelope.IsShipper)
// of its last regular membership on the current session. Owned by the reader.
type shipperMembers map[string][]string

// note applies m, if it is a regular membership of one of the presence groups, and
// returns that group when a shipper is in it that was not in its previous membership
// (it joined, or came with a network change); "" otherwise.
func (s shipperMembers) note(m *spreadlink.Message, presence []string) string {
	if !m.Service.IsRegMemb() || m.Membership == nil || !slices.Contains(presence, m.Membership.Group) {
		return ""
	}
	pg := m.Membership.Group
	old := s[pg]
	cur := old[:0:0]
	fresh := false
	for _, mem := range m.Membership.Members {
		if envelope.IsShipper(mem) {
			cur = append(cur, mem)
			fresh = fresh || !slices.Contains(old, mem)
		}
	}
	s[pg] = cur
	if fresh {
		return pg
	}
	return ""
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sleepCtx waits d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// DefaultName returns the default collector name for output directory dir: the host
// name (up to its first '.', other characters than letters, digits, '.', '_' and '-'
// replaced by '-') and 8 hex digits of a hash of the absolute directory, such as
// "web-3f9a1c2b". Two collectors on one host writing different directories get
// different names; a restarted collector gets the same one.
func DefaultName(dir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "collector"
	}
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-':
		default:
			b[i] = '-'
		}
	}
	if len(b) > envelope.MaxCollectorName-9 {
		b = b[:envelope.MaxCollectorName-9]
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("%s-%x", b, sum[:4])
}
