package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
	"github.com/spf13/cobra"
)

// DaemonOptions are the options of the daemon command.
type DaemonOptions struct {
	Listen             []string      `yaml:"listen"`
	Name               string        `yaml:"name"`
	MaxSessionMessages int           `yaml:"max_session_messages"`
	MaxSessionBytes    byteSize      `yaml:"max_session_bytes"`
	MaxSessions        int           `yaml:"max_sessions"`
	MaxSessionGroups   int           `yaml:"max_session_groups"`
	HandshakeTimeout   time.Duration `yaml:"handshake_timeout"`
	AllowNonLoopback   bool          `yaml:"allow_non_loopback"`
	Allow              []string      `yaml:"allow"`
	SocketMode         string        `yaml:"socket_mode"`
	SocketGroup        string        `yaml:"socket_group"`
	FlowControl        bool          `yaml:"flow_control"`
	SoftSessionMsgs    int           `yaml:"soft_session_messages"`
	SoftSessionBytes   byteSize      `yaml:"soft_session_bytes"`
	StallTimeout       time.Duration `yaml:"stall_timeout"`
	// LogLevel is the file's log_level (--log-level, a flag of every command, wins).
	LogLevel    string `yaml:"log_level"`
	MetricsAddr string `yaml:"metrics_addr"`
	config      configFlags
}

func newCmdDaemon(s *streams, g *globalOptions, runF func(*DaemonOptions) error) *cobra.Command {
	d := daemon.DefaultConfig()
	opts := &DaemonOptions{
		Listen:             []string{defaultSpread},
		Name:               d.Name,
		MaxSessionMessages: d.MaxSessionMessages,
		MaxSessionBytes:    byteSize(d.MaxSessionBytes),
		MaxSessions:        d.MaxSessions,
		MaxSessionGroups:   d.MaxSessionGroups,
		HandshakeTimeout:   d.HandshakeTimeout,
		SocketMode:         fmt.Sprintf("%#o", uint32(d.SocketMode)),
		FlowControl:        d.FlowControl,
		StallTimeout:       d.StallTimeout,
	}
	for _, p := range d.Allow {
		opts.Allow = append(opts.Allow, p.String())
	}
	cmd := &cobra.Command{
		Use:   "daemon [--listen ADDR]...",
		Short: "Run the embedded Spread daemon",
		Long: `Run logspread's embedded daemon, which speaks the Spread Toolkit client protocol
(Spread 4.x/5.x): shippers, collectors and libspread programs (spuser,
mod_log_spread, spreadlogd) connect to it as to a real Spread daemon. It delivers
every message in one total order. It serves one host; for several hosts run real
Spread daemons.

It listens on loopback unless --allow-non-loopback is given, and takes TCP
clients only from the networks --allow lists (loopback unless given); others are
refused with Spread's REJECT_AUTH. Unix sockets get --socket-mode and
--socket-group. A session whose
queue of undelivered messages passes --max-session-messages (or
--max-session-bytes) is disconnected, as Spread does.

Flow control (on by default, unlike real Spread): while any session's queue is
above its soft mark (half the bounds, at most 8 MiB, unless --soft-session-messages or
--soft-session-bytes say otherwise), the daemon stops reading requests from all
clients, so senders slow down to the pace of the slowest reader instead of that
reader being disconnected and losing messages. A session that stays above its soft
mark without reading for --stall-timeout is disconnected as stalled.
--flow-control=false restores Spread's behaviour.

By default it listens on the unix socket /run/logspread/4803, every client's default
address (created with its directory; under systemd, RuntimeDirectory=logspread).
SIGHUP re-reads --config and applies log_level, the session bounds and soft marks
(from the next message queued), max_session_groups (from the next join),
stall_timeout, allow, max_sessions and
handshake_timeout (for new connections; sessions served stay), socket_mode and
socket_group (at once); listen, name, allow_non_loopback, flow_control and
metrics_addr are logged as needing a restart.`,
		Example: `  logspread daemon
  logspread daemon --listen 127.0.0.1:4803 --listen unix:/run/logspread/4803
  logspread daemon --config /etc/logspread/daemon.yaml --metrics-addr 127.0.0.1:9803
  logspread daemon --listen 0.0.0.0:4803 --allow-non-loopback --allow 192.0.2.0/24 --allow 127.0.0.1/32
  logspread daemon --listen unix:/run/logspread/4803 --socket-mode 0660 --socket-group logspread`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.config.replay = replayArgs(cmd, args)
			if err := opts.config.load(cmd, opts); err != nil {
				return err
			}
			if err := g.fileLevel(&opts.config, opts.LogLevel); err != nil {
				return err
			}
			if err := opts.check(); err != nil {
				return err
			}
			cfg := opts.daemonConfig()
			if err := cfg.Validate(); err != nil {
				return usageError("daemon: %v", err)
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
			return daemonRun(cmd.Context(), log, g, opts, cfg)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Listen, "listen", opts.Listen, "listen `ADDR`: unix:PATH (a unix socket), HOST:PORT or PORT@HOST (TCP), or PORT (Spread's unix socket /tmp/PORT); repeatable")
	f.StringVar(&opts.Name, "name", opts.Name, "daemon `NAME` in private group names (#user#NAME), at most 19 characters")
	f.IntVar(&opts.MaxSessionMessages, "max-session-messages", opts.MaxSessionMessages, "disconnect a session with more than `N` undelivered messages")
	f.Var(&opts.MaxSessionBytes, "max-session-bytes", "disconnect a session with more undelivered bytes than this (e.g. 64M)")
	f.IntVar(&opts.MaxSessions, "max-sessions", opts.MaxSessions, "refuse sessions beyond `N` (REJECT_QUOTA)")
	f.IntVar(&opts.MaxSessionGroups, "max-session-groups", opts.MaxSessionGroups, "refuse a session's join beyond `N` groups (ILLEGAL_GROUP) and disconnect it")
	f.DurationVar(&opts.HandshakeTimeout, "handshake-timeout", opts.HandshakeTimeout, "time a new client has to complete the handshake")
	f.BoolVar(&opts.AllowNonLoopback, "allow-non-loopback", false, "allow TCP listen addresses other than loopback")
	f.StringArrayVar(&opts.Allow, "allow", opts.Allow, "take TCP clients from the network `CIDR` (such as 192.0.2.0/24, or one address); others get REJECT_AUTH; repeatable")
	f.StringVar(&opts.SocketMode, "socket-mode", opts.SocketMode, "permission bits of the unix sockets, an octal `MODE`")
	f.StringVar(&opts.SocketGroup, "socket-group", "", "`GROUP` (name or id) owning the unix sockets (default: the daemon's group)")
	f.BoolVar(&opts.FlowControl, "flow-control", opts.FlowControl, "pause reading all clients while a session's queue is above its soft mark (false: Spread's behaviour)")
	f.IntVar(&opts.SoftSessionMsgs, "soft-session-messages", 0, "flow control soft mark in messages, `N` (0: half of --max-session-messages)")
	f.Var(&opts.SoftSessionBytes, "soft-session-bytes", "flow control soft mark in bytes (e.g. 8M; 0: half of --max-session-bytes, at most 8M)")
	f.DurationVar(&opts.StallTimeout, "stall-timeout", opts.StallTimeout, "disconnect a session above its soft mark that reads nothing for this long")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this `ADDR`")
	opts.config.add(cmd)
	return cmd
}

// check validates the options; errors name the flag or YAML key, the value and what
// is allowed.
func (o *DaemonOptions) check() error {
	c := &o.config
	if len(o.Listen) == 0 {
		return c.invalid("listen", "", "at least one address")
	}
	for _, l := range o.Listen {
		if err := c.checkAddress("listen", l); err != nil {
			return err
		}
		if !o.AllowNonLoopback && !isLoopback(l) {
			return c.invalid("listen", l, "a loopback address or a unix socket, or pass --allow-non-loopback to serve other hosts")
		}
	}
	if len(o.Allow) == 0 {
		return c.invalid("allow", "", "at least one network such as 127.0.0.0/8")
	}
	for _, a := range o.Allow {
		if _, err := parseAllow(a); err != nil {
			return c.invalid("allow", a, "a network in CIDR notation such as 192.0.2.0/24 or 2001:db8::/32, or one address such as 192.0.2.7")
		}
	}
	if err := c.checkMetricsAddr(o.MetricsAddr); err != nil {
		return err
	}
	if _, err := parseMode(o.SocketMode); err != nil {
		return c.invalid("socket-mode", o.SocketMode, "permission bits in octal such as 0660 or 0666")
	}
	if g := o.SocketGroup; g != "" && !knownGroup(g) {
		return c.invalid("socket-group", g, "a group name or id known to this host (getent group), or empty for the daemon's group")
	}
	switch {
	case len(o.Name) == 0 || len(o.Name) > spreadlink.MaxProcName || strings.Contains(o.Name, "#") || !spreadlink.ValidGroupName(o.Name):
		return c.invalid("name", o.Name, fmt.Sprintf("1 to %d characters of '$'..'~', without '#'", spreadlink.MaxProcName))
	case o.MaxSessionMessages <= 0:
		return c.invalid("max-session-messages", o.MaxSessionMessages, "a positive number of messages")
	case o.MaxSessionBytes < spreadlink.HeaderLen+spreadlink.MaxPayload || o.MaxSessionBytes > 1<<40:
		return c.invalid("max-session-bytes", &o.MaxSessionBytes, fmt.Sprintf("at least %d bytes (one message of the largest size)", spreadlink.HeaderLen+spreadlink.MaxPayload))
	case o.MaxSessions <= 0:
		return c.invalid("max-sessions", o.MaxSessions, "a positive number of sessions")
	case o.MaxSessionGroups <= 0:
		return c.invalid("max-session-groups", o.MaxSessionGroups, "a positive number of groups per session")
	case o.HandshakeTimeout <= 0:
		return c.invalid("handshake-timeout", o.HandshakeTimeout, "a positive duration such as 3s")
	case !o.FlowControl:
		return nil
	case o.SoftSessionMsgs < 0 || o.SoftSessionMsgs > o.MaxSessionMessages:
		return c.invalid("soft-session-messages", o.SoftSessionMsgs, fmt.Sprintf("0 (half of max-session-messages) up to max-session-messages (%d)", o.MaxSessionMessages))
	case o.SoftSessionBytes < 0 || o.SoftSessionBytes > o.MaxSessionBytes:
		return c.invalid("soft-session-bytes", &o.SoftSessionBytes, fmt.Sprintf("0 (half of max-session-bytes) up to max-session-bytes (%v)", &o.MaxSessionBytes))
	case o.StallTimeout <= 0:
		return c.invalid("stall-timeout", o.StallTimeout, "a positive duration such as 10s")
	}
	return nil
}

// knownGroup reports whether group, a name or a numeric id, can own the unix sockets: a
// number, or a name the host resolves (what the daemon does when it binds them).
func knownGroup(group string) bool {
	if id, err := strconv.Atoi(group); err == nil {
		return id >= 0
	}
	_, err := user.LookupGroup(group)
	return err == nil
}

func (o *DaemonOptions) daemonConfig() daemon.Config {
	cfg := daemon.DefaultConfig()
	cfg.Listen = o.Listen
	cfg.Name = o.Name
	cfg.MaxSessionMessages = o.MaxSessionMessages
	cfg.MaxSessionBytes = int(o.MaxSessionBytes)
	cfg.MaxSessions = o.MaxSessions
	cfg.MaxSessionGroups = o.MaxSessionGroups
	cfg.HandshakeTimeout = o.HandshakeTimeout
	cfg.AllowNonLoopback = o.AllowNonLoopback
	cfg.Allow = cfg.Allow[:0]
	for _, a := range o.Allow {
		p, _ := parseAllow(a) // checked by check
		cfg.Allow = append(cfg.Allow, p)
	}
	cfg.SocketMode, _ = parseMode(o.SocketMode)
	cfg.SocketGroup = o.SocketGroup
	cfg.FlowControl = o.FlowControl
	cfg.SoftSessionMessages = o.SoftSessionMsgs
	cfg.SoftSessionBytes = int(o.SoftSessionBytes)
	cfg.StallTimeout = o.StallTimeout
	return cfg
}

func daemonRun(ctx context.Context, log *slog.Logger, g *globalOptions, opts *DaemonOptions, cfg daemon.Config) error {
	svc, err := newService(log, opts.MetricsAddr)
	if err != nil {
		return err
	}
	defer svc.close()
	if err := makeSocketDirs(cfg.Listen); err != nil {
		return err
	}
	d, err := daemon.New(cfg, log, svc.reg)
	if err != nil {
		return usageError("daemon: %v", err)
	}
	if err := d.Start(); err != nil {
		switch {
		case errors.Is(err, daemon.ErrAddressInUse):
			return fmt.Errorf("daemon: %w (another daemon running? stop it or pick another --listen)", err)
		case errors.Is(err, daemon.ErrNonLoopback):
			return usageError("daemon: %v; pass --allow-non-loopback to serve other hosts", errors.Unwrap(err))
		}
		return fmt.Errorf("daemon: %w", err)
	}
	for _, a := range d.Addrs() {
		log.Info("listening", "addr", a.String())
	}
	if opts.AllowNonLoopback && !allowsRemote(cfg.Allow) {
		log.Warn("listening beyond loopback, but --allow admits loopback clients only: other hosts are refused (REJECT_AUTH); add --allow NETWORK", "allow", opts.Allow)
	}
	svc.reload = func() {
		newOpts, g2, err := rereadDaemon(g, opts)
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			return
		}
		applyLevel(log, g, g2)
		live, restart := split(changedKeys(opts, newOpts), daemonRestart)
		if len(restart) > 0 {
			log.Warn("SIGHUP: these settings changed but take effect only after a restart (systemctl restart logspread-daemon)", "settings", quoteKeys(restart))
		}
		if len(live) == 0 {
			return
		}
		// What needs a restart keeps its running value; the rest is applied.
		next := *opts
		for _, k := range live {
			f := yamlFields(reflect.TypeFor[DaemonOptions]())[k]
			reflect.ValueOf(&next).Elem().Field(f).Set(reflect.ValueOf(newOpts).Elem().Field(f))
		}
		if err := next.check(); err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "err", err)
			return
		}
		disallowed, err := d.Reconfigure(next.daemonConfig())
		if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "settings", quoteKeys(live), "err", err)
			return
		}
		*opts = next
		log.Info("SIGHUP: applied (bounds and soft marks from the next message queued, max_session_groups from the next join, allow, max_sessions and handshake_timeout for new connections, socket mode and group at once)", "settings", quoteKeys(live))
		if disallowed > 0 {
			log.Warn("SIGHUP: sessions connected from networks the new allow list refuses stay connected until they reconnect (restart the daemon to cut them off)", "sessions", disallowed, "allow", strings.Join(opts.Allow, ","))
		}
	}
	return svc.run(ctx, d.Run)
}

// daemonRestart names the settings of daemon that only a new process applies: the
// listeners, the name in every private group, flow control (which decides at each
// connect how a session is treated) and the metrics address.
var daemonRestart = []string{"listen", "name", "allow_non_loopback", "flow_control", "metrics_addr"}

// rereadDaemon re-reads the daemon's configuration.
func rereadDaemon(g *globalOptions, opts *DaemonOptions) (*DaemonOptions, *globalOptions, error) {
	g2 := g.forReload()
	o, err := rereadOptions(opts.config.replay, func(s *streams, runF func(*DaemonOptions) error) *cobra.Command {
		return newCmdDaemon(s, g2, runF)
	})
	return o, g2, err
}

// parseAllow parses an --allow value: a CIDR prefix, or one address (a /32 or /128).
func parseAllow(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// allowsRemote reports whether some network of allow reaches beyond loopback.
func allowsRemote(allow []netip.Prefix) bool {
	for _, p := range allow {
		if !p.Addr().IsLoopback() || p.Bits() == 0 {
			return true
		}
	}
	return false
}

// parseMode parses permission bits in octal ("0660", "660", "0o660").
func parseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || n == 0 || n > 0o777 {
		return 0, fmt.Errorf("mode %q: want permission bits in octal", s)
	}
	return fs.FileMode(n), nil
}

// isLoopback reports whether the listen address l is a unix socket or a TCP address on
// loopback ("localhost" or a loopback IP); l must parse.
func isLoopback(l string) bool {
	a, err := spreadlink.ParseAddress(l)
	if err != nil || a.Network != "tcp" {
		return true
	}
	host, _, _ := net.SplitHostPort(a.Addr)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// makeSocketDirs creates the missing parent directories of the unix socket addresses
// in listen (/run/logspread for the default socket, which systemd's RuntimeDirectory
// creates under the units), readable by all so that clients can reach the socket.
func makeSocketDirs(listen []string) error {
	for _, l := range listen {
		a, err := spreadlink.ParseAddress(l)
		if err != nil || a.Network != "unix" {
			continue
		}
		dir := filepath.Dir(a.Addr)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("daemon: --listen %s: %w (run under systemd, whose unit creates %s with RuntimeDirectory=logspread, create it, or listen elsewhere: --listen unix:DIR/4803 or --listen 127.0.0.1:4803)", l, err, dir)
		}
	}
	return nil
}
