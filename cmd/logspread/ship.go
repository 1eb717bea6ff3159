package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// ShipOptions are the options of the ship command.
type ShipOptions struct {
	Group    string `yaml:"group"`
	Spread   string `yaml:"spread"`
	StateDir string `yaml:"state_dir"`
	Service  string `yaml:"service"`
	Legacy   bool   `yaml:"legacy"`
	// RequireCollector is nil unless set (flag or YAML): then it is !Legacy.
	RequireCollector *bool `yaml:"require_collector"`
	// Ack is "written" or "ordered"; empty picks the default (defaultShipAck, written;
	// ordered with --legacy or --require-collector=false).
	Ack               string        `yaml:"ack"`
	RequireCollectors []string      `yaml:"require_collectors"`
	AbsentTimeout     time.Duration `yaml:"absent_timeout"`
	FromBeginning     bool          `yaml:"from_beginning"`
	Once              bool          `yaml:"once"`
	BatchSize         byteSize      `yaml:"batch_size"`
	BatchDelay        time.Duration `yaml:"batch_delay"`
	BatchCompression  string        `yaml:"batch_compression"`
	CompressionLevel  string        `yaml:"compression_level"`
	CheckpointEvery   time.Duration `yaml:"checkpoint_interval"`
	MaxLine           byteSize      `yaml:"max_line"`
	JournalSize       byteSize      `yaml:"journal_size"`
	JournalFull       string        `yaml:"journal_full"`
	ResetCheckpoint   []string      `yaml:"reset_checkpoint"`
	// LogLevel is the file's log_level (--log-level, a flag of every command, wins).
	LogLevel         string        `yaml:"log_level"`
	MetricsAddr      string        `yaml:"metrics_addr"`
	MaxOpenFiles     int           `yaml:"max_open_files"`
	RotateWait       time.Duration `yaml:"rotate_wait"`
	PollInterval     time.Duration `yaml:"poll_interval"`
	RotatedNames     []string      `yaml:"rotated_names"`
	CheckpointExpiry time.Duration `yaml:"checkpoint_expiry"`
	Paths            []string      `yaml:"paths"`
	Host             string        `yaml:"host"`
	config           configFlags
}

// defaultShipHost is the host name batches carry unless --host says otherwise: the
// system's host name, or none when it is not a valid one (envelope.ValidHost).
func defaultShipHost() string {
	h, err := os.Hostname()
	if err != nil || !envelope.ValidHost(h) {
		return ""
	}
	return h
}

// defaultStateDir is $STATE_DIRECTORY (set by systemd's StateDirectory=) or
// ./logspread-state.
func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd lists several directories separated by ':' when several are configured.
		d, _, _ = strings.Cut(d, ":")
		return d
	}
	return "logspread-state"
}

func newCmdShip(s *streams, g *globalOptions, runF func(*ShipOptions) error) *cobra.Command {
	def := shipper.DefaultConfig()
	src := source.DefaultConfig()
	opts := &ShipOptions{
		Spread:           defaultSpread,
		StateDir:         defaultStateDir(),
		Service:          "agreed",
		BatchSize:        byteSize(def.BatchBytes),
		BatchDelay:       def.BatchDelay,
		BatchCompression: def.Compression,
		CompressionLevel: def.CompressionLevel,
		CheckpointEvery:  def.CheckpointInterval,
		MaxLine:          byteSize(src.MaxLine),
		JournalSize:      byteSize(src.JournalMax),
		JournalFull:      string(src.JournalFull),
		AbsentTimeout:    def.AbsentTimeout,
		RotateWait:       src.RotateWait,
		PollInterval:     src.PollInterval,
		RotatedNames:     src.RotatedNames,
		CheckpointExpiry: src.CheckpointExpiry,
	}
	cmd := &cobra.Command{
		Use:   "ship --group G [flags] (PATH|GLOB|-)...",
		Short: "Tail log files (or read stdin) and multicast the lines to a Spread group",
		Long: `Follow log files across rotations, or read Apache piped logs on stdin ("-"), and
multicast their lines in batches to a Spread group, where collectors write them.

Every batch is acknowledged once the collectors have written it (--ack written, the
default): each collector present while Spread ordered the batch has reported, in its
progress reports, that the batch is in a complete frame of its segment. Only then does
the checkpoint in --state-dir advance, and only as far as every collector it waits for
has written: present ones, those that left without a clean stop (for
--absent-timeout), and those named by --require-collectors (always). What a collector
that comes back lacks is read again from the file or the journal and resent. With
--ack ordered a batch is acknowledged as soon as Spread has ordered it (a marker sent
to the shipper's own private group comes back) while a collector was present: a
collector crash then loses what it had not written. Collectors announce themselves in the presence
group "~GROUP": while none is there, nothing is acknowledged, the window of sent
batches fills and reading pauses (files stay on disk, stdin goes to the journal);
when a collector joins, the window is sent again. --require-collector=false turns
this off (the default with --legacy, as spreadlogd never joins "~GROUP"): batches
ordered while no receiver listens are then acknowledged and lost.
After a restart or a lost daemon connection the shipper resends from the last
acknowledged position, and collectors drop what they already wrote, so no line is lost
or doubled. A full window of unacknowledged batches pauses reading.

Arguments with glob characters (*?[) follow every matching file, each as its own stream.
Files present at start are read from their end (or their checkpoint) unless
--from-beginning. With --once, the named files (and the files globs match at start)
are read from their checkpoint, or their beginning, to their end, not followed; ship
exits 0 once every line was acknowledged, and says on a terminal when it is waiting
for the daemon or a collector. Stdin is first written to an on-disk journal in --state-dir, so the
web server never waits for Spread; at end of input, ship exits 0 only once every line
was acknowledged.

A Spread daemon that is down is not an error: ship warns, again at growing intervals
with the journal's fill, and keeps retrying while files stay on disk and stdin goes to
the journal.

SIGHUP re-reads --config: a file shipper replaces its sources and sender with new ones
(followed paths and globs, group, batching...), which resume every file from its
checkpoint; a stdin shipper replaces its sender only (group, spread, batching, ack...),
which takes the journal over from its last acknowledged line, and names the settings
of its open sources (paths, journal_size, max_line...) as needing a restart;
--state-dir, --metrics-addr and --once need a restart (logged). log_level applies at
once.

--legacy sends one raw message per line, exactly as mod_log_spread does, for old
receivers (spreadlogd); it implies --require-collector=false unless that is given. Raw lines carry no offsets: after a reconnect the lines not yet
acknowledged are sent again and may appear twice. Lines longer than one Spread message
are truncated (counted).`,
		Example: `  # follow an access log into the group "www" of the local daemon
  logspread ship --group www /var/log/apache2/access.log

  # every vhost log, via a daemon on another host
  logspread ship --group www --spread 4803@loghost '/var/log/nginx/*.access.log'

  # Apache piped logs (httpd.conf)
  CustomLog "|/usr/local/bin/logspread ship --group www --state-dir /var/lib/logspread/apache -" combined

  # ship whole existing files and exit once a collector has them (progress on a terminal)
  logspread ship --group www --once access.log.1 access.log.2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.config.replay = replayArgs(cmd, args)
			if err := opts.config.load(cmd, opts); err != nil {
				return err
			}
			if err := g.fileLevel(&opts.config, opts.LogLevel); err != nil {
				return err
			}
			if len(args) > 0 {
				opts.Paths = args
			}
			src, snd, err := opts.build()
			if err != nil {
				return err
			}
			if opts.config.Check {
				fmt.Fprintln(s.Out, "configuration ok")
				return nil
			}
			if runF != nil {
				return runF(opts)
			}
			return shipRun(cmd.Context(), s, g, opts, src, snd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Group, "group", "", "Spread `GROUP` to send to (required)")
	f.StringVar(&opts.Spread, "spread", opts.Spread, spreadUsage)
	f.StringVar(&opts.StateDir, "state-dir", opts.StateDir, "`DIR` for checkpoints and the stdin journal (default $STATE_DIRECTORY or ./logspread-state)")
	f.StringVar(&opts.Service, "service", opts.Service, "Spread `SERVICE` level: agreed, safe, fifo or reliable")
	f.BoolVar(&opts.Legacy, "legacy", false, "send one raw message per line, as mod_log_spread (no de-duplication)")
	f.Var(optBool{&opts.RequireCollector}, "require-collector", "acknowledge only while a collector is in the presence group ~GROUP (default true; false with --legacy)")
	f.Lookup("require-collector").NoOptDefVal = "true"
	f.StringVar(&opts.Ack, "ack", "", "acknowledgement `POLICY`: written (a batch is acknowledged once the collectors wrote it) or ordered (once Spread ordered it); default "+defaultShipAck+", ordered with --legacy or --require-collector=false")
	f.StringSliceVar(&opts.RequireCollectors, "require-collectors", nil, "collector `NAMES` (collect --name, comma-separated) whose written progress checkpoints wait for without limit, even before they first appear (--ack written)")
	f.DurationVar(&opts.AbsentTimeout, "absent-timeout", opts.AbsentTimeout, "how long checkpoints wait for a collector that left without a clean stop (--ack written); what it lacks after that is counted as lost for it")
	f.BoolVar(&opts.FromBeginning, "from-beginning", false, "read files present at start without a checkpoint from their beginning (a glob followed before from the state dir always reads its new matches from their beginning)")
	f.BoolVar(&opts.Once, "once", false, "ship the named files (and the files globs match now) to their end, from their checkpoint or beginning, then exit 0 once every line was acknowledged")
	f.Var(&opts.BatchSize, "batch-size", fmt.Sprintf("largest read, and batch body without compression (e.g. 64K; at most %d bytes)", shipper.MaxBatchBytes))
	f.DurationVar(&opts.BatchDelay, "batch-delay", opts.BatchDelay, "how long a small batch waits for more lines (0: sent at once)")
	f.StringVar(&opts.BatchCompression, "batch-compression", opts.BatchCompression, "`KIND` of batch bodies: zstd (batch v2: one zstd frame, up to 1M of lines while catching up) or none (batch v1, for receivers that do not decompress)")
	f.StringVar(&opts.CompressionLevel, "compression-level", opts.CompressionLevel, "zstd `LEVEL` of --batch-compression zstd: fastest, default, better or best")
	f.DurationVar(&opts.CheckpointEvery, "checkpoint-interval", opts.CheckpointEvery, "save checkpoints at most this often (acknowledged lines since the last save are resent after a crash, then dropped by collectors; 0: at every acknowledgement); an acknowledgement that frees a stdin journal segment is saved at once")
	f.Var(&opts.MaxLine, "max-line", "hard maximum line length in bytes, its '\\n' not counted (e.g. 1M); longer lines keep their first SIZE bytes and are counted truncated")
	f.Var(&opts.JournalSize, "journal-size", "bound of the stdin journal on disk (e.g. 64M, 1G; a smaller file system bounds it too); what happens when it is full is --journal-full; at least "+ptr(byteSize(source.MinJournalMax)).String())
	f.StringVar(&opts.JournalFull, "journal-full", opts.JournalFull, "what a full stdin journal does (`POLICY`): block (reading stdin pauses, the web server's writes block until acknowledgements free space) or drop-oldest (the oldest unsent lines are dropped, a counted gap reported to collectors)")
	f.StringArrayVar(&opts.ResetCheckpoint, "reset-checkpoint", nil, "when the checkpoint of SOURCE (a followed file, or - for stdin) is corrupt with no good copy, `SOURCE=POINT` with POINT start reads it from its start (lines shipped before are sent again), with POINT end skips to its end (the skipped bytes are logged); repeatable")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this `ADDR` (e.g. 127.0.0.1:9481)")
	f.StringVar(&opts.Host, "host", "", "this web host's `NAME`, carried in every batch so that collectors can write it ({host} templates, --host-prefix); empty: the system's host name; - sends none")
	f.IntVar(&opts.MaxOpenFiles, "max-open-files", 0, "most files held open at once; idle files beyond it are closed and reopened by identity (0: half the descriptor limit, and at most the limit less "+strconv.Itoa(source.ReservedDescriptors)+" kept for the shipper's own descriptors; a value above that is lowered to it)")
	f.DurationVar(&opts.RotateWait, "rotate-wait", opts.RotateWait, "how long a generation renamed away or deleted (or left by a retargeted symlink), whose writer may still hold it open, is followed after its last growth, even once the new file has data (0: read to its end and left once rotated or deleted)")
	f.DurationVar(&opts.PollInterval, "poll-interval", opts.PollInterval, "how often idle files are also checked (a stat): the backstop behind file system events, for events lost (a network file system, an overflow)")
	f.StringSliceVar(&opts.RotatedNames, "rotated-names", opts.RotatedNames, "glob patterns of rotated generations, {name} standing for the live file's name, {stem} and {ext} for that name without its extension and the extension (logrotate's 'extension .log': '{stem}.[0-9]{ext}', in the default); in the live file's directory, or in the literal directory before the name, relative to the live file's unless absolute (logrotate olddir: '../old/{name}.[0-9]*'); compressed files are skipped")
	f.DurationVar(&opts.CheckpointExpiry, "checkpoint-expiry", opts.CheckpointExpiry, "remove checkpoints of files gone (and not followed) for this long; 0 keeps them")
	opts.config.add(cmd)
	return cmd
}

// build checks the options and returns the source and sender configurations.
func (o *ShipOptions) build() (source.Config, shipper.Config, error) {
	c := &o.config
	fail := func(err error) (source.Config, shipper.Config, error) {
		return source.Config{}, shipper.Config{}, err
	}
	if o.Group == "" && c.given("group") {
		return fail(c.invalid("group", o.Group, "the Spread group to send to, such as www"))
	}
	if o.Group == "" {
		return fail(c.missing("group"))
	}
	if !spreadlink.ValidGroupName(o.Group) || o.Group[0] == '#' {
		return fail(c.invalid("group", o.Group, fmt.Sprintf("1 to %d characters of '$'..'~', not starting with '#'", spreadlink.MaxGroupName)))
	}
	if len(o.Paths) == 0 {
		return fail(c.usage("name at least one PATH, GLOB or - (stdin)"))
	}
	stdin := 0
	for _, p := range o.Paths {
		switch {
		case p == "-":
			stdin++
		case p == "":
			return fail(c.usage("empty path"))
		}
	}
	if stdin > 1 {
		return fail(c.usage("- (stdin) given more than once"))
	}
	if err := c.checkAddress("spread", o.Spread); err != nil {
		return fail(err)
	}
	if err := c.checkDir("state-dir", o.StateDir, "/var/lib/logspread/shipper-www"); err != nil {
		return fail(err)
	}
	if err := c.checkMetricsAddr(o.MetricsAddr); err != nil {
		return fail(err)
	}
	for _, e := range []struct{ flag, value, want string }{
		{"ack", o.Ack, "written or ordered"},
		{"batch-compression", o.BatchCompression, "zstd or none"},
		{"compression-level", o.CompressionLevel, "fastest, default, better or best"},
		{"journal-full", o.JournalFull, "block or drop-oldest"},
		{"host", o.Host, "this web host's name, or - for none"},
	} {
		if err := c.notEmpty(e.flag, e.value, e.want); err != nil {
			return fail(err)
		}
	}
	svc, err := spreadlink.ParseService(o.Service)
	if err != nil || (svc != spreadlink.Agreed && svc != spreadlink.Safe && svc != spreadlink.FIFO && svc != spreadlink.Reliable) {
		return fail(c.invalid("service", o.Service, "agreed, safe, fifo or reliable"))
	}
	if o.BatchCompression == "" { // options built without newCmdShip's defaults
		o.BatchCompression = shipper.CompressZstd
	}
	if o.CompressionLevel == "" {
		o.CompressionLevel = "fastest"
	}
	// 0 is the default only for options built without newCmdShip's defaults; given
	// (flag or YAML key), it is an error below, never silently the default.
	if o.PollInterval == 0 && !c.given("poll-interval") {
		o.PollInterval = source.DefaultConfig().PollInterval
	}
	switch {
	case o.BatchSize < 2 || o.BatchSize > shipper.MaxBatchBytes:
		return fail(c.invalid("batch-size", &o.BatchSize, fmt.Sprintf("2 to %d bytes", shipper.MaxBatchBytes)))
	case o.BatchDelay < 0:
		return fail(c.invalid("batch-delay", o.BatchDelay, "0 or a positive duration such as 5ms"))
	case o.BatchCompression != shipper.CompressZstd && o.BatchCompression != shipper.CompressNone:
		return fail(c.invalid("batch-compression", o.BatchCompression, "zstd or none"))
	case o.BatchCompression == shipper.CompressZstd && !validLevel(o.CompressionLevel):
		return fail(c.invalid("compression-level", o.CompressionLevel, "fastest, default, better or best"))
	case o.CheckpointEvery < 0:
		return fail(c.invalid("checkpoint-interval", o.CheckpointEvery, "0 (every acknowledgement) or a positive duration such as 1s"))
	case o.MaxLine < 2 || o.MaxLine > 1<<30:
		return fail(c.invalid("max-line", &o.MaxLine, "2 bytes to 1G"))
	case o.MaxOpenFiles != 0 && o.MaxOpenFiles < source.MinOpenFiles:
		return fail(c.invalid("max-open-files", o.MaxOpenFiles, fmt.Sprintf("0 (half the descriptor limit, less what the shipper keeps for itself) or at least %d", source.MinOpenFiles)))
	case o.RotateWait < 0:
		return fail(c.invalid("rotate-wait", o.RotateWait, "0 or a positive duration such as 5s"))
	case o.PollInterval <= 0:
		return fail(c.invalid("poll-interval", o.PollInterval, "a positive duration such as 10s (leave it out for the default, 10s)"))
	case o.CheckpointExpiry < 0:
		return fail(c.invalid("checkpoint-expiry", o.CheckpointExpiry, "0 (keep forever) or a positive duration such as 168h"))
	}
	for _, p := range o.RotatedNames {
		if err := source.CheckRotatedName(p); err != nil {
			return fail(c.invalid("rotated-names", p, "a glob pattern of names containing {name} or {stem}, such as {name}.* or {stem}.[0-9]*{ext}, optionally in a literal directory such as ../old/{name}.* ("+err.Error()+")"))
		}
	}
	src := source.DefaultConfig()
	if o.JournalSize == 0 && !c.given("journal-size") { // options built without newCmdShip's defaults
		o.JournalSize = byteSize(src.JournalMax)
	}
	if o.JournalSize < source.MinJournalMax {
		return fail(c.invalid("journal-size", &o.JournalSize, fmt.Sprintf("at least %v, such as 64M or 1G (there is no unbounded journal; leave it out for the default, 1G)", ptr(byteSize(source.MinJournalMax)))))
	}
	if o.JournalFull == "" {
		o.JournalFull = string(src.JournalFull)
	}
	full := source.JournalFullPolicy(o.JournalFull)
	if full != source.JournalBlock && full != source.JournalDropOldest {
		return fail(c.invalid("journal-full", o.JournalFull, "block or drop-oldest"))
	}
	reset := map[string]source.ResetPoint{}
	for _, r := range o.ResetCheckpoint {
		i := strings.LastIndex(r, "=") // paths may hold '='
		var p, point string
		if i >= 0 {
			p, point = r[:i], r[i+1:]
		}
		if p == "" || (point != string(source.ResetStart) && point != string(source.ResetEnd)) {
			return fail(c.invalid("reset-checkpoint", r, "SOURCE=start or SOURCE=end, SOURCE a followed file or - (stdin)"))
		}
		if p != source.StdinSource {
			p = filepath.Clean(p)
		}
		reset[p] = source.ResetPoint(point)
	}
	src.JournalFull = full
	src.Reset = reset
	src.StateDir = o.StateDir
	src.FromBeginning = o.FromBeginning
	src.MaxLine = int(o.MaxLine) + 1 // --max-line counts a line's bytes without its '\n'; Config.MaxLine with it
	src.ChunkMax = int(o.BatchSize)
	src.JournalMax = int64(o.JournalSize)
	if src.MaxOpenFiles, err = o.maxOpenFiles(source.DescriptorLimit()); err != nil {
		return fail(err)
	}
	src.RotateWait = o.RotateWait
	src.PollInterval = o.PollInterval
	src.RotatedNames = o.RotatedNames
	src.CheckpointExpiry = o.CheckpointExpiry
	src.Sources = slices.Clone(o.Paths)
	snd := shipper.DefaultConfig()
	snd.Address = o.Spread
	snd.Group = o.Group
	snd.Service = svc
	snd.Legacy = o.Legacy
	snd.RequireCollector = !o.Legacy
	if o.RequireCollector != nil {
		snd.RequireCollector = *o.RequireCollector
	}
	ack := o.Ack
	if ack == "" {
		ack = defaultShipAck
		if o.Legacy || !snd.RequireCollector {
			ack = "ordered"
		}
	}
	pol, ok := shipper.ParseAckPolicy(ack)
	switch {
	case !ok:
		return fail(c.invalid("ack", o.Ack, "written or ordered"))
	case pol == shipper.AckWritten && o.Legacy:
		return fail(c.invalid("ack", o.Ack, "ordered with legacy: legacy receivers (spreadlogd) never report what they wrote"))
	case pol == shipper.AckWritten && !snd.RequireCollector:
		return fail(c.invalid("ack", o.Ack, "ordered with require-collector false: written progress comes through the presence group"))
	case len(o.RequireCollectors) > 0 && pol != shipper.AckWritten:
		return fail(c.invalid("require-collectors", strings.Join(o.RequireCollectors, ","), "used with ack written only"))
	case pol == shipper.AckWritten && o.AbsentTimeout <= 0:
		return fail(c.invalid("absent-timeout", o.AbsentTimeout, "a positive duration such as 5m"))
	}
	host := o.Host
	switch host {
	case "":
		host = defaultShipHost()
	case "-":
		host = ""
	default:
		if !envelope.ValidHost(host) {
			return fail(c.invalid("host", o.Host, fmt.Sprintf("1 to %d letters, digits, '-', '_' or '.', not starting with '.' or '-', without \"..\" (or - for none)", envelope.MaxHostLen)))
		}
	}
	for _, n := range o.RequireCollectors {
		if !envelope.ValidCollectorName(n) {
			return fail(c.invalid("require-collectors", n, fmt.Sprintf("collector names (collect --name) of 1 to %d letters, digits, '.', '_' or '-', separated by commas", envelope.MaxCollectorName)))
		}
	}
	snd.Ack = pol
	snd.RequireCollectors = o.RequireCollectors
	snd.AbsentTimeout = o.AbsentTimeout
	snd.StateDir = o.StateDir
	snd.BatchBytes = int(o.BatchSize)
	snd.BatchDelay = o.BatchDelay
	snd.Compression = o.BatchCompression
	snd.CompressionLevel = o.CompressionLevel
	snd.CheckpointInterval = o.CheckpointEvery
	snd.Host = host
	if err := snd.Validate(); err != nil {
		return fail(c.usage("%v", err))
	}
	if err := src.Validate(); err != nil {
		return fail(c.usage("%v", err))
	}
	return src, snd, nil
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// defaultShipAck is the acknowledgement policy of ship without --ack (and without
// --legacy or --require-collector=false, which imply ordered).
const defaultShipAck = "written"

// optBool is a boolean flag that records whether it was set: *p stays nil otherwise.
type optBool struct{ p **bool }

func (b optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = &v
	return nil
}

func (b optBool) String() string {
	if b.p == nil || *b.p == nil {
		return ""
	}
	return strconv.FormatBool(**b.p)
}

func (b optBool) Type() string { return "bool" }

// isGlob reports whether p has glob metacharacters.
func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// shipRestart names the settings of ship that only a new process applies.
var shipRestart = []string{"metrics_addr", "state_dir", "once"}

// shipSourceKeys name the settings the sources are opened with: a stdin shipper, whose
// sources stay open across reloads, needs a restart for them.
var shipSourceKeys = []string{"paths", "from_beginning", "max_line", "journal_size", "journal_full",
	"max_open_files", "rotate_wait", "poll_interval", "rotated_names", "checkpoint_expiry", "reset_checkpoint"}

// shipConfig is what one shipper component is built from.
type shipConfig struct {
	src   source.Config
	snd   shipper.Config
	paths []string
}

// shipComponent is one running shipper: its sources and its sender.
type shipComponent struct {
	sh   *shipper.Shipper
	ss   *shipSources
	addr string // the daemon's address
	// stopping is set once its run was asked to stop (shutdown, or a reload that
	// replaces it): from then on the sender closes its own session.
	stopping atomic.Bool
}

func shipRun(ctx context.Context, s *streams, g *globalOptions, opts *ShipOptions, srcCfg source.Config, sndCfg shipper.Config) error {
	log, err := g.logger(s.ErrOut)
	if err != nil {
		return err
	}
	// What the start logs is logged once however often it is retried (waitForSpace).
	startLog := newOnceLog(log.Handler())
	log = slog.New(startLog).With("cmd", "ship")
	opts.openFilesWarning(log, srcCfg.MaxOpenFiles)
	svc, err := newService(log, opts.MetricsAddr)
	if err != nil {
		return err
	}
	defer svc.close()

	// The component (sources and sender) is replaced by a new one when a reload
	// changes its settings: the old one stops reading, waits a moment for the
	// acknowledgements of what it sent and saves them; the new one resumes every
	// file from its checkpoint, and collectors drop what they already wrote.
	var cur atomic.Pointer[shipComponent]
	// What the components (one, then one per reload) read, read again, had acknowledged
	// and sent again; one tally counts each line once over all of them.
	var totals struct{ read, readBytes, reread, rereadBytes, lines, bytes, resent uint64 }
	// What each set of sources (one per reload; a new sender may read the same one
	// again) truncated and lost, read when a run ends: the stop line adds them up.
	losses := map[*source.Set]source.Losses{}
	tally := shipper.NewTally()
	var last struct {
		behind     int64
		unfinished int64 // --once: bytes of unterminated last lines left for the next run
		jf         source.JournalFill
		st         shipper.Stats
	}
	stdin := slices.Contains(opts.Paths, "-")
	// openSources locks the state directory and opens the sources; openSender builds a
	// sender. Each registers its metrics through a registerer of its own, so that its
	// successor can register the same names.
	openSources := func(c shipConfig) (*shipSources, func(), error) {
		reg := &swapRegisterer{reg: svc.reg}
		set, err := source.New(c.src, log, reg)
		if err != nil {
			reg.unregisterAll()
			return nil, nil, stateDirError("ship", c.src.StateDir, err)
		}
		ss, err := openShipSources(set, log, c.paths, opts.Once)
		closeAll := func() { // closes ss as opened here: see kept for a stdin shipper's
			ss.close()
			set.Close()
			reg.unregisterAll()
		}
		if ce, ok := errors.AsType[*source.CorruptCheckpointError](err); ok {
			closeAll()
			return nil, nil, fmt.Errorf("ship: %w; run the same command once more with --reset-checkpoint '%s=start' to read it from its start "+
				"(lines shipped before are written again), or with --reset-checkpoint '%s=end' to skip what it holds now (the skipped bytes are logged)",
				err, ce.Source, ce.Source)
		}
		if err != nil {
			closeAll()
			return nil, nil, stateDirError("ship", c.src.StateDir, err)
		}
		return ss, closeAll, nil
	}
	openSender := func(c shipConfig) (*shipper.Shipper, func(), error) {
		reg := &swapRegisterer{reg: svc.reg}
		c.snd.Tally = tally
		sh, err := shipper.New(c.snd, log, reg)
		if err != nil {
			reg.unregisterAll()
			return nil, nil, fmt.Errorf("ship: %w", err)
		}
		return sh, reg.unregisterAll, nil
	}
	// open returns a component and the functions that close its sender and its sources.
	open := func(c shipConfig) (*shipComponent, func(), func(), error) {
		ss, closeSrc, err := openSources(c)
		if err != nil {
			return nil, nil, nil, err
		}
		sh, closeSnd, err := openSender(c)
		if err != nil {
			closeSrc()
			return nil, nil, nil, err
		}
		return &shipComponent{sh: sh, ss: ss, addr: c.snd.Address}, closeSnd, closeSrc, nil
	}
	type opened struct {
		comp               *shipComponent
		closeSnd, closeSrc func()
	}
	restoreStdin := func() {}
	if stdin {
		if restoreStdin, err = keepStdin(); err != nil {
			return fmt.Errorf("ship: standard input (-): %w", err)
		}
	}
	// While the start waits for space, /metrics and /healthz answer (a scrape that hung
	// looked like a dead shipper), and a gauge says why nothing is read.
	waitingSpace := prometheus.NewGauge(prometheus.GaugeOpts{Name: "logspread_shipper_waiting_for_space",
		Help: "1 while the start waits for space in the state directory's file system (nothing is read meanwhile), else 0."})
	svc.reg.MustRegister(waitingSpace)
	waiting := func(w bool) {
		if w {
			svc.serveEarly()
			waitingSpace.Set(1)
		} else {
			waitingSpace.Set(0)
		}
	}
	o, err := waitForSpace(ctx, log, srcCfg.StateDir, svc.notify.send, waiting, func() (opened, error) {
		restoreStdin()
		comp, closeSnd, closeSrc, err := open(shipConfig{src: srcCfg, snd: sndCfg, paths: opts.Paths})
		return opened{comp, closeSnd, closeSrc}, err
	})
	startLog.done()
	if errors.Is(err, errStoppedWaiting) {
		// Asked to stop (SIGTERM, systemctl stop) before anything was opened: a clean
		// stop, as at any other time; the next start begins where this one would have.
		log.Warn("stopped while waiting for space in the state directory; nothing was read or sent, nothing is lost (files stay on disk, stdin's unread input stays in its pipe)",
			"state_dir", srcCfg.StateDir)
		return nil
	}
	if err != nil {
		return err
	}
	first, firstSnd, firstSrc := o.comp, o.closeSnd, o.closeSrc
	firstClose := func() { firstSnd(); firstSrc() }
	cur.Store(first)
	// A stdin shipper keeps its sources (standard input cannot be opened again): a
	// reload replaces its sender only; the journal is read again from its last
	// acknowledged position and the files from their checkpoints.
	kept, keptGlobs := first.ss, len(first.ss.globs) > 0
	var keptSet func() // closes kept's set once its sources are closed
	if stdin {
		firstSS := first.ss
		keptSet = func() {
			// firstClose closes the sources first opened; kept's are closed here.
			if kept != firstSS {
				kept.close()
			}
			firstSrc()
		}
	}
	start := func(ctx context.Context, c shipConfig) (bool, error) {
		comp, closeComp := first, firstClose
		switch {
		case comp != nil && stdin:
			closeComp = firstSnd
		case stdin:
			sh, closeSnd, err := openSender(c)
			if err != nil {
				return true, err
			}
			ss, err := kept.reopen(log)
			if err != nil {
				closeSnd()
				return true, fmt.Errorf("ship: %w", err)
			}
			kept = ss
			comp, closeComp = &shipComponent{sh: sh, ss: kept, addr: c.snd.Address}, closeSnd
			cur.Store(comp)
		case comp == nil:
			var closeSnd, closeSrc func()
			var err error
			if comp, closeSnd, closeSrc, err = open(c); err != nil {
				return true, err
			}
			closeComp = func() { closeSnd(); closeSrc() }
			cur.Store(comp)
		}
		first = nil
		defer closeComp()
		stopWatch := context.AfterFunc(ctx, func() { comp.stopping.Store(true) })
		err := comp.sh.Run(ctx, comp.ss.srcs)
		stopWatch()
		comp.stopping.Store(true)
		st := comp.sh.Stats()
		totals.read += st.ReadLines
		totals.readBytes += st.ReadBytes
		totals.reread += st.RereadLines
		totals.rereadBytes += st.RereadBytes
		totals.lines += st.AckedLines
		totals.bytes += st.AckedBytes
		totals.resent += st.Resent
		last.behind, last.jf, last.st = comp.ss.behind(), comp.ss.journalFill(), st
		last.unfinished = comp.ss.unfinished()
		losses[comp.ss.set] = comp.ss.set.Losses()
		return false, err
	}

	rs := newRestarter[shipConfig]()
	initial := shipConfig{src: srcCfg, snd: sndCfg, paths: opts.Paths} // reload changes opts
	svc.reload = func() {
		newOpts, g2, err := rereadShip(g, opts)
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			return
		}
		applyLevel(log, g, g2)
		restartKeys := shipRestart
		if stdin {
			// The sources stay: what they are opened with needs a new process (which
			// the web server starts); the journal keeps every line.
			restartKeys = slices.Concat(shipRestart, shipSourceKeys)
			if keptGlobs {
				restartKeys = append(restartKeys, "batch_size") // also the globs' chunk bound
			}
		}
		live, restart := split(changedKeys(opts, newOpts), restartKeys)
		if len(restart) > 0 {
			log.Warn("SIGHUP: these settings changed but take effect only after a restart (systemctl restart logspread-shipper@NAME; a piped shipper restarts with the web server)", "settings", quoteKeys(restart))
		}
		if len(live) == 0 {
			return
		}
		next := *opts // what needs a restart keeps its running value
		for _, k := range live {
			f := yamlFields(reflect.TypeFor[ShipOptions]())[k]
			reflect.ValueOf(&next).Elem().Field(f).Set(reflect.ValueOf(newOpts).Elem().Field(f))
		}
		src, snd, err := next.build()
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			return
		}
		// Where the files new to the configuration stand now: the new sources open
		// after the old sender's drain, and lines written meanwhile must be sent.
		src.Since = source.TakeMarks(opts.Paths, next.Paths)
		if stdin {
			log.Info("SIGHUP: applying new settings: a new sender takes over the journal from its last acknowledged line (and the files from their checkpoints)", "settings", quoteKeys(live))
		} else {
			log.Info("SIGHUP: applying new settings: the sources are opened again from their checkpoints", "settings", quoteKeys(live))
		}
		*opts = next
		rs.offer(shipConfig{src: src, snd: snd, paths: next.Paths})
	}

	if err := svc.reg.Register(sourceLag{cur: &cur}); err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	aux := []func(context.Context) error{func(auxCtx context.Context) error {
		// ctx is done once shutdown begins; auxCtx once the shipper has stopped.
		reportLink(auxCtx, ctx, log, &cur, time.Second, time.Minute)
		return nil
	}}
	if total := first.ss.behind(); total > 0 {
		if p := newProgress(s.ErrOut, "shipped", total); p != nil {
			aux = append(aux, func(ctx context.Context) error {
				t := time.NewTicker(250 * time.Millisecond)
				defer t.Stop()
				defer p.done()
				for {
					select {
					case <-ctx.Done():
						return nil
					case <-t.C:
						st := cur.Load().sh.Stats()
						p.update(int64(st.AckedBytes), shipWaiting(st, sndCfg))
					}
				}
			})
		}
	}
	// Ready once the sources are open: the shipper is useful while the daemon is down
	// (files stay on disk, stdin goes to the journal).
	run := func(ctx context.Context) error {
		return rs.run(ctx, initial, start, func(err error) {
			log.Error("SIGHUP: the new settings could not be applied; running with the previous ones", "err", err)
		})
	}
	runErr := svc.run(ctx, run, aux...)
	switch {
	case stdin:
		if first != nil { // never started
			firstSnd()
		}
		keptSet()
	case first != nil: // never started
		firstClose()
	}
	// With --once, an unterminated last line its writer may still complete is left for
	// the next run: it is not a line yet, so not unacknowledged.
	left := max(last.behind-last.unfinished, 0)
	attrs := []any{"read_lines", totals.read, "read_bytes", totals.readBytes,
		"reread_lines", totals.reread, "reread_bytes", totals.rereadBytes,
		"acked_lines", totals.lines, "acked_bytes", totals.bytes, "resent_batches", totals.resent,
		"unacknowledged_batches", last.st.InFlight, "unacknowledged_bytes", left}
	if stdin {
		// The journal's files on disk: acknowledged lines stay in them until their
		// segment is closed and removed (the next start skips them), so this is not 0
		// when unacknowledged_bytes is.
		attrs = append(attrs, "journal_disk_bytes", last.jf.Bytes)
	}
	var lost source.Losses
	for _, l := range losses {
		lost.TruncatedLines += l.TruncatedLines
		lost.LostBytes += l.LostBytes
		lost.UnackedDestroyedBytes += l.UnackedDestroyedBytes
		lost.JournalDroppedBytes += l.JournalDroppedBytes
	}
	// What did not reach collectors whole: said in the stop line, with the warnings
	// logged when it happened.
	attrs = append(attrs, "truncated_lines", lost.TruncatedLines, "lost_bytes", lost.LostBytes,
		"unacked_destroyed_bytes", lost.UnackedDestroyedBytes)
	if stdin {
		attrs = append(attrs, "journal_dropped_bytes", lost.JournalDroppedBytes)
	}
	if last.unfinished > 0 {
		attrs = append(attrs, "unfinished_line_bytes", last.unfinished)
		log.Warn("--once: an unterminated last line (no '\\n' at the end of its file, written less than --rotate-wait ago) was left for the next run; "+
			"it is shipped whole once its writer ends it, or terminated by a run after --rotate-wait without writes", "bytes", last.unfinished)
	}
	switch {
	case left > 0:
		log.Warn("stopped with lines not acknowledged; the next start sends them (files from their checkpoints, stdin from the journal)", attrs...)
	default:
		log.Info("stopped; every line read was acknowledged", attrs...)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("ship: %w", runErr)
	}
	if opts.Once && left > 0 {
		return fmt.Errorf("ship: --once: stopped before every line was acknowledged (%d bytes left)", left)
	}
	if stdin && last.jf.InputEnded && left > 0 {
		// At end of input the only work left was acknowledgement: a stop before it is
		// not success (a stop while input still flows is, the journal keeping the rest).
		return fmt.Errorf("ship: stopped after the end of input before every line was acknowledged "+
			"(%d bytes left in the journal; the next `ship -` with this --state-dir sends them)", left)
	}
	return nil
}

// rereadShip re-reads the shipper's configuration.
func rereadShip(g *globalOptions, opts *ShipOptions) (*ShipOptions, *globalOptions, error) {
	g2 := g.forReload()
	o, err := rereadOptions(opts.config.replay, func(s *streams, runF func(*ShipOptions) error) *cobra.Command {
		return newCmdShip(s, g2, runF)
	})
	return o, g2, err
}

// shipWaiting says what a shipper whose stats are st is waiting for, if anything
// ("" when it is sending), for the progress line.
func shipWaiting(st shipper.Stats, cfg shipper.Config) string {
	switch {
	case !st.Connected:
		return "waiting for the Spread daemon at " + cfg.Address
	case cfg.RequireCollector && (st.WaitingForCollector || st.Collectors == 0):
		return "waiting for a collector in " + envelope.PresenceGroup(cfg.Group)
	}
	return ""
}

// reportLink warns while the current shipper cannot reach its daemon: first after
// first, then at doubling intervals up to every, each time with the address, the
// last error and what waits meanwhile (the journal's fill, the bytes of files beyond
// their checkpoints). It says when the daemon is reached again. A link lost once the
// shipper was asked to stop (shutdown began, or a reload replaces it: the sender closes
// its own session) is not reported, nor is a shipper just started by a reload that has
// not connected yet. It returns when ctx is done.
func reportLink(ctx, stop context.Context, log *slog.Logger, cur *atomic.Pointer[shipComponent], first, every time.Duration) {
	wait := first
	w := linkWatch{comp: cur.Load()}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		c := cur.Load()
		addr := c.addr
		st := c.sh.Stats()
		warn, reached, down := w.look(now, wait, c, st.Connected, stop.Err() != nil || c.stopping.Load())
		if reached {
			log.Info("Spread daemon reached", "spread", addr, "after", down.Round(time.Second))
		}
		if !warn {
			wait = first
			t.Reset(wait)
			continue
		}
		ss := c.ss
		why := "no connection attempt has ended yet"
		if st.LastConnectError != nil {
			why = st.LastConnectError.Error()
		}
		attrs := []any{"spread", addr, "err", why, "for", down.Round(time.Second), "unacknowledged_bytes", ss.behind()}
		if ss.journal != nil {
			jf := ss.journalFill()
			attrs = append(attrs, "journal_bytes", jf.Bytes, "journal_size", jf.Max,
				"journal_fill", fmt.Sprintf("%.1f%%", 100*float64(jf.Bytes)/float64(max(jf.Max, 1))))
			log.Warn("cannot reach the Spread daemon; stdin goes to the journal, and the web server's writes block once it is full (check that the daemon runs and --spread names its address)", attrs...)
		} else {
			log.Warn("cannot reach the Spread daemon; files stay on disk and are read from their checkpoints once it is reached (check that the daemon runs and --spread names its address)", attrs...)
		}
		wait = min(2*wait, every)
		t.Reset(wait)
	}
}

// linkWatch is what reportLink knows of the link between its looks: since when it is
// down (zero while up), whether that was reported, and the shipper (comp) it looked at
// last.
type linkWatch struct {
	since  time.Time
	warned bool
	comp   any
}

// look records a look at now, wait after the previous one, at the link of shipper comp,
// connected or not, asked to stop or not. warn: the link is down, for down; reached: it
// is up again after down was reported. A link first seen down once its shipper was asked
// to stop is the sender closing its own session: neither. A shipper not seen before (a
// reload replaced the last one) may not have connected yet: its link counts as down from
// now on, reported from the next look.
func (w *linkWatch) look(now time.Time, wait time.Duration, comp any, connected, stopping bool) (warn, reached bool, down time.Duration) {
	fresh := comp != w.comp
	w.comp = comp
	switch {
	case connected:
		reached, down = w.warned, now.Sub(w.since)
		w.since, w.warned = time.Time{}, false
		if !reached {
			down = 0
		}
		return false, reached, down
	case w.since.IsZero() && stopping:
		return false, false, 0
	case w.since.IsZero() && fresh:
		w.since = now
		return false, false, 0
	case w.since.IsZero():
		w.since = now.Add(-wait)
	}
	w.warned = true
	return true, false, now.Sub(w.since)
}

// shipSources are the open sources of one ship command.
type shipSources struct {
	args    []string // the arguments opened
	once    bool
	set     *source.Set
	srcs    []source.Source
	files   []string       // plain files
	globs   []*source.Glob // their files are Paths()
	journal *source.Journal
}

func (ss *shipSources) close() {
	for _, src := range ss.srcs {
		src.Close()
	}
}

// reopen returns the sources for a new sender: the same journal, read again from its
// last acknowledged position, and the files (plain and globs) of ss closed and opened
// again from their checkpoints, as the previous sender may have read beyond them. ss
// itself is not changed (others read its fields), its files are closed.
func (ss *shipSources) reopen(log *slog.Logger) (*shipSources, error) {
	if err := ss.journal.RewindAcked(); err != nil {
		return nil, err
	}
	for _, src := range ss.srcs {
		if src != source.Source(ss.journal) {
			src.Close()
		}
	}
	paths := slices.DeleteFunc(slices.Clone(ss.args), func(p string) bool { return p == "-" })
	files := &shipSources{set: ss.set}
	if len(paths) > 0 {
		var err error
		if files, err = openShipSources(ss.set, log, paths, ss.once); err != nil {
			return nil, err
		}
	}
	return &shipSources{args: ss.args, once: ss.once, set: ss.set, journal: ss.journal,
		srcs: append([]source.Source{ss.journal}, files.srcs...), files: files.files, globs: files.globs}, nil
}

// lag returns the bytes not acknowledged per argument (see sourceLag): each file once
// per argument (source.Set.Lag).
func (ss *shipSources) lag() map[string]int64 {
	out := make(map[string]int64, len(ss.args))
	for _, a := range ss.args {
		switch {
		case a == "-":
			out[a] = int64(ss.journalFill().Unacknowledged)
		case isGlob(a) && !ss.once:
			var paths []string
			for _, g := range ss.globs {
				if g.Pattern() == a {
					paths = append(paths, g.Paths()...)
				}
			}
			out[a] = ss.set.Lag(paths...)
		case isGlob(a): // --once: the files it matched at start
			matches, _ := filepath.Glob(a)
			out[a] = ss.set.Lag(matches...)
		default:
			out[a] = ss.set.Lag(filepath.Clean(a))
		}
	}
	return out
}

// behind returns the bytes the files hold beyond their checkpoints (each file once,
// whichever argument names it) plus the journal's unacknowledged bytes: what was not
// acknowledged yet, sent or not.
func (ss *shipSources) behind() int64 {
	paths := slices.Clone(ss.files)
	for _, g := range ss.globs {
		paths = append(paths, g.Paths()...)
	}
	return ss.set.Lag(paths...) + int64(ss.journalFill().Unacknowledged)
}

// unfinished returns the bytes of the unterminated last lines the --once tailers left for
// the next run (Tailer.Unfinished).
func (ss *shipSources) unfinished() int64 {
	var n int64
	for _, src := range ss.srcs {
		if t, ok := src.(*source.Tailer); ok {
			n += t.Unfinished()
		}
	}
	return n
}

func (ss *shipSources) journalFill() source.JournalFill {
	if ss.journal == nil {
		return source.JournalFill{}
	}
	return ss.journal.Fill()
}

// openShipSources opens one source per argument: stdin's journal, a glob's follower
// (with once: each file it matches now, to its end), a file's tailer (with once: to its
// end). Without once, an argument that can never be followed (a directory, a path below
// a regular file, a bad pattern) is logged and skipped; it is an error only when no
// argument can be followed, naming each. A path that does not exist yet, or cannot be
// read yet, is followed (and retried).
func openShipSources(set *source.Set, log *slog.Logger, paths []string, once bool) (*shipSources, error) {
	ss := &shipSources{set: set, args: paths, once: once}
	var bad []error
	// One file, one stream: a path given twice (however written) is followed once; a
	// second name of a file given (a symlink, a hard link) is followed, but its stream
	// leaves the file to the first one's while it names that file (with --once, which
	// does not follow names, it is skipped).
	type given struct {
		arg string
		fi  os.FileInfo
	}
	var files []given
	seen := map[string]string{} // absolute clean path -> the argument that gave it
	addFile := func(p string) error {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = filepath.Clean(p)
		}
		if first, ok := seen[abs]; ok {
			log.Warn("the same file is given twice; it is followed once", "path", p, "same_as", first)
			return nil
		}
		seen[abs] = p
		fi, serr := os.Stat(p)
		if once && serr == nil && fi.IsDir() {
			return fmt.Errorf("%s %w: it is a directory (quote a glob such as '%s/*.log')", p, source.ErrUnfollowable, p)
		}
		if serr == nil && fi.Mode().IsRegular() {
			for _, f := range files {
				if !os.SameFile(f.fi, fi) {
					continue
				}
				if once {
					log.Warn("the same file is given under two names (a symlink or a hard link); it is read once", "path", p, "same_as", f.arg)
					return nil
				}
				log.Warn("the same file is given under two names (a symlink or a hard link); it is read once, by the first name's stream, as long as both name it",
					"path", p, "same_as", f.arg)
				break
			}
			files = append(files, given{p, fi})
		}
		open := set.OpenFile
		if once {
			open = set.OpenFileToEnd
		}
		t, err := open(p)
		if err != nil {
			return err
		}
		ss.srcs = append(ss.srcs, t)
		ss.files = append(ss.files, t.Path())
		return nil
	}
	for _, p := range paths {
		switch {
		case p == "-":
			in, err := source.OpenStdin()
			if err != nil {
				return ss, err
			}
			j, err := set.OpenJournal("stdin", in)
			if err != nil {
				in.Close()
				return ss, err
			}
			ss.srcs = append(ss.srcs, j)
			ss.journal = j
		case isGlob(p) && once:
			matches, err := filepath.Glob(p)
			if err != nil {
				return ss, fmt.Errorf("glob %q: %w", p, err)
			}
			if len(matches) == 0 {
				return ss, fmt.Errorf("--once: no file matches %q", p)
			}
			for _, m := range matches {
				if err := addFile(m); err != nil {
					if errors.Is(err, source.ErrNotRegular) || errors.Is(err, source.ErrUnfollowable) {
						bad = append(bad, err) // a FIFO, a socket, a device, a directory: skipped
						continue
					}
					return ss, err
				}
			}
		case isGlob(p):
			gl, err := set.OpenGlob(p)
			if errors.Is(err, source.ErrConfig) {
				bad = append(bad, err)
				continue
			}
			if err != nil {
				return ss, err
			}
			ss.srcs = append(ss.srcs, gl)
			ss.globs = append(ss.globs, gl)
		default:
			if err := addFile(p); err != nil {
				if errors.Is(err, source.ErrFollowed) {
					log.Warn("the file is matched by a glob given before it; it is followed once, by the glob", "path", p)
					continue
				}
				if !once && errors.Is(err, source.ErrUnfollowable) || errors.Is(err, source.ErrNotRegular) {
					bad = append(bad, err)
					continue
				}
				return ss, err
			}
		}
	}
	if len(ss.srcs) == 0 && len(bad) > 0 {
		return ss, fmt.Errorf("no argument can be followed: %w", errors.Join(bad...))
	}
	for _, err := range bad {
		log.Error("argument cannot be followed; skipped (the others are followed)", "err", err)
	}
	return ss, nil
}

// sourceLagDesc describes logspread_shipper_source_lag_bytes.
var sourceLagDesc = prometheus.NewDesc("logspread_shipper_source_lag_bytes",
	"Bytes of each source not acknowledged yet, as of its last saved checkpoint: for a file, "+
		"from where the stream that read it stands (its path's checkpoint, or where another path's stream left it) to the end of the file; "+
		"for a glob, summed over the files it follows, each file once; "+
		"for stdin (-), the journal's unacknowledged bytes. The label is the argument as given.",
	[]string{"source"}, nil)

// sourceLag is the per-source lag gauge of the running shipper: one series per
// argument (PATH, GLOB or -), so its cardinality is the command line's.
type sourceLag struct {
	cur *atomic.Pointer[shipComponent]
}

func (l sourceLag) Describe(ch chan<- *prometheus.Desc) { ch <- sourceLagDesc }

func (l sourceLag) Collect(ch chan<- prometheus.Metric) {
	c := l.cur.Load()
	if c == nil {
		return
	}
	for arg, n := range c.ss.lag() {
		ch <- prometheus.MustNewConstMetric(sourceLagDesc, prometheus.GaugeValue, float64(n), arg)
	}
}

// validLevel reports whether s names a zstd level of --compression-level.
func validLevel(s string) bool {
	switch s {
	case "fastest", "default", "better", "best":
		return true
	}
	return false
}

// errStoppedWaiting is waitForSpace's error when ctx is done before the start succeeded.
var errStoppedWaiting = errors.New("stopped while waiting for space in the state directory")

// waitForSpace calls open until it succeeds or fails otherwise than for want of space
// (ENOSPC, EDQUOT: the state directory's file system is full): as while running, a full
// state directory is waited for, never a reason to exit (a shipper that exits restarts
// under systemd or the web server, and fails again). Nothing is read meanwhile: files
// stay on disk, stdin waits in its pipe. It logs when it starts waiting, every minute
// while it waits, and when it goes on; to systemd (notify: sd_notify) it says why it is
// not ready yet and extends its start timeout at each retry, so that a long wait is not
// taken for a hung start and restarted. waiting is called with true when the wait
// begins and false when it ends. ctx ending stops the wait with errStoppedWaiting.
func waitForSpace[T any](ctx context.Context, log *slog.Logger, dir string, notify func(string), waiting func(bool), open func() (T, error)) (T, error) {
	const maxBackoff = 5 * time.Second
	var (
		began, told time.Time
		backoff     time.Duration
	)
	for {
		v, err := open()
		if err == nil || !isNoSpace(err) {
			if !began.IsZero() {
				waiting(false)
				if err == nil {
					log.Info("the state directory has space again; starting", "state_dir", dir, "waited", time.Since(began).Round(time.Second))
				}
			}
			return v, err
		}
		now := time.Now()
		if began.IsZero() {
			began = now
			waiting(true)
		}
		if told.IsZero() || now.Sub(told) >= time.Minute {
			told = now
			log.Warn("the state directory's file system is full (or its quota reached); waiting for space before starting, retrying: nothing is read or lost meanwhile "+
				"(files stay on disk, stdin waits in its pipe); free space there, or choose another --state-dir (YAML state_dir)",
				"state_dir", dir, "err", err, "for", now.Sub(began).Round(time.Second))
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
		notify(fmt.Sprintf("STATUS=waiting for space in the state directory %s\nEXTEND_TIMEOUT_USEC=%d", dir, (backoff + maxBackoff).Microseconds()))
		select {
		case <-ctx.Done():
			waiting(false)
			return v, errStoppedWaiting
		case <-time.After(backoff):
		}
	}
}

// maxOpenFiles returns the --max-open-files to run with under the descriptor limit lim
// (0: unknown): the default (0) is source.DefaultMaxOpenFiles, and an error when the
// limit leaves fewer than source.MinOpenFiles beside the source.ReservedDescriptors the
// shipper keeps for itself; a value given above what the limit leaves is lowered to it
// (logged by shipRun: openFilesWarning), never refused, since it can run.
func (o *ShipOptions) maxOpenFiles(lim int) (int, error) {
	if lim <= 0 {
		return o.MaxOpenFiles, nil
	}
	room := lim - source.ReservedDescriptors
	switch {
	case o.MaxOpenFiles == 0 && room < source.MinOpenFiles:
		return 0, o.config.usage("--max-open-files (YAML max_open_files) 0, the default: the descriptor limit %d leaves no room for log files: "+
			"less the %d the shipper keeps for its own descriptors (Spread connection, state directory, journal, checkpoints, metrics, inotify), fewer than the minimum of %d are left; "+
			"raise the limit (ulimit -n 1024, or LimitNOFILE=1024 in the systemd unit; at least %d for %d files)",
			lim, source.ReservedDescriptors, source.MinOpenFiles, source.ReservedDescriptors+source.MinOpenFiles, source.MinOpenFiles)
	case o.MaxOpenFiles == 0:
		return source.DefaultMaxOpenFiles(lim), nil
	case o.MaxOpenFiles > max(room, source.MinOpenFiles):
		return max(room, source.MinOpenFiles), nil
	}
	return o.MaxOpenFiles, nil
}

// openFilesWarning logs why --max-open-files runs with n, not the value given: it is above
// what the descriptor limit leaves beside the shipper's own descriptors.
func (o *ShipOptions) openFilesWarning(log *slog.Logger, n int) {
	lim := source.DescriptorLimit()
	if o.MaxOpenFiles == 0 || lim <= 0 || o.MaxOpenFiles <= lim-source.ReservedDescriptors {
		return
	}
	if n < o.MaxOpenFiles {
		log.Warn(fmt.Sprintf("--max-open-files %d is above what the descriptor limit %d leaves beside the %d the shipper keeps for itself; lowered to %d (raise the limit: ulimit -n, or LimitNOFILE= in the systemd unit)",
			o.MaxOpenFiles, lim, source.ReservedDescriptors, n),
			"max_open_files", o.MaxOpenFiles, "descriptor_limit", lim, "lowered_to", n)
		return
	}
	log.Warn(fmt.Sprintf("--max-open-files %d leaves the shipper fewer than the %d descriptors it keeps for itself under the descriptor limit %d; it may run out of descriptors (raise the limit: ulimit -n, or LimitNOFILE= in the systemd unit)",
		o.MaxOpenFiles, source.ReservedDescriptors, lim),
		"max_open_files", o.MaxOpenFiles, "descriptor_limit", lim)
}
