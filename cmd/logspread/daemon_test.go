package main

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
)

// TestDaemonAccessOptions: --allow, --socket-mode and --socket-group (and their YAML keys)
// reach the daemon's configuration; the defaults are loopback only and 0666.
func TestDaemonAccessOptions(t *testing.T) {
	run := func(args ...string) daemon.Config {
		t.Helper()
		var got *DaemonOptions
		cmd := newCmdDaemon(&streams{}, &globalOptions{}, func(o *DaemonOptions) error {
			got = o
			return nil
		})
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("daemon %v: %v", args, err)
		}
		return got.daemonConfig()
	}
	cfg := run()
	if !reflect.DeepEqual(cfg.Allow, daemon.DefaultAllow()) || cfg.SocketMode != 0o666 || cfg.SocketGroup != "" {
		t.Errorf("defaults: allow %v, socket mode %v, group %q", cfg.Allow, cfg.SocketMode, cfg.SocketGroup)
	}
	cfg = run("--allow", "192.0.2.7", "--allow", "198.51.100.9/24", "--allow", "2001:db8::/32", "--socket-mode", "0660", "--socket-group", "adm")
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	if !reflect.DeepEqual(cfg.Allow, want) || cfg.SocketMode != 0o660 || cfg.SocketGroup != "adm" {
		t.Errorf("flags: allow %v, socket mode %v, group %q", cfg.Allow, cfg.SocketMode, cfg.SocketGroup)
	}
	file := filepath.Join(t.TempDir(), "daemon.yaml")
	if err := os.WriteFile(file, []byte("allow: [10.1.0.0/16]\nsocket_mode: 0640\nsocket_group: root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = run("--config", file)
	if !reflect.DeepEqual(cfg.Allow, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}) || cfg.SocketMode != 0o640 || cfg.SocketGroup != "root" {
		t.Errorf("file: allow %v, socket mode %v, group %q", cfg.Allow, cfg.SocketMode, cfg.SocketGroup)
	}

	// A group the host does not know is refused by the configuration check (and so by
	// --check-config and a reload), naming the flag or key and the value, not only when
	// the daemon binds its sockets.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--socket-group", "logspread-no-such-group"}, `--socket-group "logspread-no-such-group": want a group name or id known to this host`},
		{[]string{"--socket-group", "-1"}, `--socket-group "-1": want`},
	} {
		cmd := newCmdDaemon(&streams{}, &globalOptions{}, func(*DaemonOptions) error { return nil })
		cmd.SetArgs(c.args)
		err := cmd.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("daemon %v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
}

// TestDaemonAccessProcess runs `logspread daemon` with an allow list and a socket mode:
// a TCP client from 127.0.0.2 is refused with REJECT_AUTH, one from 127.0.0.1 is served,
// and the socket has the mode asked for.
func TestDaemonAccessProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	p := testsupport.StartProcess(t, "daemon", "--listen", "127.0.0.1:0", "--listen", "unix:"+sock,
		"--allow", "127.0.0.1/32", "--socket-mode", "0600")
	tcp := p.WaitLog(t, `msg=listening addr=(127\.0\.0\.1:\d+)`)[1]
	p.WaitLog(t, `msg=listening addr=unix:`)
	from := func(src string) spreadlink.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	}
	_, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: tcp, Name: "far", Dialer: from("127.0.0.2")})
	if !errors.Is(err, spreadlink.ErrRejectAuth) {
		t.Errorf("client from 127.0.0.2: %v, want REJECT_AUTH", err)
	}
	p.WaitLog(t, `connection refused: client address not allowed.*client=127\.0\.0\.2:`)
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: tcp, Name: "near", Dialer: from("127.0.0.1")})
	if err != nil {
		t.Fatalf("client from 127.0.0.1: %v", err)
	}
	c.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: %v %v, want mode 0600", sock, fi, err)
	}
}
