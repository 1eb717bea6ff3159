package daemon

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
)

// TestReconfigure: a running daemon takes new access rules, quotas and socket modes
// for the connections that come after, keeps its sessions, and refuses a change of
// what only a new daemon takes, changing nothing then.
func TestReconfigure(t *testing.T) {
	cfg := testConfig(t)
	sock := filepath.Join(t.TempDir(), "4803")
	cfg.Listen = []string{"127.0.0.1:0", "unix:" + sock}
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	d := startDaemon(t, cfg)
	tcp := d.addr(t, "tcp")
	ctx := t.Context()

	far := spreadlink.Config{Address: tcp, Name: "far", Dialer: sourceDialer("127.0.0.2")}
	if _, err := spreadlink.Dial(ctx, far); !errors.Is(err, spreadlink.ErrRejectAuth) {
		t.Fatalf("client from 127.0.0.2 before the change: %v, want REJECT_AUTH", err)
	}
	near := dial(t, tcp, "near", false)

	// Fixed settings: refused, nothing applied.
	bad := cfg
	bad.Name = "other"
	bad.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if _, err := d.Reconfigure(bad); !errors.Is(err, ErrFixedSetting) {
		t.Fatalf("Reconfigure with a new Name: %v, want ErrFixedSetting", err)
	}
	if _, err := spreadlink.Dial(ctx, far); !errors.Is(err, spreadlink.ErrRejectAuth) {
		t.Fatalf("client from 127.0.0.2 after a refused change: %v, want REJECT_AUTH", err)
	}
	bad = cfg
	bad.MaxSessionMessages = -1
	if _, err := d.Reconfigure(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Reconfigure with MaxSessionMessages -1: %v, want ErrInvalidConfig", err)
	}

	// Allow 127.0.0.2, a quota of two sessions (near and far), a socket mode, a
	// shorter stall timeout, new bounds.
	next := cfg
	next.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	next.MaxSessions = 2
	next.SocketMode = 0o600
	next.StallTimeout = 2 * time.Second
	next.MaxSessionMessages = 100
	n, err := d.Reconfigure(next)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Reconfigure reported %d sessions from networks no longer allowed, want 1 (near, from 127.0.0.1)", n)
	}
	c, err := spreadlink.Dial(ctx, far)
	if err != nil {
		t.Fatalf("client from 127.0.0.2 after the change: %v", err)
	}
	defer c.Close()
	if _, err := spreadlink.Dial(ctx, spreadlink.Config{Address: d.addr(t, "unix"), Name: "third"}); !errors.Is(err, spreadlink.ErrRejectQuota) {
		t.Errorf("third session with MaxSessions 2: %v, want REJECT_QUOTA", err)
	}
	// near, from a network no longer allowed, is still served.
	if err := near.Join("g"); err != nil {
		t.Errorf("session from before the change: %v", err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode after the change: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	got := d.config()
	if got.MaxSessionMessages != 100 || got.SoftSessionMessages != 50 || got.StallTimeout != 2*time.Second {
		t.Errorf("bounds after the change: max %d soft %d stall %v, want 100, 50 (half), 2s",
			got.MaxSessionMessages, got.SoftSessionMessages, got.StallTimeout)
	}
	if tick := d.progressTick(); tick != 500*time.Millisecond {
		t.Errorf("progress tick %v, want 500ms (a quarter of the stall timeout)", tick)
	}
}
