package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/statelock"
	"github.com/logspread/logspread/internal/testsupport"
)

// waitLocked waits until the lock file in dir names the process p as its holder.
func waitLocked(t *testing.T, p *testsupport.Process, dir string) {
	t.Helper()
	want := fmt.Sprintf("pid %d,", p.Cmd.Process.Pid)
	testsupport.EventuallyErr(t, func() error {
		if p.Exited() {
			t.Fatalf("%v exited; stderr:\n%s", p.Cmd.Args, p.Stderr)
		}
		b, _ := os.ReadFile(filepath.Join(dir, statelock.FileName))
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("lock file holds %q, want %q", b, want)
		}
		return nil
	})
}

// checkRefused waits for p to exit and checks that it refused the state directory held
// by holder: exit code 2, and a message naming the holder's pid and command.
func checkRefused(t *testing.T, p, holder *testsupport.Process) {
	t.Helper()
	if code := p.Wait(t); code != exitUsage {
		t.Fatalf("second process exit code %d, want %d; stderr:\n%s", code, exitUsage, p.Stderr)
	}
	msg := p.Stderr.String()
	for _, want := range []string{fmt.Sprintf("pid %d,", holder.Cmd.Process.Pid), "--state-dir", holder.Cmd.Args[1], "its own --state-dir", "in use by another process"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
}

// TestShipSharedStateDir is case 04 of the sources issue: two piped shippers (two
// CustomLog lines) with one --state-dir. The second refuses to start and names the first;
// the first ships all its lines; once it has exited, the directory is free again.
func TestShipSharedStateDir(t *testing.T) {
	dir, spread, r := startShipTest(t)
	state := filepath.Join(dir, "state")
	args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state, "-"}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	first := startWithStdin(t, pr, args...)
	waitLocked(t, first, state)

	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	second := startWithStdin(t, pr2, args...)
	pw2.Write(genLines(5, 100))
	pw2.Close()
	checkRefused(t, second, first)

	in := genLines(4, 1000)
	if _, err := pw.Write(in); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := first.Wait(t); code != 0 {
		t.Fatalf("first shipper exit code %d; stderr:\n%s", code, first.Stderr)
	}
	r.expect(t, in)

	// The lock went with the process: a new shipper on the directory starts.
	pr3, pw3, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	third := startWithStdin(t, pr3, args...)
	more := genLines(6, 10)
	pw3.Write(more)
	pw3.Close()
	if code := third.Wait(t); code != 0 {
		t.Fatalf("shipper after the first exited: exit code %d; stderr:\n%s", code, third.Stderr)
	}
	r.expect(t, append(in, more...))
}

// TestShipStateDirLockReleasedOnKill: a shipper killed with SIGKILL leaves its lock file,
// but not its lock: the next shipper starts.
func TestShipStateDirLockReleasedOnKill(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	args := []string{"ship", "--group", "www", "--spread", "unix:" + filepath.Join(dir, "none"), "--state-dir", state, "-"}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	first := startWithStdin(t, pr, args...)
	waitLocked(t, first, state)
	first.Kill(t)
	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw2.Close()
	second := startWithStdin(t, pr2, args...)
	waitLocked(t, second, state)
}

// TestCollectSharedStateDir is item 3 of the operator-surface issue: a second collector
// on the state directory of a running one refuses to start and names it.
func TestCollectSharedStateDir(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	out := filepath.Join(dir, "out")
	args := []string{"collect", "--spread", "unix:" + sock, "--dir", out, "--log", "www=www.log"}
	first := testsupport.StartProcess(t, args...)
	waitLocked(t, first, out)
	second := testsupport.StartProcess(t, args...)
	checkRefused(t, second, first)
	// An explicit --state-dir elsewhere is another directory: allowed.
	third := testsupport.StartProcess(t, append(args[:len(args):len(args)], "--dir", filepath.Join(dir, "out2"))...)
	waitLocked(t, third, filepath.Join(dir, "out2"))
}

// TestShipStateDirUnusable: a --state-dir that cannot be created (below a regular file)
// stops the shipper at start with a message naming the flag, the directory, the file
// system's error and the remedy, not only "create state dir: mkdir ...".
func TestShipStateDirUnusable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "access.log")
	if err := os.WriteFile(log, []byte("a line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(file, "state")
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+filepath.Join(dir, "none"),
		"--state-dir", state, "--once", log)
	if code := p.Wait(t); code != exitFailure {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitFailure, p.Stderr)
	}
	msg := p.Stderr.String()
	for _, want := range []string{"--state-dir (YAML state_dir) " + state, "not a directory", "writable by the shipper's user"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
}

// TestStateDirErrorPaths: a file system error on the state directory, a file directly in
// it or a directory above it names --state-dir; any other error is passed on as it is.
func TestStateDirErrorPaths(t *testing.T) {
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/var/lib/ls/st", true},
		{"/var/lib/ls/st/logspread.lock", true},
		{"/var/lib/ls", true},
		{"/var", true},
		{"/var/lib/ls/st/sub/x", false},
		{"/var/log/access.log", false},
	} {
		err := stateDirError("ship", "/var/lib/ls/st", &fs.PathError{Op: "open", Path: c.path, Err: fs.ErrPermission})
		if got := strings.Contains(err.Error(), "--state-dir (YAML state_dir) /var/lib/ls/st"); got != c.want {
			t.Errorf("error on %s: %q names --state-dir: %v, want %v", c.path, err, got, c.want)
		}
	}
}

// TestCollectDefaultStateDirError: collect --dir DIR without --state-dir keeps its state
// in DIR; a DIR it cannot write (a read-only file system) is named as the default state
// directory, not as a --state-dir the user did not give, and the message says to give
// --state-dir.
func TestCollectDefaultStateDirError(t *testing.T) {
	pe := &fs.PathError{Op: "open", Path: "/srv/ro/logspread.lock", Err: syscall.EROFS}
	msg := stateDirErrorAs("collect", "/srv/ro", false, pe).Error()
	for _, want := range []string{"collect: the state directory /srv/ro (by default the --dir directory; no --state-dir was given)", "read-only file system", "give --state-dir (YAML state_dir) a writable directory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "--state-dir (YAML state_dir) /srv/ro") {
		t.Errorf("message %q names --state-dir as given", msg)
	}
	pe.Path = "/srv/st/logspread.lock"
	msg = stateDirErrorAs("collect", "/srv/st", true, pe).Error()
	if !strings.Contains(msg, "--state-dir (YAML state_dir) /srv/st") {
		t.Errorf("message %q does not name the --state-dir given", msg)
	}
}

// TestShipStateDirOutOfDescriptors: under ulimit -n 8 (with --max-open-files 4 given) the
// state directory's files cannot be opened (EMFILE): the error names --state-dir and the file once, and gives the remedy
// that fits (raise the limit, --max-open-files), not directory permissions.
func TestShipStateDirOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	if err := os.WriteFile(log, []byte("a line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	// The limit leaves the shipper fewer descriptors than it keeps for itself: its
	// default --max-open-files is refused (TestShipDescriptorLimitTooLow), a value given
	// runs, with a warning, until it runs out.
	cmd := underLimit(t, 8, "ship", "--group", "www", "--spread", "unix:"+filepath.Join(dir, "none"), "--state-dir", state,
		"--max-open-files", "4", log)
	p := testsupport.Start(t, cmd)
	if code := p.Wait(t); code != exitFailure {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitFailure, p.Stderr)
	}
	msg := p.Stderr.String()
	for _, want := range []string{"--state-dir (YAML state_dir) " + state, "too many open files", "out of file descriptors", "ulimit -n", "--max-open-files"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "writable") {
		t.Errorf("message %q gives the remedy of a permission error", msg)
	}
}
