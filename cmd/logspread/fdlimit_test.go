package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipRotationsUnderDescriptorLimit: 300 files under a descriptor limit of 256 (ulimit
// -n, soft and hard, so that Go cannot raise it), each rotated once (renamed, a line
// written to the rotated file by its writer, a new file created) while the shipper runs
// (before, each rotated file kept a descriptor of its generation record for good: the
// shipper ran out of descriptors and stopped reading, 196 to 333 lines missing).
// Every descriptor the shipper holds per stream is within --max-open-files (half the
// limit): the record of a stream's generations (ckpt-*.gens) is opened for each append
// only, so rotated files hold none; a shortage of descriptors met anyway is retried, and
// every line arrives exactly once.
func TestShipRotationsUnderDescriptorLimit(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	l := filepath.Join(dir, "logs")
	os.MkdirAll(l, 0o755)
	const n = 300
	name := func(i int) string { return filepath.Join(l, fmt.Sprintf("site%03d.log", i)) }
	tag := func(i int) string { return fmt.Sprintf("f%03d", i) }
	var want [][]byte
	for i := range n {
		b := accessLines(tag(i), 1, 3)
		os.WriteFile(name(i), b, 0o644)
		want = append(want, b)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command("bash", "-c", `ulimit -n 256 && exec "$0" "$@"`, testsupport.Binary(t),
		"ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", state,
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
	t.Logf("first lines of %d files received", n)

	// Rotations: the writer renames the file, writes once more to it, then creates the
	// next one.
	for i := range n {
		if err := os.Rename(name(i), name(i)+".1"); err != nil {
			t.Fatal(err)
		}
		b := accessLines(tag(i), 4, 4)
		appendTo(t, name(i)+".1", b)
		want = append(want, b)
		b = accessLines(tag(i), 5, 6)
		os.WriteFile(name(i), b, 0o644)
		want = append(want, b)
	}
	r.expectLines(t, p, want...)
	t.Logf("lines around %d rotations received", n)
	for i := range n {
		b := accessLines(tag(i), 7, 8)
		appendTo(t, name(i), b)
		want = append(want, b)
	}
	r.expectLines(t, p, want...)

	// No descriptor of a generation record is held; the files' own are within the bound.
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	gens := 0
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", cmd.Process.Pid, fd.Name())); err == nil && strings.HasSuffix(target, ".gens") {
			gens++
		}
	}
	if gens != 0 {
		t.Errorf("%d descriptors of generation records held (of %d), want 0", gens, len(fds))
	}
	if v := scrape(t, addr, "logspread_shipper_open_files"); v > 128 {
		t.Errorf("open files %v, above half the limit (128)", v)
	}
	// Any shortage met was a passing state: no file is left failing.
	testsupport.WaitMetric(t, addr, "logspread_shipper_files_unreadable", func(v float64) bool { return v == 0 })
	if v := scrape(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("lost bytes %v, want 0", v)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
	// Every generation entered was recorded (none left only in memory by a failed write).
	recs, _ := filepath.Glob(filepath.Join(state, "*.gens"))
	if len(recs) < n {
		t.Errorf("%d generation records in the state directory, want at least %d (one per rotated file)", len(recs), n)
	}
}
