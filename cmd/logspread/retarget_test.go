package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipReleaseSwitchKeepsOldWriter: a deployment's switch under a followed
// current/logs/access.log. The new release's server writes its first lines, "current" is
// switched to it, and the old release's server, which keeps its descriptor until it
// restarts, goes on appending to the old release's log: those lines are shipped too,
// once, also after the old release's directory is deleted. (Before: every line the old
// server appended after the switch was lost, silently.)
func TestShipReleaseSwitchKeepsOldWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	release := func(name string) string { return filepath.Join(dir, "releases", name) }
	serve := func(name string) *os.File { // a release's server, its log opened
		t.Helper()
		if err := os.MkdirAll(filepath.Join(release(name), "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(release(name), "logs", "access.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	current := filepath.Join(dir, "current")
	old := serve("r1")
	if err := os.Symlink(release("r1"), current); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(current, "logs", "access.log")
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--rotate-wait", "1h", path)
	p.WaitLog(t, `msg=following .*source=`+regexp.QuoteMeta(path)+` from=end`)

	var want [][]byte
	write := func(f *os.File, b []byte) {
		t.Helper()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	write(old, accessLines("r1", 1, 10))
	r.expectLines(t, p, want...)

	live := serve("r2")
	write(live, accessLines("r2", 1, 10))
	if err := os.Symlink(release("r2"), current+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(current+".tmp", current); err != nil {
		t.Fatal(err)
	}
	r.expectLines(t, p, want...)
	// The old server ends its requests; the new one serves.
	write(old, accessLines("r1", 11, 20))
	write(live, accessLines("r2", 11, 20))
	r.expectLines(t, p, want...)
	// The old release removed before its server has restarted.
	if err := os.RemoveAll(release("r1")); err != nil {
		t.Fatal(err)
	}
	write(old, accessLines("r1", 21, 30))
	write(live, accessLines("r2", 21, 30))
	r.expectLines(t, p, want...)
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}
