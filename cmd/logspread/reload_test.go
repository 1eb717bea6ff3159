package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadShip: SIGHUP re-reads the shipper's file: a path added there is followed,
// the log level changes, and no line of the files is lost or doubled; a setting only a
// restart applies is logged by name.
func TestReloadShip(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines := func(path, lines string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(lines)
		f.Close()
	}
	appendLines(a, "a1\na2\n")
	appendLines(b, "b1\n")
	cfg := filepath.Join(dir, "ship.yaml")
	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\npaths: ["+a+"]\n")
	p := testsupport.StartProcess(t, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--from-beginning")
	r.expect(t, []byte("a1\na2\n"))

	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\npaths: ["+a+", "+b+"]\nlog_level: debug\nmetrics_addr: 127.0.0.1:0\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: log level changed" .*level=DEBUG`)
	p.WaitLog(t, `msg="SIGHUP: these settings changed but take effect only after a restart.*" .*settings=metrics_addr`)
	p.WaitLog(t, `msg="SIGHUP: applying new settings.*" .*settings=paths`)
	p.WaitLog(t, `(?s)connected to the Spread daemon.*connected to the Spread daemon`)
	r.expect(t, []byte("a1\na2\nb1\n")) // b.log is new to the shipper: from its beginning
	appendLines(a, "a3\n")
	r.expect(t, []byte("a1\na2\nb1\na3\n"))
	appendLines(b, "b2\n")
	r.expect(t, []byte("a1\na2\nb1\na3\nb2\n"))
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p.WaitLog(t, `msg="stopped; every line read was acknowledged" .*acked_lines=\d+`)
}

// TestReloadShipStdin: a piped shipper cannot open stdin again: SIGHUP applies the log
// level and names every other changed setting as needing a restart.
func TestReloadShipStdin(t *testing.T) {
	dir := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cfg := filepath.Join(dir, "ship.yaml")
	writeConfig(t, cfg, "group: www\nspread: unix:"+filepath.Join(dir, "none")+"\npaths: [\"-\"]\n")
	p := startWithStdin(t, pr, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	p.WaitLog(t, "cannot reach the Spread daemon")
	writeConfig(t, cfg, "group: www\nspread: unix:"+filepath.Join(dir, "none")+"\npaths: [\"-\"]\nbatch_size: 32K\nlog_level: warn\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: these settings changed but take effect only after a restart.*" .*settings=batch_size`)
	if strings.Contains(p.Stderr.String(), "applying new settings") {
		t.Errorf("a stdin shipper restarted its sources:\n%s", p.Stderr)
	}
}

// TestReloadCollect: SIGHUP re-reads the collector's file: a log added there is
// written, the existing log loses nothing, and a broken file leaves the running
// configuration in place (and still rotates).
func TestReloadCollect(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "collect.yaml")
	base := "spread: unix:" + sock + "\ndir: " + out + "\ncompress: none\nflush_interval: 50ms\n"
	writeConfig(t, cfg, base+"logs:\n  - group: www\n    path: \"{group}.log\"\n")
	col := testsupport.StartProcess(t, "collect", "--config", cfg)
	col.WaitLog(t, `msg="joined all groups"`)
	ship := func(group, lines string) {
		t.Helper()
		cmd := testsupport.Command(t, "ship", "--group", group, "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state-"+group), "-")
		cmd.Stdin = strings.NewReader(lines)
		p := testsupport.Start(t, cmd)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("ship to %s: exit %d:\n%s", group, code, p.Stderr)
		}
	}
	ship("www", "w1\n")

	writeConfig(t, cfg, base+"logs:\n  - group: www\n    path: \"{group}.log\"\n  - group: api\n    path: \"{group}.log\"\n")
	col.Signal(t, syscall.SIGHUP)
	col.WaitLog(t, `msg="SIGHUP: applying new settings.*" .*settings=logs`)
	col.WaitLog(t, `(?s)joined all groups.*joined all groups`)
	ship("api", "a1\n")
	ship("www", "w2\n")

	writeConfig(t, cfg, base+"logs: nonsense\n")
	col.Signal(t, syscall.SIGHUP)
	col.WaitLog(t, `msg="SIGHUP: configuration not reloaded; the running one stays" .*err=.*logs`)
	if code := col.Terminate(t); code != 0 {
		t.Fatalf("collect: exit %d", code)
	}
	lines := func(prefix string) []string {
		files, _ := filepath.Glob(filepath.Join(out, prefix+"*"))
		var all []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all = append(all, strings.Fields(string(b))...)
		}
		slices.Sort(all)
		return all
	}
	if got := lines("www"); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Errorf("www lines %q, want w1 and w2 once each", got)
	}
	if got := lines("api"); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("api lines %q, want a1", got)
	}
}

// TestReloadDaemon: SIGHUP re-reads the daemon's file: the log level changes; its
// other settings are named as needing a restart.
func TestReloadDaemon(t *testing.T) {
	dir := testsupport.SocketDir(t)
	cfg := filepath.Join(dir, "daemon.yaml")
	base := "listen: [\"unix:" + filepath.Join(dir, "4803") + "\"]\n"
	writeConfig(t, cfg, base)
	p := testsupport.StartProcess(t, "daemon", "--config", cfg)
	p.WaitLog(t, `msg=listening`)
	writeConfig(t, cfg, base+"log_level: debug\nmax_sessions: 10\nstall_timeout: 20s\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: log level changed" .*level=DEBUG`)
	p.WaitLog(t, `msg="SIGHUP: these settings changed but take effect only after a restart.*" .*settings="max_sessions, stall_timeout"`)
}
