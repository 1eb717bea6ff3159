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
	dir, spread, r := startShipTest(t)
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
		"ship", "--group", "www", "--spread", spread, "--state-dir", state,
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

// underLimit returns the command that runs the binary with args under a descriptor limit
// of lim (soft and hard), its inherited descriptors beyond stdio closed first (a lock held
// by a calling flock(1), a CI runner's pipes would take slots the shipper counts on).
func underLimit(t *testing.T, lim int, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command("bash", append([]string{"-c", fmt.Sprintf(`for fd in $(cd /proc/$$/fd && echo *); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
ulimit -n %d && exec "$0" "$@"`, lim), testsupport.Binary(t)}, args...)...)
}

// TestShipDescriptorLimitTooLow: under ulimit -n 20 the default --max-open-files (half the
// limit, 10) left the shipper's own descriptors (Spread connection, state directory,
// journal, checkpoints, metrics, inotify, the runtime's) no room: 30 files given, it
// exited 1 at start on a checkpoint save's EMFILE. The default now leaves
// source.ReservedDescriptors: a limit that leaves fewer than 4 files is refused at once
// (exit 2), naming the flag, the value, the limit and the remedy.
func TestShipDescriptorLimitTooLow(t *testing.T) {
	dir := t.TempDir()
	args := []string{"ship", "--group", "www", "--spread", "unix:" + filepath.Join(dir, "none"), "--state-dir", filepath.Join(dir, "state")}
	for i := range 30 {
		name := filepath.Join(dir, fmt.Sprintf("site%02d.log", i))
		if err := os.WriteFile(name, accessLines("a", 1, 1), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	p := testsupport.Start(t, underLimit(t, 20, args...))
	if code := p.Wait(t); code != exitUsage {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, p.Stderr)
	}
	msg := p.Stderr.String()
	for _, want := range []string{"--max-open-files", "max_open_files", "0, the default", "descriptor limit 20", "ulimit -n", "LimitNOFILE="} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("the state directory was made: the shipper started before refusing")
	}
}

// TestShipMaxOpenFilesLeavesReserve: under ulimit -n 48, 40 files shipped from their
// beginning. The default --max-open-files is half the limit, and at most the limit less
// the descriptors the shipper keeps for itself (48 - 32 = 16); a value given above that
// (40, which exited 1 at start: checkpoint save EMFILE) is lowered to it with a warning
// naming both, not refused. Every line arrives, within the lowered bound.
func TestShipMaxOpenFilesLeavesReserve(t *testing.T) {
	for _, tc := range []struct {
		name string
		flag []string
	}{
		{"default", nil},
		{"given-above", []string{"--max-open-files", "40"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			args := append([]string{"ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
				"--metrics-addr", "127.0.0.1:0", "--from-beginning"}, tc.flag...)
			var want [][]byte
			for i := range 40 {
				name := filepath.Join(dir, fmt.Sprintf("site%02d.log", i))
				b := accessLines(fmt.Sprintf("f%02d", i), 1, 2)
				if err := os.WriteFile(name, b, 0o644); err != nil {
					t.Fatal(err)
				}
				want = append(want, b)
				args = append(args, name)
			}
			p := testsupport.Start(t, underLimit(t, 48, args...))
			addr := p.MetricsAddr(t)
			if tc.flag != nil {
				p.WaitLog(t, `--max-open-files 40 is above what the descriptor limit 48 leaves .*; lowered to 16 \(raise the limit: ulimit -n, or LimitNOFILE=`)
			}
			r.expectLines(t, p, want...)
			for i := range 40 {
				b := accessLines(fmt.Sprintf("f%02d", i), 3, 3)
				appendTo(t, filepath.Join(dir, fmt.Sprintf("site%02d.log", i)), b)
				want = append(want, b)
			}
			r.expectLines(t, p, want...)
			if v := scrape(t, addr, "logspread_shipper_open_files"); v > 16 {
				t.Errorf("open files %v, above the limit less the shipper's own descriptors (16)", v)
			}
			if v := scrape(t, addr, "logspread_shipper_files_unreadable"); v != 0 {
				t.Errorf("%v files unreadable, want 0", v)
			}
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d; stderr:\n%s", code, p.Stderr)
			}
		})
	}
}
