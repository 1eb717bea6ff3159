package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sourceDialer dials from the loopback address src (127.0.0.2 is loopback on Linux, so a
// test can be a client at another address without leaving the machine).
func sourceDialer(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// TestAllowList: a TCP client from an address outside Config.Allow is refused with
// REJECT_AUTH before the handshake, a client inside it is served, and unix socket clients
// are not checked.
func TestAllowList(t *testing.T) {
	cfg := testConfig(t)
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	d := startDaemon(t, cfg)
	tcp := d.addr(t, "tcp")

	ctx := t.Context()
	_, err := spreadlink.Dial(ctx, spreadlink.Config{Address: tcp, Name: "far", Dialer: sourceDialer("127.0.0.2")})
	if !errors.Is(err, spreadlink.ErrRejectAuth) {
		t.Fatalf("client from 127.0.0.2: %v, want REJECT_AUTH", err)
	}
	if n := testutil.ToFloat64(d.m.rejects.WithLabelValues(spreadlink.RejectAuth.String())); n != 1 {
		t.Errorf("rejects_total{code=REJECT_AUTH} = %v, want 1", n)
	}

	// What a libspread client sees: the reject byte where the auth offer would be.
	nc, err := sourceDialer("127.0.0.2").DialContext(ctx, "tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawConn{t, nc}
	t.Cleanup(func() { nc.Close() })
	r.write([]byte("\x05\x00\x01\x01\x03cap"))
	if got := r.readAll(); string(got) != "\xf7" {
		t.Errorf("daemon sent %q to a refused client, want REJECT_AUTH (\\xf7)", got)
	}

	for _, c := range []spreadlink.Config{
		{Address: tcp, Name: "near", Dialer: sourceDialer("127.0.0.1")},
		{Address: d.addr(t, "unix"), Name: "local"},
	} {
		conn, err := spreadlink.Dial(ctx, c)
		if err != nil {
			t.Fatalf("allowed client %s: %v", c.Address, err)
		}
		conn.Close()
	}
}

// TestAllowDefaultLoopback: without Allow, every loopback address may connect.
func TestAllowDefaultLoopback(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: d.addr(t, "tcp"), Name: "lo2", Dialer: sourceDialer("127.0.0.2")})
	if err != nil {
		t.Fatalf("client from 127.0.0.2 with the default allow list: %v", err)
	}
	conn.Close()
}

// TestSocketModeGroup: the unix socket gets Config.SocketMode and Config.SocketGroup.
func TestSocketModeGroup(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "4803")
	cfg := testConfig(t)
	cfg.Listen = []string{"unix:" + sock}
	cfg.SocketMode = 0o660
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SocketGroup = g.Name
	startDaemon(t, cfg)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}

	sock2 := filepath.Join(t.TempDir(), "4803")
	cfg.Listen = []string{"unix:" + sock2}
	cfg.SocketMode, cfg.SocketGroup = 0, ""
	startDaemon(t, cfg)
	if fi, err := os.Stat(sock2); err != nil || fi.Mode().Perm() != DefaultSocketMode {
		t.Errorf("default socket mode: %v %v, want %v", fi.Mode().Perm(), err, DefaultSocketMode)
	}

	cfg.SocketGroup = "no-such-group-logspread"
	cfg.Listen = []string{"unix:" + filepath.Join(t.TempDir(), "4803")}
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown socket group: %v, want ErrInvalidConfig", err)
	}
	_ = d.Shutdown(context.Background())
}
