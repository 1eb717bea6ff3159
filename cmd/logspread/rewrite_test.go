package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// jobBanner is a fixed banner longer than the head fingerprint (1 KiB), as a job log, a
// CSV or W3C log writes at the start of every run.
func jobBanner() []byte {
	var b []byte
	for i := 1; i <= 30; i++ {
		b = fmt.Appendf(b, "BANNER line %d: configuration key%d = value%d ......................\n", i, i, i)
	}
	return b
}

// TestShipRewrittenSameHead: a job log rewritten in place (truncated, same inode) with
// the same banner, then more lines than the run before wrote, while the shipper is down
// (SIGTERM, SIGKILL) or stopped (SIGSTOP). Every line of both runs arrives (main at
// c483fe5: the second run's lines before the old offset were skipped silently after a
// restart); the second banner's lines that the shipper cannot tell from the first's
// arrive at most once more; no byte is counted lost.
func TestShipRewrittenSameHead(t *testing.T) {
	for _, how := range []string{"TERM", "KILL", "STOP"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "4803")
			startTestDaemon(t, sock)
			r := startShipReceiver(t, "unix:"+sock, "www")
			state := filepath.Join(dir, "state")
			path := filepath.Join(dir, "logs", "job.log")
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, nil, 0o644)
			args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", state,
				"--checkpoint-interval", "0", "--metrics-addr", "127.0.0.1:0", path}
			p := testsupport.StartProcess(t, args...)
			p.WaitLog(t, `msg=following .*from=end`)
			first := append(jobBanner(), accessLines("r1", 1, 50)...)
			appendTo(t, path, first)
			r.expectLines(t, p, first)
			waitCheckpoint(t, p, state, len(first))
			switch how {
			case "TERM":
				if code := p.Terminate(t); code != 0 {
					t.Fatalf("exit code after SIGTERM %d", code)
				}
			case "KILL":
				p.Kill(t)
			case "STOP":
				p.Signal(t, syscall.SIGSTOP)
			}
			second := append(jobBanner(), accessLines("r2", 1, 100)...)
			if err := os.WriteFile(path, second, 0o644); err != nil { // O_TRUNC: the same inode
				t.Fatal(err)
			}
			if how == "STOP" {
				p.Signal(t, syscall.SIGCONT)
			} else {
				p = testsupport.StartProcess(t, args...)
			}
			addr := p.MetricsAddr(t)
			all := append(append([]byte{}, first...), second...)
			testsupport.EventuallyErr(t, func() error {
				if p.Exited() {
					t.Fatalf("%v exited; stderr:\n%s", p.Cmd.Args, p.Stderr)
				}
				if n := r.len(); n < len(first)+len(second)-len(jobBanner()) {
					return fmt.Errorf("receiver has %d bytes, want at least %d", n, len(first)+len(second)-len(jobBanner()))
				}
				return nil
			})
			count := map[string]int{}
			for _, l := range r.lines() {
				count[l]++
			}
			checked := map[string]bool{} // (the banner is written twice)
			for _, l := range strings.SplitAfter(string(all), "\n") {
				if l == "" || checked[l] {
					continue
				}
				checked[l] = true
				n := count[l]
				switch {
				case strings.HasPrefix(l, "BANNER") && (n < 1 || n > 2):
					t.Errorf("banner line %q received %d times, want 1 or 2", l, n)
				case !strings.HasPrefix(l, "BANNER") && n != 1:
					t.Errorf("line %q received %d times, want once", l, n)
				}
				delete(count, l)
			}
			if len(count) > 0 {
				t.Errorf("received lines never written: %v", count)
			}
			if v := scrape(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
				t.Errorf("lost bytes %v, want 0 (all of the first run was acknowledged)", v)
			}
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}
