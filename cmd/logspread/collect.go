package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
	"github.com/spf13/cobra"
)

// CollectOptions are the options of the collect command.
type CollectOptions struct {
	Name           string                `yaml:"name"`
	Spread         string                `yaml:"spread"`
	Serve          []string              `yaml:"serve"`
	Logs           []collector.LogConfig `yaml:"logs"`
	LogSpecs       []string              `yaml:"-"` // --log GROUP=TEMPLATE, replaces Logs
	VhostFormat    string                `yaml:"vhost_format"`
	HostPrefix     bool                  `yaml:"host_prefix"`
	Dir            string                `yaml:"dir"`
	StateDir       string                `yaml:"state_dir"`
	Compress       string                `yaml:"compress"`
	RotateSize     byteSize              `yaml:"rotate_size"`
	RotateInterval time.Duration         `yaml:"rotate_interval"`
	FlushInterval  time.Duration         `yaml:"flush_interval"`
	Fsync          string                `yaml:"fsync"`
	UTC            bool                  `yaml:"utc"`
	GapMarkers     bool                  `yaml:"gap_markers"`
	MaxHoles       int                   `yaml:"max_holes"`
	MaxStreams     int                   `yaml:"max_streams"`
	StreamExpiry   time.Duration         `yaml:"stream_expiry"`
	ReassemblySize byteSize              `yaml:"reassembly_size"`
	MaxLogs        int                   `yaml:"max_logs"`
	StopTimeout    time.Duration         `yaml:"stop_timeout"`
	QueueSize      byteSize              `yaml:"queue_size"`
	MaxOpenFiles   int                   `yaml:"max_open_files"`
	// LogLevel is the file's log_level (--log-level, a flag of every command, wins).
	LogLevel    string `yaml:"log_level"`
	MetricsAddr string `yaml:"metrics_addr"`
	config      configFlags
}

func newCmdCollect(s *streams, g *globalOptions, runF func(*CollectOptions) error) *cobra.Command {
	d := collector.DefaultConfig()
	opts := &CollectOptions{
		Spread:         defaultSpread,
		VhostFormat:    collector.DefaultFormat,
		Dir:            d.Dir,
		Compress:       string(d.Compression),
		FlushInterval:  d.FlushInterval,
		Fsync:          string(d.Fsync),
		QueueSize:      byteSize(d.QueueBytes),
		MaxOpenFiles:   d.MaxOpenWriters,
		MaxHoles:       collector.DefaultMaxHoles,
		MaxStreams:     d.MaxStreams,
		StreamExpiry:   d.StreamExpiry,
		ReassemblySize: byteSize(d.ReassemblyBytes),
		MaxLogs:        d.MaxLogs,
		StopTimeout:    d.DrainTimeout,
	}
	cmd := &cobra.Command{
		Use:   "collect --log GROUP=PATH_TEMPLATE... [flags]",
		Short: "Write the lines multicast to Spread groups into ordered, compressed segments",
		Long: `Join the groups and write every line delivered to them, in Spread's total order,
de-duplicated (resent batches are written once), into segments: files of complete
zstd frames (or gzip members, or plain text), one frame closed per flush, so a crash
leaves every flushed line readable ('logspread cat'). Collectors hearing the same
messages write byte-identical uncompressed logs.

PATH_TEMPLATE is relative to --dir and may use {group}, {vhost}, {host} and
strftime fields (%Y %m %d %H %M %S ...). With {vhost}, each line goes to the log of
its virtual host, read with --vhost-format (default vhost_combined); lines without a
usable vhost go to "_default". With {host}, each line goes to the log of the web
host that shipped it (ship --host, carried in every batch); lines without a usable
host (raw messages, older shippers) go to "_unknown". --host-prefix starts every
line with that host name and a space instead. Names from the network never leave
--dir.

--serve runs the embedded Spread daemon in this process on the given addresses
(the single-box case) and collects from it. SIGHUP closes every segment cleanly
and reopens it by name at its next lines (appended to, or a new file where
logrotate moved it away), after re-reading --config: changed logs,
templates and segment settings are applied by a new collector (the old one leaves
its groups and writes what it received first); --serve, --dir, --state-dir and
--metrics-addr need a restart (logged). SIGINT/SIGTERM write what was received,
close the segments and save the state.`,
		Example: `  logspread collect --log www=www/%Y/%m/www-%Y%m%d-%H.log.zst --dir /var/log/logspread
  logspread collect --serve 127.0.0.1:4803 --serve unix:/run/logspread/4803 --log www={group}.log.zst
  logspread collect --log www=sites/{vhost}/%F.log.gz --compress gzip --rotate-interval 24h
  logspread collect --log www=hosts/{host}/www-%F.log.zst
  logspread collect --log www=www-%F.log.zst --host-prefix
  logspread collect --config /etc/logspread/collect.yaml --check-config`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.config.replay = replayArgs(cmd, args)
			if err := opts.config.load(cmd, opts); err != nil {
				return err
			}
			if err := g.fileLevel(&opts.config, opts.LogLevel); err != nil {
				return err
			}
			cfg, err := opts.collectorConfig()
			if err != nil {
				return err
			}
			if len(opts.Serve) > 0 {
				dcfg := daemon.DefaultConfig()
				dcfg.Listen = opts.Serve
				if err := dcfg.Validate(); err != nil {
					return usageError("collect: --serve: %v", err)
				}
			}
			if opts.config.Check {
				fmt.Fprintln(s.Out, "configuration ok")
				return nil
			}
			if runF != nil {
				return runF(opts)
			}
			log, err := g.logger(s.ErrOut)
			if err != nil {
				return err
			}
			return collectRun(cmd.Context(), log, g, opts, cfg)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.LogSpecs, "log", nil, "write group GROUP to segments named by the template (`GROUP=PATH_TEMPLATE`); repeatable")
	f.StringVar(&opts.Name, "name", "", "this collector's stable `NAME` in its progress reports (letters, digits, '.', '_', '-'; default: the host name and a hash of the absolute --dir)")
	f.StringVar(&opts.Spread, "spread", opts.Spread, spreadUsage)
	f.StringArrayVar(&opts.Serve, "serve", nil, "run the embedded daemon on this `ADDR` (unix:PATH, HOST:PORT, PORT@HOST or PORT) and collect from it; repeatable")
	f.StringVar(&opts.VhostFormat, "vhost-format", opts.VhostFormat, "`FORMAT` of the lines, to read their {vhost} (vhost_combined, json, an Apache or nginx format string)")
	f.StringVar(&opts.Dir, "dir", opts.Dir, "output `DIR`; templates are relative to it")
	f.StringVar(&opts.StateDir, "state-dir", "", "`DIR` of the state file (default: --dir)")
	f.StringVar(&opts.Compress, "compress", opts.Compress, "segment `COMPRESSION`: zstd, gzip or none")
	f.Var(&opts.RotateSize, "rotate-size", "rotate a segment at this compressed size (e.g. 100M, 1G; 0: never)")
	f.DurationVar(&opts.RotateInterval, "rotate-interval", 0, "rotate segments at every multiple of this interval (e.g. 1h, 24h; 0: never)")
	f.DurationVar(&opts.FlushInterval, "flush-interval", opts.FlushInterval, "close a frame and save the state this often")
	f.StringVar(&opts.Fsync, "fsync", opts.Fsync, "`WHEN` to fsync segments: none or flush (after every frame)")
	f.BoolVar(&opts.UTC, "utc", false, "expand time fields and align rotation in UTC instead of local time")
	f.BoolVar(&opts.GapMarkers, "gap-markers", false, "write '# logspread gap ...' lines where lines may be missing")
	f.IntVar(&opts.MaxHoles, "max-holes", opts.MaxHoles, "`N` holes (missing ranges a resend may fill) kept per stream; beyond, the lowest becomes a counted gap")
	f.IntVar(&opts.MaxStreams, "max-streams", opts.MaxStreams, "`N` streams (one per shipper source) whose de-duplication state is kept in full, and records kept of expired ones; beyond, the least recently active stream expires (counted)")
	f.DurationVar(&opts.StreamExpiry, "stream-expiry", opts.StreamExpiry, "a stream with no batch for this long (`D`) expires: its holes become counted gaps, a record of its end is kept so a resend is still a duplicate")
	f.Var(&opts.ReassemblySize, "reassembly-size", "bound of the bytes of over-long lines being reassembled over all streams, at least 1028K, the longest line (e.g. 64M); beyond, the least recently active stream's partial line is dropped (counted)")
	f.IntVar(&opts.MaxLogs, "max-logs", opts.MaxLogs, "`N` logs (per group and vhost) remembered without an open segment (their last segment, vhost names); beyond, one is forgotten (counted)")
	f.DurationVar(&opts.StopTimeout, "stop-timeout", opts.StopTimeout, "on SIGTERM, how long (`D`) to keep retrying failed writes before exiting non-zero with what was not written (keep it below systemd's TimeoutStopSec)")
	f.Var(&opts.QueueSize, "queue-size", "bound of the in-memory queue between the Spread reader and the writer (e.g. 64M)")
	f.IntVar(&opts.MaxOpenFiles, "max-open-files", opts.MaxOpenFiles, "`N` segments open at once (per log and vhost); the least recently used is closed beyond it")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this `ADDR`")
	f.BoolVar(&opts.HostPrefix, "host-prefix", false, "start every line written with the name of the web host it came from (ship --host) and a space, in every log (YAML: host_prefix, also per log)")
	opts.config.add(cmd)
	return cmd
}

// collectorConfig turns the options into a validated collector configuration.
func (o *CollectOptions) collectorConfig() (collector.Config, error) {
	if len(o.LogSpecs) > 0 {
		o.Logs = nil
		for _, spec := range o.LogSpecs {
			group, tmpl, ok := strings.Cut(spec, "=")
			if !ok || group == "" || tmpl == "" {
				return collector.Config{}, usageError("collect: --log %q: want GROUP=PATH_TEMPLATE", spec)
			}
			o.Logs = append(o.Logs, collector.LogConfig{Group: group, Template: tmpl})
		}
	}
	if len(o.Logs) == 0 {
		return collector.Config{}, usageError("collect: name at least one log with --log GROUP=PATH_TEMPLATE")
	}
	if err := o.check(); err != nil {
		return collector.Config{}, err
	}
	for i, l := range o.Logs {
		if err := o.checkLog(i, l); err != nil {
			return collector.Config{}, err
		}
	}
	cfg := collector.DefaultConfig()
	cfg.Name = o.Name
	cfg.Spread = o.Spread
	for _, l := range o.Logs {
		if l.Format == "" {
			l.Format = o.VhostFormat
		}
		l.HostPrefix = l.HostPrefix || o.HostPrefix
		cfg.Logs = append(cfg.Logs, l)
	}
	cfg.Dir = o.Dir
	cfg.StateDir = o.StateDir
	cfg.Compression = segment.Compression(o.Compress)
	cfg.RotateBytes = int64(o.RotateSize)
	cfg.RotateInterval = o.RotateInterval
	cfg.FlushInterval = o.FlushInterval
	cfg.Fsync = segment.FsyncPolicy(o.Fsync)
	cfg.UTC = o.UTC
	cfg.GapMarkers = o.GapMarkers
	cfg.QueueBytes = int(o.QueueSize)
	cfg.MaxOpenWriters = o.MaxOpenFiles
	cfg.MaxHoles = o.MaxHoles
	cfg.MaxStreams = o.MaxStreams
	cfg.StreamExpiry = o.StreamExpiry
	cfg.ReassemblyBytes = int(o.ReassemblySize)
	cfg.MaxLogs = o.MaxLogs
	cfg.DrainTimeout = o.StopTimeout
	if _, err := cfg.Validate(); err != nil {
		return cfg, o.logsError(err)
	}
	return cfg, nil
}

// check validates the options but the logs (collector.Config.Validate checks those);
// errors name the flag or YAML key, the value and what is allowed.
func (o *CollectOptions) check() error {
	c := &o.config
	if o.Name != "" && !envelope.ValidCollectorName(o.Name) {
		return c.invalid("name", o.Name, fmt.Sprintf("1 to %d letters, digits, '.', '_' or '-'", envelope.MaxCollectorName))
	}
	if err := c.notEmpty("name", o.Name, fmt.Sprintf("1 to %d letters, digits, '.', '_' or '-'", envelope.MaxCollectorName)); err != nil {
		return err
	}
	if err := c.checkAddress("spread", o.Spread); err != nil {
		return err
	}
	if err := c.checkDir("dir", o.Dir, "/var/log/central"); err != nil {
		return err
	}
	if err := c.notEmpty("state-dir", o.StateDir, "a directory such as /var/lib/logspread/collector"); err != nil {
		return err
	}
	if err := c.checkMetricsAddr(o.MetricsAddr); err != nil {
		return err
	}
	if _, err := formats.Compile(o.VhostFormat); err != nil || o.VhostFormat == "" {
		return c.invalid("vhost-format", o.VhostFormat, "vhost_combined, json, or an Apache or nginx format string with the virtual host (%v, $host)")
	}
	for _, l := range o.Serve {
		if err := c.checkAddress("serve", l); err != nil {
			return err
		}
		if !isLoopback(l) {
			return c.invalid("serve", l, "a loopback address or a unix socket (run 'logspread daemon --allow-non-loopback' to serve other hosts)")
		}
	}
	switch segment.Compression(o.Compress) {
	case segment.CompressZstd, segment.CompressGzip, segment.CompressNone:
	default:
		return c.invalid("compress", o.Compress, "zstd, gzip or none")
	}
	switch segment.FsyncPolicy(o.Fsync) {
	case segment.FsyncNone, segment.FsyncFlush:
	default:
		return c.invalid("fsync", o.Fsync, "none or flush")
	}
	switch {
	case o.RotateInterval < 0 || (o.RotateInterval > 0 && o.RotateInterval < time.Second):
		return c.invalid("rotate-interval", o.RotateInterval, "0 (never) or at least 1s")
	case o.FlushInterval <= 0:
		return c.invalid("flush-interval", o.FlushInterval, "a positive duration such as 1s")
	case o.QueueSize < 64<<10:
		return c.invalid("queue-size", &o.QueueSize, "at least 64K")
	case o.MaxOpenFiles < 1:
		return c.invalid("max-open-files", o.MaxOpenFiles, "at least 1")
	case o.MaxHoles < 1 || o.MaxHoles > 1<<20:
		return c.invalid("max-holes", o.MaxHoles, "1 to 1048576")
	case o.MaxStreams < 1:
		return c.invalid("max-streams", o.MaxStreams, "at least 1")
	case o.StreamExpiry < time.Minute:
		return c.invalid("stream-expiry", o.StreamExpiry, "at least 1m, well above the shippers' checkpoint interval (default 168h)")
	case o.ReassemblySize < 1<<20+4<<10 || o.ReassemblySize > 1<<40:
		return c.invalid("reassembly-size", &o.ReassemblySize, "1028K (the longest line) to 1T")
	case o.MaxLogs < 1:
		return c.invalid("max-logs", o.MaxLogs, "at least 1")
	case o.StopTimeout <= 0:
		return c.invalid("stop-timeout", o.StopTimeout, "a positive duration below systemd's TimeoutStopSec, such as 20s")
	}
	return nil
}

// checkLog checks the i-th log (0-based); errors name the --log flag or the YAML key
// (logs[N].group, logs[N].path, logs[N].format) and its line.
func (o *CollectOptions) checkLog(i int, l collector.LogConfig) error {
	bad := func(field, value, format string, args ...any) error {
		want := fmt.Sprintf(format, args...)
		if len(o.LogSpecs) > 0 {
			return usageError("collect: --log %q: %s %q: %s", o.LogSpecs[i], field, value, want)
		}
		key := fmt.Sprintf("logs[%d].%s", i+1, field)
		line, ok := o.config.keys[key]
		if !ok {
			line, key = o.config.keys["logs"], fmt.Sprintf("logs[%d]", i+1)
			return usageError("collect: config %s line %d: %s: %s is missing: %s", o.config.File, line, key, field, want)
		}
		return usageError("collect: config %s line %d: %s: %q: %s", o.config.File, line, key, value, want)
	}
	if l.Group == "" {
		return bad("group", l.Group, "want the Spread group to write, such as www")
	}
	if err := collector.ValidateGroup(l.Group); err != nil {
		return bad("group", l.Group, "%v", err)
	}
	if err := spreadlink.CheckGroupName(l.Group); err != nil {
		return bad("group", l.Group, "%v", err)
	}
	if l.Template == "" {
		return bad("path", l.Template, "want a segment name template below --dir, such as www/%%Y/%%m/{vhost}-%%Y%%m%%d.log.zst")
	}
	t, err := segment.ParseTemplate(l.Template)
	if err != nil {
		return bad("path", l.Template, "%v", err)
	}
	if !t.UsesVhost() {
		return nil
	}
	format, wantFormat := l.Format, "vhost_combined, json, or an Apache or nginx format string with the virtual host (%v, $host)"
	if format == "" {
		format = o.VhostFormat
		f, err := formats.Compile(format)
		if err != nil || !f.HasVHost() {
			return o.config.invalid("vhost-format", format, wantFormat+", as the path of log "+l.Group+" uses {vhost}")
		}
		return nil
	}
	f, err := formats.Compile(format)
	if err != nil || !f.HasVHost() {
		return bad("format", format, "want %s, as the path uses {vhost}", wantFormat)
	}
	return nil
}

// logsError turns an error of collector.Config.Validate, which after check can only be
// about the logs, into a usage error that names where the logs came from.
func (o *CollectOptions) logsError(err error) error {
	if len(o.LogSpecs) == 0 && o.config.keys["logs"] > 0 {
		return usageError("collect: config %s line %d: logs: %v", o.config.File, o.config.keys["logs"], err)
	}
	return usageError("collect: --log: %v", err)
}

// collectRestart names the settings of collect that only a new process applies: the
// embedded daemon, the metrics listener, and the state directory it locks.
var collectRestart = []string{"serve", "metrics_addr", "dir", "state_dir"}

func collectRun(ctx context.Context, log *slog.Logger, g *globalOptions, opts *CollectOptions, cfg collector.Config) error {
	svc, err := newService(log, opts.MetricsAddr)
	if err != nil {
		return err
	}
	defer svc.close()
	reg := svc.reg
	var d *daemon.Daemon
	if len(opts.Serve) > 0 {
		dcfg := daemon.DefaultConfig()
		dcfg.Listen = opts.Serve
		var err error
		if d, err = daemon.New(dcfg, log, reg); err != nil {
			return usageError("collect: --serve: %v", err)
		}
		if err := d.Start(); err != nil {
			return fmt.Errorf("collect: --serve: %w", err)
		}
		for _, a := range d.Addrs() {
			log.Info("embedded daemon listening", "addr", a.String())
		}
		cfg.Spread = d.Addrs()[0].String()
	}
	lock, err := lockStateDir(cfg)
	if err != nil {
		stopDaemon(d)
		return stateDirErrorAs("collect", lock.dir, lock.given, err)
	}
	defer lock.Release()
	// The collector is replaced by a new one when a reload changes its settings; its
	// metrics go with it.
	var cur atomic.Pointer[collector.Collector]
	var creg *swapRegisterer
	build := func(cfg collector.Config) (*collector.Collector, error) {
		creg = &swapRegisterer{reg: reg}
		c, err := collector.New(cfg, log, creg)
		if err != nil {
			creg.unregisterAll()
			return nil, err
		}
		cur.Store(c)
		return c, nil
	}
	first, err := build(cfg)
	if err != nil {
		stopDaemon(d)
		return usageError("collect: %v", err)
	}
	svc.healthy = func() error { return cur.Load().Healthy() }
	rs := newRestarter[collector.Config]()
	running := cfg // the reload's copy
	svc.reload = func() {
		newOpts, newCfg, g2, err := rereadCollect(g, opts)
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			log.Info("SIGHUP: reopening all segments")
			cur.Load().Reopen()
			return
		}
		applyLevel(log, g, g2)
		live, restart := split(changedKeys(opts, newOpts), collectRestart)
		if len(restart) > 0 {
			log.Warn("SIGHUP: these settings changed but take effect only after a restart (systemctl restart logspread-collector)", "settings", quoteKeys(restart))
		}
		if len(live) == 0 {
			log.Info("SIGHUP: reopening all segments")
			cur.Load().Reopen()
			return
		}
		// Keep what needs a restart as it runs.
		newCfg.Spread, newCfg.Dir, newCfg.StateDir = running.Spread, running.Dir, running.StateDir
		if len(opts.Serve) == 0 && slices.Contains(live, "spread") {
			newCfg.Spread = newOpts.Spread
		}
		log.Info("SIGHUP: applying new settings: the collector leaves its groups, writes what it received, closes every segment, and joins again with them", "settings", quoteKeys(live))
		opts.update(newOpts, live)
		rs.offer(newCfg)
	}
	start := func(ctx context.Context, c collector.Config) (bool, error) {
		col := first
		if first == nil {
			var err error
			if col, err = build(c); err != nil {
				return true, fmt.Errorf("collect: %w", err)
			}
		}
		first = nil
		defer creg.unregisterAll()
		if err := col.Run(ctx); err != nil {
			return false, fmt.Errorf("collect: %w", err)
		}
		return false, nil
	}
	run := func(ctx context.Context) error {
		return rs.run(ctx, cfg, start, func(err error) {
			log.Error("SIGHUP: the new settings could not be applied; running with the previous ones", "err", err)
		})
	}
	// The embedded daemon is a helper: it outlives the collector, so the collector
	// leaves cleanly.
	var aux []func(context.Context) error
	if d != nil {
		aux = append(aux, d.Run)
	}
	return svc.run(ctx, run, aux...)
}

// stopDaemon shuts down a started embedded daemon (nil is fine).
func stopDaemon(d *daemon.Daemon) {
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Shutdown(ctx)
}

// rereadCollect re-reads the collector's configuration.
func rereadCollect(g *globalOptions, opts *CollectOptions) (*CollectOptions, collector.Config, *globalOptions, error) {
	g2 := g.forReload()
	o, err := rereadOptions(opts.config.replay, func(s *streams, runF func(*CollectOptions) error) *cobra.Command {
		return newCmdCollect(s, g2, runF)
	})
	if err != nil {
		return nil, collector.Config{}, nil, err
	}
	cfg, err := o.collectorConfig()
	return o, cfg, g2, err
}

// update copies the settings named by keys from n, so that the next reload compares
// with what runs.
func (o *CollectOptions) update(n *CollectOptions, keys []string) {
	ov, nv := reflect.ValueOf(o).Elem(), reflect.ValueOf(n).Elem()
	fields := yamlFields(ov.Type())
	for _, k := range keys {
		ov.Field(fields[k]).Set(nv.Field(fields[k]))
	}
}
