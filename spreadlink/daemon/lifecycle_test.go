package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"no listen", func(c *Config) { c.Listen = nil }, ErrInvalidConfig},
		{"bad address", func(c *Config) { c.Listen = []string{"nonsense"} }, ErrInvalidConfig},
		{"wildcard", func(c *Config) { c.Listen = []string{"0.0.0.0:4803"} }, ErrNonLoopback},
		{"empty host", func(c *Config) { c.Listen = []string{":4803"} }, ErrNonLoopback},
		{"lan", func(c *Config) { c.Listen = []string{"4803@192.0.2.1"} }, ErrNonLoopback},
		{"long name", func(c *Config) { c.Name = strings.Repeat("x", 20) }, ErrInvalidConfig},
		{"hash in name", func(c *Config) { c.Name = "a#b" }, ErrInvalidConfig},
		{"space in name", func(c *Config) { c.Name = "a b" }, ErrInvalidConfig},
		{"messages", func(c *Config) { c.MaxSessionMessages = -1 }, ErrInvalidConfig},
		{"bytes", func(c *Config) { c.MaxSessionBytes = 1000 }, ErrInvalidConfig},
		{"sessions", func(c *Config) { c.MaxSessions = -1 }, ErrInvalidConfig},
		{"timeout", func(c *Config) { c.HandshakeTimeout = -1 }, ErrInvalidConfig},
		{"soft messages", func(c *Config) { c.SoftSessionMessages = c.MaxSessionMessages + 1 }, ErrInvalidConfig},
		{"soft bytes", func(c *Config) { c.SoftSessionBytes = -1 }, ErrInvalidConfig},
		{"stall timeout", func(c *Config) { c.StallTimeout = -1 }, ErrInvalidConfig},
		{"ok: soft marks", func(c *Config) { c.SoftSessionMessages = 10; c.SoftSessionBytes = 1 << 20 }, nil},
		{"ok: flow control off", func(c *Config) { c.FlowControl = false; c.SoftSessionMessages = -1 }, nil},
		{"ok: ipv6 loopback", func(c *Config) { c.Listen = []string{"[::1]:4803", "4803@localhost"} }, nil},
		{"ok: wildcard allowed", func(c *Config) { c.Listen = []string{"0.0.0.0:4803"}; c.AllowNonLoopback = true }, nil},
		{"ok: 19 chars", func(c *Config) { c.Name = strings.Repeat("x", 19) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
			if c.Listen == nil {
				return // New fills zero fields with defaults
			}
			if _, err := New(c, nil, nil); tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("New() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "4803")
	// A stale socket (nothing listens) is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	cfg := testConfig(t)
	cfg.Listen = []string{"unix:" + path}
	d := startDaemon(t, cfg)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want 0666", fi.Mode().Perm())
	}
	dial(t, d.addr(t, "unix"), "u", false)

	// A live one is not taken over.
	d2, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Start(); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("second daemon on %s: %v, want ErrAddressInUse", path, err)
	}
	// Nor is a file that is not a socket.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = []string{"unix:" + file}
	d3, _ := New(cfg, nil, nil)
	if err := d3.Start(); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("daemon on a regular file: %v, want ErrAddressInUse", err)
	}
}

func TestTCPPortInUse(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	cfg := testConfig(t)
	cfg.Listen = []string{"unix:" + filepath.Join(t.TempDir(), "s"), d.addr(t, "tcp")}
	d2, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Start(); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("second daemon: %v, want ErrAddressInUse", err)
	}
	// The unix socket bound before the failure was released.
	if _, err := os.Stat(strings.TrimPrefix(cfg.Listen[0], "unix:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	cfg := testConfig(t)
	d, err := New(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Addrs()) != 0 {
		t.Errorf("addrs before start: %v", d.Addrs())
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	waitFor(t, "listeners", func() bool { return len(d.Addrs()) == 2 })
	if err := d.Start(); err != nil {
		t.Errorf("second Start: %v", err)
	}
	c := dial(t, d.Addrs()[0].String(), "c", false)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var m spreadlink.Message
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.Receive(&m); !errors.Is(err, spreadlink.ErrConnectionClosed) {
		t.Errorf("receive after shutdown: %v", err)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := d.Start(); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown: %v", err)
	}
	if _, err := os.Stat(strings.TrimPrefix(cfg.Listen[1], "unix:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestShutdownFlushes checks the goodbye: what is queued when Shutdown starts still
// reaches a reading client, then the connection closes.
func TestShutdownFlushes(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionMessages = 100000
	d := startDaemon(t, cfg)
	addr := d.addr(t, "unix")
	rx := dialRaw(t, addr)
	priv := rx.handshake("rx", false)
	rx.write(rawFrame(uint32(spreadlink.JoinMess)|0x80000080, priv, []string{"g"}, 0x80000080, nil))
	// rx (no membership messages) cannot see its join take effect: wait for the daemon to
	// order it, or the first messages go to a group without members (a loaded run read
	// 1163 of 2000).
	waitMember(t, d, "g", priv)
	tx := dial(t, addr, "tx", false)
	const n = 2000
	d.mu.Lock()
	epoch := d.epoch
	d.mu.Unlock()
	for range n {
		if err := tx.Multicast(spreadlink.Agreed, "g", 0, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	// Ordered, not only read: received_messages_total counts a request before it is
	// ordered, and one the reader holds when Shutdown begins is not ordered (see
	// TestShutdownOrdersNothingMore).
	waitOrdered(t, d, epoch+n)
	read := make(chan int)
	go func() {
		_ = rx.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(rx.nc)
		read <- len(b)
	}()
	// What is checked is that the goodbye flush delivers everything queued, not how
	// fast: give it far more than the default second (a loaded CI machine under -race).
	d.goodbye = 30 * time.Second
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-read; got != n*(spreadlink.HeaderLen+spreadlink.GroupNameLen+1000) {
		t.Errorf("read %d bytes after shutdown, want %d messages", got, n)
	}
}

// TestShutdownDuringHandshake: a half-open handshake does not hold Shutdown up.
func TestShutdownDuringHandshake(t *testing.T) {
	cfg := testConfig(t)
	cfg.HandshakeTimeout = time.Minute
	d := startDaemon(t, cfg)
	r := dialRaw(t, d.addr(t, "tcp"))
	r.write([]byte{5, 0})
	waitFor(t, "connection served", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.conns) == 1
	})
	start := time.Now()
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Shutdown must not wait for the handshake timeout (a minute).
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("shutdown took %v: it waited for the half-open handshake", el)
	}
}

func TestMetrics(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "tcp")
	a := dial(t, addr, "a", true)
	if err := a.Join("g"); err != nil {
		t.Fatal(err)
	}
	recv(t, a)
	if err := a.Multicast(spreadlink.Agreed, "g", 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	recv(t, a)
	waitFor(t, "delivered counter", func() bool { return testutil.ToFloat64(d.m.messagesOut) >= 2 })
	want := map[string]float64{
		"logspread_daemon_sessions":                  1,
		"logspread_daemon_groups":                    1,
		"logspread_daemon_sessions_accepted_total":   1,
		"logspread_daemon_received_messages_total":   2,
		"logspread_daemon_received_bytes_total":      80 + 81,
		"logspread_daemon_membership_messages_total": 1,
		"logspread_daemon_delivered_messages_total":  2,
		"logspread_daemon_delivered_bytes_total":     48 + 32 + 56 + 81,
		"logspread_daemon_queued_messages":           0,
	}
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		m := mf.GetMetric()[0]
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, name := range []string{"logspread_daemon_sessions_kicked_total", "logspread_daemon_protocol_violations_total", "logspread_daemon_rejects_total", "logspread_daemon_queued_bytes"} {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	// A second daemon on the same registry is refused, not silently merged.
	if _, err := New(testConfig(t), nil, d.reg); err == nil {
		t.Error("second daemon registered the same metrics")
	}
}

// TestShutdownOrdersNothingMore: once Shutdown has begun, a request that a reader still
// reads (from its buffer) is not ordered. Sessions that end during the shutdown leave
// their groups unannounced, so ordering it could deliver a sender's own marker after
// data that a member present until then never got (TestShipDaemonRestart lost a batch
// so). The test sets the flag as Shutdown does first, before the readers' goodbye.
func TestShutdownOrdersNothingMore(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "unix")
	b := dial(t, addr, "b", false)
	if err := b.Join("g"); err != nil {
		t.Fatal(err)
	}
	syncConn(t, b)
	a := dial(t, addr, "a", false)
	d.mu.Lock()
	d.shutdown = true
	epoch := d.epoch
	d.mu.Unlock()
	if err := a.Multicast(spreadlink.Agreed, "g", 0, []byte("late")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request refused (the session ends) or ordered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.names["a"] == nil || d.epoch != epoch
	})
	d.mu.Lock()
	d.shutdown = false // the test's cleanup shuts the daemon down for real
	d.mu.Unlock()
	expectNothing(t, b) // the next delivery is b's own marker, not "late"
}
