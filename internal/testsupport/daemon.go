package testsupport

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink/daemon"
	"github.com/prometheus/client_golang/prometheus"
)

// Daemon is an embedded Spread daemon started by StartDaemon.
type Daemon struct {
	*daemon.Daemon
	// Addr is the address clients dial: "unix:" and the daemon's unix socket.
	Addr string
	// Socket is the path of the unix socket.
	Socket string
	// TCPAddr is the free loopback TCP address it also listens on ("127.0.0.1:port").
	TCPAddr string
	// Registry holds the daemon's metrics.
	Registry *prometheus.Registry

	flush    time.Duration // its ShutdownFlush
	stopOnce sync.Once
}

// DaemonOption changes the configuration StartDaemon uses.
type DaemonOption func(*daemonSettings)

type daemonSettings struct {
	cfg    daemon.Config
	socket string
}

// WithSocket makes the daemon listen on the unix socket path (instead of one in a new
// temporary directory), so that a test can start a daemon where clients already try to
// connect, or a second one where a stopped one was.
func WithSocket(path string) DaemonOption {
	return func(s *daemonSettings) { s.socket = path }
}

// WithFlowControl turns the daemon's flow control on (the default) or off (Spread's
// behaviour: a reader whose queue passes its bound is disconnected).
func WithFlowControl(on bool) DaemonOption {
	return func(s *daemonSettings) { s.cfg.FlowControl = on }
}

// WithSessionBounds sets the bounds of one session's queue: messages and bytes (0 keeps
// the default).
func WithSessionBounds(messages, bytes int) DaemonOption {
	return func(s *daemonSettings) {
		if messages != 0 {
			s.cfg.MaxSessionMessages = messages
		}
		if bytes != 0 {
			s.cfg.MaxSessionBytes = bytes
		}
	}
}

// WithShutdownFlush sets how long stopping the daemon lets it deliver what it queued
// (daemon.Config.ShutdownFlush). Tests that stop a daemon mid-stream and count on its
// goodbye use a generous value.
func WithShutdownFlush(d time.Duration) DaemonOption {
	return func(s *daemonSettings) { s.cfg.ShutdownFlush = d }
}

// WithConfig lets f change any field of the configuration; the listen addresses are set
// after it.
func WithConfig(f func(*daemon.Config)) DaemonOption {
	return func(s *daemonSettings) {
		if f != nil {
			f(&s.cfg)
		}
	}
}

// StartDaemon starts an embedded daemon listening on a unix socket in a temporary
// directory (or WithSocket's) and on a free loopback TCP port, with
// daemon.DefaultConfig otherwise, and stops it at the end of the test (Stop stops it
// earlier). It logs to the test's output with -v.
func StartDaemon(t testing.TB, opts ...DaemonOption) *Daemon {
	t.Helper()
	s := daemonSettings{cfg: daemon.DefaultConfig()}
	for _, o := range opts {
		o(&s)
	}
	if s.socket == "" {
		s.socket = filepath.Join(SocketDir(t), "4803")
	}
	s.cfg.Listen = []string{"unix:" + s.socket, "127.0.0.1:0"}
	reg := prometheus.NewRegistry()
	dd, err := daemon.New(s.cfg, Logger(t), reg)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	if err := dd.Start(); err != nil {
		t.Fatalf("daemon start: %v", err)
	}
	d := &Daemon{Daemon: dd, Addr: "unix:" + s.socket, Socket: s.socket, Registry: reg, flush: s.cfg.ShutdownFlush}
	for _, a := range dd.Addrs() {
		if a.Network == "tcp" {
			d.TCPAddr = a.Addr
		}
	}
	t.Cleanup(func() { d.Stop(t) })
	return d
}

// Stop shuts the daemon down, letting it flush for as long as its configuration says
// (ShutdownFlush). It fails the test if the shutdown takes 10 seconds longer than that;
// calling it again does nothing.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	d.stopOnce.Do(func() {
		flush := d.flush
		if flush == 0 {
			flush = daemon.DefaultShutdownFlush
		}
		ctx, cancel := context.WithTimeout(context.Background(), flush+10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("daemon shutdown: %v", err)
		}
	})
}

// Metric returns the value of the daemon's metric name, summed over its labels.
func (d *Daemon) Metric(t testing.TB, name string) float64 {
	t.Helper()
	return Gather(t, d.Registry, name)
}

// SocketDir returns a new, short temporary directory for unix sockets (a socket path has
// at most 107 bytes, and t.TempDir's paths grow with the test's name). It is removed at
// the end of the test.
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ls")
	if err != nil {
		t.Fatalf("socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Logger logs at debug level to the test's output with -v, and nowhere otherwise.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
