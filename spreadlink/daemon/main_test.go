package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig listens on a free loopback TCP port and a unix socket in a temp directory.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"127.0.0.1:0", "unix:" + filepath.Join(t.TempDir(), "4803")}
	// Every session is lossless, whatever its name: most tests exercise flow control
	// on any reader. The best-effort tests (TestBestEffort*) use the default prefixes.
	cfg.LosslessPrefixes = []string{""}
	return cfg
}

// testDaemon is a running daemon with its registry, shut down at the end of the test.
type testDaemon struct {
	*Daemon
	reg *prometheus.Registry
}

func startDaemon(t testing.TB, cfg Config) *testDaemon {
	t.Helper()
	reg := prometheus.NewRegistry()
	d, err := New(cfg, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testDaemon{d, reg}
}

// addr returns the daemon's address of the given network as ParseAddress takes it.
func (d *testDaemon) addr(t testing.TB, network string) string {
	t.Helper()
	for _, a := range d.Addrs() {
		if a.Network == network {
			return a.String()
		}
	}
	t.Fatalf("no %s address in %v", network, d.Addrs())
	return ""
}

// dial connects a spreadlink client; it is closed at the end of the test.
func dial(t testing.TB, addr, name string, membership bool) *spreadlink.Conn {
	t.Helper()
	c, err := spreadlink.Dial(context.Background(), spreadlink.Config{Address: addr, Name: name, Membership: membership})
	if err != nil {
		t.Fatalf("dial %s as %q: %v", addr, name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recv receives the next message within a few seconds.
func recv(t testing.TB, c *spreadlink.Conn) *spreadlink.Message {
	t.Helper()
	m := new(spreadlink.Message)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.Receive(m); err != nil {
		t.Fatalf("%s: receive: %v", c.PrivateGroup(), err)
	}
	return m
}

// rawConn is a connection that speaks bytes, for hostile and captured frames.
type rawConn struct {
	t  testing.TB
	nc net.Conn
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	a, err := spreadlink.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial(a.Network, a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t, nc}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read reads exactly n bytes within a few seconds.
func (r *rawConn) read(n int) []byte {
	r.t.Helper()
	b := make([]byte, n)
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(r.nc, b); err != nil {
		r.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// readAll reads until EOF (or a few seconds) and returns what came.
func (r *rawConn) readAll() []byte {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(r.nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection still open after %q", b)
	}
	return b
}

// handshake connects as name with a 5.0.1 hello and returns the private group.
func (r *rawConn) handshake(name string, membership bool) string {
	r.t.Helper()
	r.write(spreadlink.AppendHello(nil, name, membership, false))
	if got := r.read(6); string(got) != "\x05NULL " {
		r.t.Fatalf("auth offer %q", got)
	}
	r.write(spreadlink.AppendAuthChoice(nil, "NULL"))
	acc := r.read(5)
	if acc[0] != 1 {
		r.t.Fatalf("accept %x", acc)
	}
	return string(r.read(int(acc[4])))
}

// waitFor polls cond until it holds, failing the test shortly before the test binary's
// deadline (go test -timeout), as internal/testsupport.Eventually does: that package
// imports this one, so this package's tests cannot use it. This is the package's one poll
// helper.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute) // no -timeout, or a benchmark
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			deadline = dl.Add(-min(max(time.Until(dl)/10, time.Second), time.Minute))
		}
	}
	for interval := time.Millisecond; !cond(); interval = min(2*interval, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(interval) // polling, with a deadline from the test binary's
	}
}

// waitMember waits until the daemon has ordered the join of the session with the private
// group priv to group: a raw client without membership messages cannot see that itself.
func waitMember(t testing.TB, d *testDaemon, group, priv string) {
	t.Helper()
	waitFor(t, priv+"'s join of "+group+" to be ordered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if g := d.groups[group]; g != nil {
			for _, m := range g.members {
				if m.private == priv {
					return true
				}
			}
		}
		return false
	})
}

// waitOrdered waits until the daemon has ordered data messages up to delivery epoch
// epoch (d.epoch counts the data messages ordered). A counter of requests read, such as
// received_messages_total, runs ahead of this: it counts a request before it is ordered.
func waitOrdered(t testing.TB, d *testDaemon, epoch uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("data messages to be ordered up to epoch %d", epoch), func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.epoch >= epoch
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
