package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
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
	dir, spread, r := startShipTest(t)
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
	writeConfig(t, cfg, "group: www\nspread: "+spread+"\npaths: ["+a+"]\n")
	p := testsupport.StartProcess(t, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--from-beginning")
	r.expect(t, []byte("a1\na2\n"))

	writeConfig(t, cfg, "group: www\nspread: "+spread+"\npaths: ["+a+", "+b+"]\nlog_level: debug\nmetrics_addr: 127.0.0.1:0\n")
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

// TestReloadShipStdin: a piped shipper cannot open stdin again, but SIGHUP gives it a
// new sender (here: the daemon's right address, then another batch delay while lines
// flow), which takes the journal over from its last acknowledged line: every line
// arrives once, in order. Settings its open sources hold (journal_size) are named as
// needing a restart.
func TestReloadShipStdin(t *testing.T) {
	dir, spread, r := startShipTest(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cfg := filepath.Join(dir, "ship.yaml")
	writeConfig(t, cfg, "group: www\nspread: unix:"+filepath.Join(dir, "none")+"\npaths: [\"-\"]\n")
	p := startWithStdin(t, pr, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	first := genLines(1, 200)
	pw.Write(first)
	p.WaitLog(t, "cannot reach the Spread daemon")

	writeConfig(t, cfg, "group: www\nspread: "+spread+"\npaths: [\"-\"]\nbatch_size: 32K\njournal_size: 64M\nlog_level: debug\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: these settings changed but take effect only after a restart.*" .*settings=journal_size`)
	p.WaitLog(t, `msg="SIGHUP: applying new settings: a new sender takes over the journal.*" .*settings="batch_size, spread"`)
	r.expect(t, first)

	// Lines in flight while the sender is replaced again.
	second := genLines(2, 3000)
	go pw.Write(second) // the pipe's buffer may be smaller; the shipper reads it
	writeConfig(t, cfg, "group: www\nspread: "+spread+"\npaths: [\"-\"]\nbatch_size: 32K\njournal_size: 64M\nlog_level: debug\nbatch_delay: 1ms\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: applying new settings: a new sender takes over the journal.*" .*settings=batch_delay`)
	r.expect(t, append(append([]byte{}, first...), second...))
	if st := r.stats(); st.GapBytes != 0 {
		t.Errorf("receiver saw gaps: %+v", st)
	}
	pw.Close()
	if code := p.Wait(t); code != 0 {
		t.Fatalf("ship: exit %d:\n%s", code, p.Stderr)
	}
	// The journal's files may still hold acknowledged lines: named as what is on disk,
	// not as bytes left to send.
	p.WaitLog(t, `msg="stopped; every line read was acknowledged" .*unacknowledged_bytes=0 journal_disk_bytes=\d+`)

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

// TestReloadDaemon: SIGHUP re-reads the daemon's file and applies what a running
// daemon can take: the log level, the allow list (a client refused before is served
// after), max_sessions (a session beyond the new quota is refused), the socket mode;
// settings only a restart applies (listen) are named, and a file that no longer checks
// changes nothing.
func TestReloadDaemon(t *testing.T) {
	dir := testsupport.SocketDir(t)
	cfg := filepath.Join(dir, "daemon.yaml")
	sock := filepath.Join(dir, "4803")
	base := "listen: [\"unix:" + sock + "\", \"127.0.0.1:0\"]\n"
	writeConfig(t, cfg, base+"allow: [127.0.0.1/32]\n")
	p := testsupport.StartProcess(t, "daemon", "--config", cfg)
	tcp := p.WaitLog(t, `msg=listening addr=(127\.0\.0\.1:\d+)`)[1]
	far := spreadlink.Config{Address: tcp, Name: "far", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}}
	if _, err := spreadlink.Dial(t.Context(), far); !errors.Is(err, spreadlink.ErrRejectAuth) {
		t.Fatalf("client from 127.0.0.2 before the reload: %v, want REJECT_AUTH", err)
	}

	writeConfig(t, cfg, base+"allow: [127.0.0.0/8]\nlog_level: debug\nmax_sessions: 1\nsocket_mode: \"0600\"\nstall_timeout: 20s\nmax_session_messages: 500\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: log level changed" .*level=DEBUG`)
	p.WaitLog(t, `msg="SIGHUP: applied .*" settings="allow, max_session_messages, max_sessions, socket_mode, stall_timeout"`)
	c, err := spreadlink.Dial(t.Context(), far)
	if err != nil {
		t.Fatalf("client from 127.0.0.2 after the reload: %v", err)
	}
	defer c.Close()
	if _, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: "unix:" + sock, Name: "second"}); !errors.Is(err, spreadlink.ErrRejectQuota) {
		t.Errorf("second session with max_sessions 1: %v, want REJECT_QUOTA", err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode after the reload: %v %v, want 0600", fi.Mode().Perm(), err)
	}

	// listen needs a restart; a file that does not check changes nothing.
	writeConfig(t, cfg, "listen: [\"unix:"+sock+"\"]\nallow: [127.0.0.0/8]\nlog_level: debug\nmax_sessions: 1\nsocket_mode: \"0600\"\nstall_timeout: 20s\nmax_session_messages: 500\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: these settings changed but take effect only after a restart.*" .*settings=listen`)
	writeConfig(t, cfg, base+"allow: [127.0.0.0/8]\nmax_sessions: -3\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: configuration not reloaded; the running one stays" .*max_sessions`)
	c.Close()
	testsupport.Eventually(t, func() bool {
		c2, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: "unix:" + sock, Name: "third"})
		if err == nil {
			c2.Close()
		}
		return err == nil
	}, "a session once the first left (max_sessions 1 still applies)")
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("daemon: exit %d", code)
	}
}

// TestReloadShipNewPathsFromReload: the new sources of a reload open after the old
// sender's drain (seconds while no collector acknowledges); a path or glob added to the
// configuration starts where its files stood when SIGHUP was taken, not at their end
// when the new sources open, so lines written in between are sent: the added file's
// lines after the signal, those of a file matching an added glob, all of a file created
// meanwhile, and the lines of the file followed before, from its checkpoint. What the
// added files held before the signal is not sent.
func TestReloadShipNewPathsFromReload(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	g := filepath.Join(dir, "g")
	if err := os.Mkdir(g, 0o755); err != nil {
		t.Fatal(err)
	}
	c, d := filepath.Join(g, "c.log"), filepath.Join(g, "d.log")
	appendLines := func(path, lines string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(lines)
		f.Close()
	}
	appendLines(a, "a-before-start\n")
	appendLines(b, "b-before-reload\n")
	appendLines(c, "c-before-reload\n")
	cfg := filepath.Join(dir, "ship.yaml")
	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\npaths: ["+a+"]\n")
	p := testsupport.StartProcess(t, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	p.WaitLog(t, `msg=following .*from=end`)
	p.WaitLog(t, `connected to the Spread daemon`) // the SIGHUP handler is set
	appendLines(a, "a1\n")

	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\npaths: ["+a+", "+b+", '"+filepath.Join(g, "*.log")+"']\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: applying new settings.*" .*settings=paths`)
	// Written after the signal, while the old sender drains (no collector acknowledges).
	appendLines(a, "a2\n")
	appendLines(b, "b1\n")
	appendLines(c, "c1\n")
	appendLines(d, "d1\n")
	p.WaitLog(t, `msg=following .*from=reload`)
	if strings.Contains(p.Stderr.String(), "unacknowledged batches") {
		// a1 was sent and not acknowledged: the old sender stops without waiting for
		// acknowledgements no collector can give.
		p.WaitLog(t, `stopping with unacknowledged batches; no collector is present`)
	}
	r := startShipReceiver(t, "unix:"+sock, "www")
	appendLines(b, "b2\n")
	want := []string{"a1", "a2", "b1", "b2", "c1", "d1"}
	testsupport.EventuallyErr(t, func() error {
		if n := r.len(); n < len(strings.Join(want, "\n"))+1 {
			return errors.New("waiting for the lines")
		}
		return nil
	})
	r.mu.Lock()
	got := strings.Split(strings.TrimSuffix(string(r.out), "\n"), "\n")
	r.mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
