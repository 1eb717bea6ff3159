package main

import (
	"fmt"
	"os"
	"path/filepath"
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
// (SIGTERM, SIGKILL) or stopped (SIGSTOP). Which bytes of the new content were shipped
// cannot be told from its content (the banner is written again), so the file is read
// again from its start (Filebeat's and Fluent Bit's rule): every line of both runs
// arrives exactly as often as it was written, the banner twice (main at c81a63a: up to
// the banner's first KiB after a restart, all of it while stopped, was skipped silently,
// taken for the lines read), the bytes read again counted in
// logspread_shipper_file_reread_bytes_total and logged; no byte is counted lost.
func TestShipRewrittenSameHead(t *testing.T) {
	for _, how := range []string{"TERM", "KILL", "STOP"} {
		t.Run(how, func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			state := filepath.Join(dir, "state")
			path := filepath.Join(dir, "logs", "job.log")
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, nil, 0o644)
			args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state,
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
				p.Freeze(t) // (returns once it is stopped)
			}
			second := append(jobBanner(), accessLines("r2", 1, 100)...)
			if err := os.WriteFile(path, second, 0o644); err != nil { // O_TRUNC: the same inode
				t.Fatal(err)
			}
			if how == "STOP" {
				p.Thaw(t)
			} else {
				p = testsupport.StartProcess(t, args...)
			}
			addr := p.MetricsAddr(t)
			r.expectLines(t, p, first, second)
			p.WaitLog(t, `msg="file truncated or rewritten in place, still starting with lines already read; reading it again from its start`)
			if v, want := scrape(t, addr, "logspread_shipper_file_reread_bytes_total"), float64(len(first)); v != want {
				t.Errorf("file_reread_bytes_total %v, want %v (the offsets read before, read again)", v, want)
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
