package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// Cases 01, 02, 03 and 09 of the sources issue, with real processes: an embedded daemon,
// a receiver that de-duplicates as a collector does, and the logspread binary shipping.

// stop makes the receiver go away (a collector stopped), leaving the presence group.
func (r *shipReceiver) stop() {
	r.conn.Abort()
	<-r.done
}

// lines returns the receiver's lines, sorted (several streams interleave).
func (r *shipReceiver) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ls := strings.SplitAfter(string(r.out), "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	slices.Sort(ls)
	return ls
}

// expectLines waits until the receiver holds as many bytes as the lines of want, then
// compares its lines with them, in any order across streams: each exactly once.
func (r *shipReceiver) expectLines(t *testing.T, p *testsupport.Process, want ...[]byte) {
	t.Helper()
	all := bytes.Join(want, nil)
	testsupport.EventuallyErr(t, func() error {
		if p.Exited() {
			t.Fatalf("%v exited; stderr:\n%s", p.Cmd.Args, p.Stderr)
		}
		if n := r.len(); n < len(all) {
			return fmt.Errorf("receiver has %d bytes, want %d", n, len(all))
		}
		return nil
	})
	w := strings.SplitAfter(string(all), "\n")
	w = w[:len(w)-1]
	slices.Sort(w)
	if got := r.lines(); !slices.Equal(got, w) {
		t.Fatalf("received %d lines, want %d, each once (first received %.60q, first wanted %.60q)", len(got), len(w), first(got), first(w))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// scrape returns the shipper's metric name (summed over labels) now.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	return testsupport.Metric(t, addr, name)
}

// TestShipCopytruncateWhilePaused is case 01: a file is shipping; the collector goes away
// and lines are appended one batch at a time until the window is full and reading stops,
// then many more; then logrotate's copytruncate (copy to access.log.1, truncate) and more
// new lines than the old file held; the collector returns. Every line arrives exactly once: the old
// file's unread rest from the copy, then the new file from its start, with nothing lost.
//
// With rotate 1, the file is rotated a second time before the collector returns: the
// second copy replaces the first (logrotate deletes access.log.1 and copies again), so
// the first copy's unread lines are only in the descriptor the shipper's look took on it
// when it saw the truncation (the reader held); they arrive too, then the second copy's,
// then the new file's. Rotated a third time, the second copy (lines written after the
// first truncation, none read) is deleted too, and held as well since a look saw that
// content truncated.
func TestShipCopytruncateWhilePaused(t *testing.T) {
	t.Run("once", func(t *testing.T) { testShipCopytruncateWhilePaused(t, 1) })
	t.Run("rotate-1-twice", func(t *testing.T) { testShipCopytruncateWhilePaused(t, 2) })
	t.Run("rotate-1-three-times", func(t *testing.T) { testShipCopytruncateWhilePaused(t, 3) })
}

func testShipCopytruncateWhilePaused(t *testing.T, rotations int) {
	twice := rotations > 1
	dir, spread, r := startShipTest(t)
	path := filepath.Join(dir, "logs", "access.log")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, nil, 0o644)
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-addr", "127.0.0.1:0", "--batch-compression", "none", "--batch-size", "1K", path)
	addr := p.MetricsAddr(t)
	p.WaitLog(t, `msg=following .*from=end`)
	appendTo(t, path, accessLines("a", 1, 10))
	r.expect(t, accessLines("a", 1, 10))
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_lines_total", func(v float64) bool { return v == 10 })

	r.stop()
	testsupport.WaitMetric(t, addr, "logspread_shipper_collectors", func(v float64) bool { return v == 0 })
	// One line, one batch, until the window (64 batches) is full: reading stops.
	const window = 64
	i := 11
	for ; ; i++ {
		appendTo(t, path, accessLines("a", i, i))
		n := testsupport.WaitMetric(t, addr, "logspread_shipper_batches_in_flight", func(v float64) bool { return v >= float64(i-10) || v >= window })
		if n >= window {
			break
		}
	}
	// The pump holds at most two more chunks (the batch it waits to hand over and the
	// next one, 1K each): most of these lines stay unread.
	appendTo(t, path, accessLines("a", i+1, 300))
	read := scrape(t, addr, "logspread_shipper_read_bytes_total")
	if all := float64(len(accessLines("a", 1, 300))); read >= all-4096 {
		t.Fatalf("the shipper read %v of %v bytes: reading did not stop with a full window", read, all)
	}

	// logrotate copytruncate, then more new lines than the old file held.
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, accessLines("b", 1, 400))
	want := append(accessLines("a", 11, 300), accessLines("b", 1, 400)...)
	truncations := 1.0
	for n := 2; n <= rotations; n++ {
		// The shipper's look saw the truncation and holds the copy (the followed file
		// and each copy held open), then logrotate rotates again: the copy before
		// deleted.
		testsupport.WaitMetric(t, addr, "logspread_shipper_open_files", func(v float64) bool { return v == float64(n) })
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path + ".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".1", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		tag := string(rune('a' + n))
		appendTo(t, path, accessLines(tag, 1, 100))
		want = append(want, accessLines(tag, 1, 100)...)
		truncations++
	}

	r2 := startShipReceiver(t, spread, "www")
	r2.expect(t, want)
	if v := scrape(t, addr, "logspread_shipper_files_truncated_total"); v != truncations {
		t.Errorf("truncations counted %v, want %v", v, truncations)
	}
	if v := scrape(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("lost bytes %v, want 0 (the copy held every unread line)", v)
	}
	if twice {
		p.WaitLog(t, `its copy, gone from its name, is drained from the read offset`)
	} else {
		p.WaitLog(t, `file truncated \(copytruncate\); draining its copy`)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}

// unprivileged returns the credential of the user nobody, and a directory under which
// that user may work: the test needs root to drop to it (root reads any file).
func unprivileged(t *testing.T) (*syscall.Credential, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the shipper as nobody (root reads every file)")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // TempDir's directories are 0700
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, dir
}

// asUser starts logspread with args as cred, from a copy of the binary it can run.
func asUser(t *testing.T, cred *syscall.Credential, dir string, args ...string) *testsupport.Process {
	t.Helper()
	bin := filepath.Join(dir, "logspread")
	if _, err := os.Stat(bin); err != nil {
		src, err := os.Open(testsupport.Binary(t))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return testsupport.Start(t, cmd)
}

// ownedDir creates dir owned by cred's user (a state directory).
func ownedDir(t *testing.T, cred *syscall.Credential, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeMode writes a file with mode perm (not subject to the umask).
func writeMode(t *testing.T, name string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

// TestShipUnreadableFileIsolated is case 02 and its kind, with the shipper running as
// nobody: a file it cannot read (mode 0600, root's) never stops the others. (a) A glob
// with an unreadable match at start ships the readable ones; (b) an unreadable match
// that appears while running does not stop the scan from following the matches after it;
// (c) a followed file rotated into a new unreadable file (logrotate create 0600 root)
// does not stop the other file, and is read once it becomes readable. Each unreadable file
// is counted and logged, and the error names the file once.
func TestShipUnreadableFileIsolated(t *testing.T) {
	cred, dir := unprivileged(t)
	d := startTestDaemon(t, filepath.Join(testsupport.SocketDir(t), "4803"))
	spread := d.TCPAddr // nobody cannot write root's unix socket
	// Each subtest's shipper is its own (stopped when the subtest ends): one left running
	// sends its unacknowledged batches again to the next subtest's receiver as it joins.
	ship := func(t *testing.T, state string, args ...string) (*testsupport.Process, string) {
		p := asUser(t, cred, dir, append([]string{"ship", "--group", "www", "--spread", spread, "--metrics-addr", "127.0.0.1:0",
			"--state-dir", ownedDir(t, cred, filepath.Join(dir, state))}, args...)...)
		return p, p.MetricsAddr(t)
	}
	unreadable := func(t *testing.T, addr string, n float64) {
		t.Helper()
		testsupport.WaitMetric(t, addr, "logspread_shipper_files_unreadable", func(v float64) bool { return v == n })
	}

	t.Run("glob at start", func(t *testing.T) {
		r := startShipReceiver(t, "unix:"+d.Socket, "www")
		l := filepath.Join(dir, "a")
		os.MkdirAll(l, 0o755)
		writeMode(t, filepath.Join(l, "a1.log"), accessLines("a", 1, 3), 0o644)
		writeMode(t, filepath.Join(l, "a2.log"), accessLines("x", 1, 1), 0o600)
		writeMode(t, filepath.Join(l, "a3.log"), accessLines("a", 5, 7), 0o644)
		p, addr := ship(t, "sa", "--from-beginning", filepath.Join(l, "*.log"))
		r.expectLines(t, p, accessLines("a", 1, 3), accessLines("a", 5, 7))
		unreadable(t, addr, 1)
		if v := scrape(t, addr, `logspread_shipper_file_errors_total{reason="permission"}`); v != 1 {
			t.Errorf("permission errors %v, want 1", v)
		}
		a2 := filepath.Join(l, "a2.log")
		if log := p.Stderr.String(); strings.Count(log, "open "+a2) != 1 {
			t.Errorf("the log names %s's open error %d times, want once (not repeated per retry, nor per line):\n%s", a2, strings.Count(log, "open "+a2), log)
		}
		// Readable again: its line arrives.
		os.Chmod(a2, 0o644)
		r.expectLines(t, p, accessLines("a", 1, 3), accessLines("x", 1, 1), accessLines("a", 5, 7))
		unreadable(t, addr, 0)
	})

	t.Run("glob running", func(t *testing.T) {
		r := startShipReceiver(t, "unix:"+d.Socket, "www")
		l := filepath.Join(dir, "b")
		os.MkdirAll(l, 0o755)
		writeMode(t, filepath.Join(l, "b1.log"), nil, 0o644)
		p, addr := ship(t, "sb", filepath.Join(l, "*.log"))
		p.WaitLog(t, `msg=following .*b1.log from=end`)
		appendTo(t, filepath.Join(l, "b1.log"), accessLines("b", 1, 5))
		r.expectLines(t, p, accessLines("b", 1, 5))
		writeMode(t, filepath.Join(l, "b2.log"), accessLines("x", 1, 5), 0o600)
		unreadable(t, addr, 1)
		writeMode(t, filepath.Join(l, "b3.log"), accessLines("c", 1, 5), 0o644)
		appendTo(t, filepath.Join(l, "b3.log"), accessLines("c", 6, 10))
		r.expectLines(t, p, accessLines("b", 1, 5), accessLines("c", 1, 10))
		if p.Exited() {
			t.Fatal("the shipper exited")
		}
	})

	t.Run("rotated into an unreadable file", func(t *testing.T) {
		r := startShipReceiver(t, "unix:"+d.Socket, "www")
		l := filepath.Join(dir, "c")
		os.MkdirAll(l, 0o755)
		access, other := filepath.Join(l, "access.log"), filepath.Join(l, "other.log")
		writeMode(t, access, nil, 0o644)
		writeMode(t, other, nil, 0o644)
		p, addr := ship(t, "sc", access, other)
		p.WaitLog(t, `msg=following .*other.log from=end`)
		appendTo(t, other, accessLines("o", 1, 5))
		r.expectLines(t, p, accessLines("o", 1, 5))
		// logrotate: rename, create 0600 root, and the web server writes on.
		if err := os.Rename(access, access+".1"); err != nil {
			t.Fatal(err)
		}
		writeMode(t, access, accessLines("r", 1, 3), 0o600)
		unreadable(t, addr, 1)
		appendTo(t, other, accessLines("o", 6, 10))
		r.expectLines(t, p, accessLines("o", 1, 10))
		// The administrator fixes the mode: the new file is read from its start.
		os.Chmod(access, 0o644)
		r.expectLines(t, p, accessLines("o", 1, 10), accessLines("r", 1, 3))
		unreadable(t, addr, 0)
		if code := p.Terminate(t); code != 0 {
			t.Errorf("exit code after SIGTERM %d", code)
		}
	})
}

// TestShipMoreFilesThanDescriptors is case 03: 300 files under a descriptor limit of
// 256 (ulimit -n, soft and hard, so that Go cannot raise it), --from-beginning on a glob:
// the shipper runs and ships every line, holding at most half the limit open.
func TestShipMoreFilesThanDescriptors(t *testing.T) {
	dir, spread, r := startShipTest(t)
	l := filepath.Join(dir, "logs")
	os.MkdirAll(l, 0o755)
	const n = 300
	var want [][]byte
	for i := 1; i <= n; i++ {
		b := accessLines(fmt.Sprintf("f%03d", i), 1, 2)
		os.WriteFile(filepath.Join(l, fmt.Sprintf("site%03d.log", i)), b, 0o644)
		want = append(want, b)
	}
	cmd := exec.Command("bash", "-c", `ulimit -n 256 && exec "$0" "$@"`, testsupport.Binary(t),
		"ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-addr", "127.0.0.1:0", "--from-beginning", filepath.Join(l, "*.log"))
	p := testsupport.Start(t, cmd)
	addr := p.MetricsAddr(t)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Max open files\s+256\s+256\s`).Match(limits) {
		t.Fatalf("the shipper runs with other descriptor limits:\n%s", limits)
	}
	r.expectLines(t, p, want...)
	if v := scrape(t, addr, "logspread_shipper_followed_files"); v != n {
		t.Errorf("followed files %v, want %d", v, n)
	}
	if v := scrape(t, addr, "logspread_shipper_open_files"); v > 128 {
		t.Errorf("open files %v, above half the limit (128)", v)
	}
	if v := scrape(t, addr, `logspread_shipper_file_errors_total{reason="fd_limit"}`); v != 0 {
		t.Errorf("descriptor limit errors %v, want 0 (the bound keeps below the limit)", v)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}

// TestShipLogDirectoryRecreated is case 09 and its kind: a log whose directory does not
// exist at start, one whose directory is deleted and recreated while the deleted log is
// still held open by its writer, and a symlinked log retargeted. The poll backstop is an
// hour and the rotate wait too, so every line that arrives was moved by an event.
func TestShipLogDirectoryRecreated(t *testing.T) {
	dir, spread, r := startShipTest(t)
	late := filepath.Join(dir, "late", "logs", "access.log")
	app := filepath.Join(dir, "app", "logs", "access.log")
	os.MkdirAll(filepath.Dir(app), 0o755)
	writer, err := os.OpenFile(app, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) // the web server's
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	link := filepath.Join(dir, "links", "access.log")
	os.MkdirAll(filepath.Dir(link), 0o755)
	os.MkdirAll(filepath.Join(dir, "r1"), 0o755)
	os.WriteFile(filepath.Join(dir, "r1", "access.log"), nil, 0o644)
	if err := os.Symlink(filepath.Join(dir, "r1", "access.log"), link); err != nil {
		t.Fatal(err)
	}
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--poll-interval", "1h", "--rotate-wait", "1h", late, app, link)
	p.WaitLog(t, `msg="following a file that does not exist yet`)
	p.WaitLog(t, `msg=following .*source=`+regexp.QuoteMeta(app)+` from=end`)
	p.WaitLog(t, `msg=following .*source=`+regexp.QuoteMeta(link)+` from=end`)

	var want [][]byte
	add := func(b []byte) {
		want = append(want, b)
		r.expectLines(t, p, want...)
	}
	// (a) The directory appears.
	os.MkdirAll(filepath.Dir(late), 0o755)
	os.WriteFile(late, accessLines("x", 1, 1), 0o644)
	want = append(want, accessLines("x", 1, 1))
	r.expectLines(t, p, want...)
	appendTo(t, late, accessLines("x", 2, 2))
	add(accessLines("x", 2, 2))

	// (b) Deleted and recreated while the writer holds the deleted log open.
	writer.Write(accessLines("b", 1, 1))
	add(accessLines("b", 1, 1))
	for i := 2; i <= 3; i++ {
		os.RemoveAll(filepath.Dir(app))
		os.MkdirAll(filepath.Dir(app), 0o755)
		os.WriteFile(app, accessLines("b", i, i), 0o644)
		add(accessLines("b", i, i))
	}

	// (c) The symlink retargeted to a file in a new directory.
	appendTo(t, link, accessLines("s", 1, 1))
	add(accessLines("s", 1, 1))
	os.MkdirAll(filepath.Join(dir, "r2"), 0o755)
	os.WriteFile(filepath.Join(dir, "r2", "access.log"), nil, 0o644)
	tmp := link + ".new"
	os.Symlink(filepath.Join(dir, "r2", "access.log"), tmp)
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, `watching its target's directory" .*target=`+regexp.QuoteMeta(filepath.Join(dir, "r2", "access.log")))
	appendTo(t, filepath.Join(dir, "r2", "access.log"), accessLines("s", 2, 2))
	add(accessLines("s", 2, 2))
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}

// TestShipGlobWildcardDirectories: a glob with wildcards in directory names
// (vhosts/*/logs/*.log) follows, with the poll backstop at an hour, files in a matching
// directory that appears after start and in one deleted and created again: by events.
func TestShipGlobWildcardDirectories(t *testing.T) {
	dir, spread, r := startShipTest(t)
	vhosts := filepath.Join(dir, "vhosts")
	os.MkdirAll(vhosts, 0o755)
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--poll-interval", "1h", "--rotate-wait", "100ms", filepath.Join(vhosts, "*", "logs", "*.log"))
	p.WaitLog(t, `pattern matches no file yet`)

	var want [][]byte
	// A vhost directory and its logs directory appear.
	os.MkdirAll(filepath.Join(vhosts, "a", "logs"), 0o755)
	os.WriteFile(filepath.Join(vhosts, "a", "logs", "access.log"), accessLines("a", 1, 1), 0o644)
	want = append(want, accessLines("a", 1, 1))
	r.expectLines(t, p, want...)
	// Another one, its logs directory created later.
	os.MkdirAll(filepath.Join(vhosts, "b"), 0o755)
	p.WaitLog(t, `msg="watching a matching directory" .*dir=`+regexp.QuoteMeta(filepath.Join(vhosts, "b")))
	os.MkdirAll(filepath.Join(vhosts, "b", "logs"), 0o755)
	os.WriteFile(filepath.Join(vhosts, "b", "logs", "error.log"), accessLines("b", 1, 1), 0o644)
	want = append(want, accessLines("b", 1, 1))
	r.expectLines(t, p, want...)
	// The first deleted and created again.
	os.RemoveAll(filepath.Join(vhosts, "a"))
	os.MkdirAll(filepath.Join(vhosts, "a", "logs"), 0o755)
	os.WriteFile(filepath.Join(vhosts, "a", "logs", "access.log"), accessLines("a", 2, 2), 0o644)
	want = append(want, accessLines("a", 2, 2))
	r.expectLines(t, p, want...)
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}
