package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/logspread/logspread/shipper"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
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
	RequireCollector *bool         `yaml:"require_collector"`
	FromBeginning    bool          `yaml:"from_beginning"`
	BatchSize        int           `yaml:"batch_size"`
	BatchDelay       time.Duration `yaml:"batch_delay"`
	CheckpointEvery  time.Duration `yaml:"checkpoint_interval"`
	MaxLine          int           `yaml:"max_line"`
	MetricsAddr      string        `yaml:"metrics_addr"`
	Paths            []string      `yaml:"paths"`
	config           configFlags
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
		Spread:          "4803",
		StateDir:        defaultStateDir(),
		Service:         "agreed",
		BatchSize:       def.BatchBytes,
		BatchDelay:      def.BatchDelay,
		CheckpointEvery: def.CheckpointInterval,
		MaxLine:         src.MaxLine,
	}
	cmd := &cobra.Command{
		Use:   "ship --group G [flags] (PATH|GLOB|-)...",
		Short: "Tail log files (or read stdin) and multicast the lines to a Spread group",
		Long: `Follow log files across rotations, or read Apache piped logs on stdin ("-"), and
multicast their lines in batches to a Spread group, where collectors write them.

Every batch is acknowledged when Spread has ordered it (a marker sent to the shipper's
own private group comes back) while a collector was present; only then does the
checkpoint in --state-dir advance. Collectors announce themselves in the presence
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
--from-beginning. Stdin is first written to an on-disk journal in --state-dir, so the
web server never waits for Spread; at end of input, ship exits 0 only once every line
was acknowledged.

A Spread daemon that is down is not an error: ship logs it once and keeps retrying
while files stay on disk and stdin goes to the journal.

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

  # ship a whole existing file (progress on a terminal)
  logspread ship --group www --from-beginning access.log.1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.config.load(cmd, opts); err != nil {
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
				return nil
			}
			if runF != nil {
				return runF(opts)
			}
			return shipRun(cmd.Context(), s, g, opts, src, snd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Group, "group", "", "Spread group to send to (required)")
	f.StringVar(&opts.Spread, "spread", opts.Spread, "Spread daemon: PORT (unix socket /tmp/PORT), PORT@HOST, HOST:PORT or unix:PATH")
	f.StringVar(&opts.StateDir, "state-dir", opts.StateDir, "directory for checkpoints and the stdin journal (default $STATE_DIRECTORY or ./logspread-state)")
	f.StringVar(&opts.Service, "service", opts.Service, "Spread service level: agreed, safe, fifo or reliable")
	f.BoolVar(&opts.Legacy, "legacy", false, "send one raw message per line, as mod_log_spread (no de-duplication)")
	f.Var(optBool{&opts.RequireCollector}, "require-collector", "acknowledge only while a collector is in the presence group ~GROUP (default true; false with --legacy)")
	f.Lookup("require-collector").NoOptDefVal = "true"
	f.BoolVar(&opts.FromBeginning, "from-beginning", false, "read files present at start without a checkpoint from their beginning")
	f.IntVar(&opts.BatchSize, "batch-size", opts.BatchSize, fmt.Sprintf("largest batch body in bytes (at most %d)", shipper.MaxBatchBytes))
	f.DurationVar(&opts.BatchDelay, "batch-delay", opts.BatchDelay, "how long a small batch waits for more lines")
	f.DurationVar(&opts.CheckpointEvery, "checkpoint-interval", opts.CheckpointEvery, "save checkpoints at most this often (acknowledged lines since the last save are resent after a crash, then dropped by collectors)")
	f.IntVar(&opts.MaxLine, "max-line", opts.MaxLine, "hard maximum line length; longer lines are truncated (counted)")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this address (e.g. 127.0.0.1:9481)")
	opts.config.add(cmd)
	return cmd
}

// build checks the options and returns the source and sender configurations.
func (o *ShipOptions) build() (source.Config, shipper.Config, error) {
	c := &o.config
	fail := func(err error) (source.Config, shipper.Config, error) {
		return source.Config{}, shipper.Config{}, err
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
	if _, err := spreadlink.ParseAddress(o.Spread); err != nil {
		return fail(c.invalid("spread", o.Spread, wantSpreadAddress))
	}
	if o.StateDir == "" {
		return fail(c.invalid("state-dir", o.StateDir, "a directory"))
	}
	svc, err := spreadlink.ParseService(o.Service)
	if err != nil || (svc != spreadlink.Agreed && svc != spreadlink.Safe && svc != spreadlink.FIFO && svc != spreadlink.Reliable) {
		return fail(c.invalid("service", o.Service, "agreed, safe, fifo or reliable"))
	}
	switch {
	case o.BatchSize < 2 || o.BatchSize > shipper.MaxBatchBytes:
		return fail(c.invalid("batch-size", o.BatchSize, fmt.Sprintf("2 to %d bytes", shipper.MaxBatchBytes)))
	case o.BatchDelay < 0:
		return fail(c.invalid("batch-delay", o.BatchDelay, "0 or a positive duration such as 5ms"))
	case o.CheckpointEvery < 0:
		return fail(c.invalid("checkpoint-interval", o.CheckpointEvery, "0 (every acknowledgement) or a positive duration such as 1s"))
	case o.MaxLine < 2:
		return fail(c.invalid("max-line", o.MaxLine, "at least 2 bytes"))
	}
	src := source.DefaultConfig()
	src.StateDir = o.StateDir
	src.FromBeginning = o.FromBeginning
	src.MaxLine = o.MaxLine
	src.ChunkMax = o.BatchSize
	snd := shipper.DefaultConfig()
	snd.Address = o.Spread
	snd.Group = o.Group
	snd.Service = svc
	snd.Legacy = o.Legacy
	snd.RequireCollector = !o.Legacy
	if o.RequireCollector != nil {
		snd.RequireCollector = *o.RequireCollector
	}
	snd.BatchBytes = o.BatchSize
	snd.BatchDelay = o.BatchDelay
	snd.CheckpointInterval = o.CheckpointEvery
	if err := snd.Validate(); err != nil {
		return fail(c.usage("%v", err))
	}
	if err := src.Validate(); err != nil {
		return fail(c.usage("%v", err))
	}
	return src, snd, nil
}

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

func shipRun(ctx context.Context, s *streams, g *globalOptions, opts *ShipOptions, srcCfg source.Config, sndCfg shipper.Config) error {
	log, err := g.logger(s.ErrOut)
	if err != nil {
		return err
	}
	log = log.With("cmd", "ship")
	svc, err := newService(log, opts.MetricsAddr)
	if err != nil {
		return err
	}
	defer svc.close()
	reg := svc.reg
	set, err := source.New(srcCfg, log, reg)
	if err != nil {
		return stateDirError("ship", opts.StateDir, err)
	}
	defer set.Close()
	sh, err := shipper.New(sndCfg, log, reg)
	if err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	srcs, total, err := openShipSources(set, opts.Paths)
	defer func() {
		for _, src := range srcs {
			src.Close()
		}
	}()
	if err != nil {
		return fmt.Errorf("ship: %w", err)
	}

	var aux []func(context.Context) error
	if p := newProgress(s.ErrOut, "shipped", total); p != nil && total > 0 {
		aux = append(aux, func(ctx context.Context) error {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			defer p.done()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					p.update(int64(sh.Stats().AckedBytes))
				}
			}
		})
	}
	// Ready once the sources are open: the shipper is useful while the daemon is down
	// (files stay on disk, stdin goes to the journal).
	run := func(ctx context.Context) error { return sh.Run(ctx, srcs) }
	if err := svc.run(ctx, run, aux...); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ship: %w", err)
	}
	st := sh.Stats()
	log.Info("stopped", "acked_lines", st.AckedLines, "acked_bytes", st.AckedBytes, "unacknowledged", st.InFlight)
	return nil
}

// openShipSources opens one source per argument and returns the bytes the plain files
// hold beyond their checkpoints (for the progress report).
func openShipSources(set *source.Set, paths []string) ([]source.Source, int64, error) {
	var srcs []source.Source
	var total int64
	for _, p := range paths {
		switch {
		case p == "-":
			in, err := source.OpenStdin()
			if err != nil {
				return srcs, 0, err
			}
			j, err := set.OpenJournal("stdin", in)
			if err != nil {
				in.Close()
				return srcs, 0, err
			}
			srcs = append(srcs, j)
		case isGlob(p):
			gl, err := set.OpenGlob(p)
			if err != nil {
				return srcs, 0, err
			}
			srcs = append(srcs, gl)
		default:
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				return srcs, 0, fmt.Errorf("%s is a directory (quote a glob such as '%s/*.log')", p, p)
			}
			t, err := set.OpenFile(p)
			if err != nil {
				return srcs, 0, err
			}
			srcs = append(srcs, t)
			total += remaining(set, t.Path())
		}
	}
	return srcs, total, nil
}

// remaining returns how many bytes of the file at path lie beyond its checkpoint.
func remaining(set *source.Set, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	cp, found, err := set.Store().Load(path)
	if err != nil || !found {
		return 0
	}
	return max(fi.Size()-cp.FileOffset, 0)
}
