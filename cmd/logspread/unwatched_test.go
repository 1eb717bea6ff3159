package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipUnwatchableDirectory: the shipper, run as nobody, follows a file it may read
// in a directory it may search but not read (0711, root's): fsnotify cannot watch it
// (inotify needs read permission). The watcher logged it as "directory missing;
// watching its parents for it to appear", which it is not, with no word of the
// permission. It now warns with the directory, the reason, the error and what to do,
// counts it (watch_errors_total{reason="permission"}), and, once the mode is fixed (an
// event in the parent), watches it: the file's lines arrive by events again (the poll
// backstop is an hour).
func TestShipUnwatchableDirectory(t *testing.T) {
	cred, dir := unprivileged(t)
	d := startTestDaemon(t, filepath.Join(testsupport.SocketDir(t), "4803"))
	r := startShipReceiver(t, "unix:"+d.Socket, "www")
	guarded := filepath.Join(dir, "guarded")
	if err := os.Mkdir(guarded, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(guarded, 0o711); err != nil { // (not subject to the umask)
		t.Fatal(err)
	}
	path := filepath.Join(guarded, "access.log")
	writeMode(t, path, nil, 0o644)
	p := asUser(t, cred, dir, "ship", "--group", "www", "--spread", d.TCPAddr, "--metrics-addr", "127.0.0.1:0",
		"--poll-interval", "1h", "--state-dir", ownedDir(t, cred, filepath.Join(dir, "state")), path)
	addr := p.MetricsAddr(t)
	line := p.WaitLog(t, `msg="cannot watch directory;[^\n]*`)[0]
	t.Log(line)
	for _, w := range []string{
		`dir=` + regexp.QuoteMeta(guarded) + ` `,
		`reason=permission`,
		`err="watch \S+: permission denied"`,
		`runs as user nobody \(uid \d+\)`,
		`lacks read \(r\) permission on the directory \(drwx--x--x root:root\)`,
		`chmod o\+r ` + regexp.QuoteMeta(guarded),
	} {
		if !regexp.MustCompile(w).MatchString(line) {
			t.Errorf("the warning does not say %s:\n%s", w, line)
		}
	}
	if v := scrape(t, addr, `logspread_shipper_watch_errors_total{reason="permission"}`); v != 1 {
		t.Errorf("watch errors (permission) %v, want 1", v)
	}
	p.WaitLog(t, `msg=following .*source=`+regexp.QuoteMeta(path))
	for _, l := range strings.Split(p.Stderr.String(), "\n") {
		if strings.Contains(l, "directory missing") && strings.Contains(l, "dir="+guarded+" ") {
			t.Errorf("the directory, which exists, is logged as missing:\n%s", l)
		}
	}

	// The mode fixed: watched again, and a write is seen by its event.
	if err := os.Chmod(guarded, 0o755); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, `msg="watching directory again" .*dir=`+regexp.QuoteMeta(guarded))
	appendTo(t, path, accessLines("g", 1, 3))
	r.expectLines(t, p, accessLines("g", 1, 3))
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}
