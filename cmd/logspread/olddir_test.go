package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// rotateOldDir rotates path into old as logrotate's olddir does (real logrotate when it
// is installed, else its rename and create by hand).
func rotateOldDir(t *testing.T, dir, path, old string) {
	t.Helper()
	conf := filepath.Join(dir, "logrotate.conf")
	text := fmt.Sprintf("%s {\n\trotate 5\n\tnocompress\n\tolddir %s\n\tcreate 0644\n}\n", path, old)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if bin, err := exec.LookPath("logrotate"); err == nil {
		if b, err := exec.Command(bin, "-f", "-v", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput(); err != nil || bytes.Contains(b, []byte("error:")) {
			t.Fatalf("logrotate: %v\n%s", err, b)
		}
	} else {
		if err := os.Rename(path, filepath.Join(old, filepath.Base(path)+".1")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(old, filepath.Base(path)+".1")); err != nil {
		t.Fatalf("not rotated into the olddir: %v", err)
	}
}

// TestShipLogrotateOldDir: logrotate with olddir moves the file into another directory
// while the shipper is down (SIGTERM, SIGKILL) or stopped (SIGSTOP), after lines it never
// read. With --rotated-names naming that directory ('../old/{name}.[0-9]*') the
// generation is found there by identity and drained before the new file: every line
// once, nothing lost (main at c483fe5: the unread lines lost, logged as "deleted").
// Without such a pattern the restart says the file was not found at the path or any
// rotated name (not "deleted") and counts the bytes it knew of as lost.
func TestShipLogrotateOldDir(t *testing.T) {
	for _, tc := range []struct {
		how        string
		configured bool
	}{{"TERM", true}, {"KILL", true}, {"STOP", true}, {"TERM", false}} {
		t.Run(fmt.Sprintf("%s/configured=%v", tc.how, tc.configured), func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			state := filepath.Join(dir, "state")
			path := filepath.Join(dir, "logs", "access.log")
			old := filepath.Join(dir, "old")
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.MkdirAll(old, 0o755)
			os.WriteFile(path, nil, 0o644)
			args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state,
				"--checkpoint-interval", "0", "--metrics-addr", "127.0.0.1:0"}
			if tc.configured {
				args = append(args, "--rotated-names", "{name}.[0-9]*,../old/{name}.[0-9]*")
			}
			args = append(args, path)
			p := testsupport.StartProcess(t, args...)
			p.WaitLog(t, `msg=following .*from=end`)
			appendTo(t, path, accessLines("a", 1, 100))
			r.expectLines(t, p, accessLines("a", 1, 100))
			waitCheckpoint(t, p, state, len(accessLines("a", 1, 100)))
			switch tc.how {
			case "TERM":
				if code := p.Terminate(t); code != 0 {
					t.Fatalf("exit code after SIGTERM %d", code)
				}
			case "KILL":
				p.Kill(t)
			case "STOP":
				p.Freeze(t) // (returns once it is stopped)
			}
			appendTo(t, path, accessLines("a", 101, 150)) // never read before the rotation
			rotateOldDir(t, dir, path, old)
			appendTo(t, path, accessLines("b", 1, 50))
			if tc.how == "STOP" {
				p.Thaw(t)
			} else {
				p = testsupport.StartProcess(t, args...)
			}
			addr := p.MetricsAddr(t)
			if !tc.configured {
				p.WaitLog(t, `checkpointed file not found at the path or any rotated name .* unread_bytes=0`)
				r.expectLines(t, p, accessLines("a", 1, 100), accessLines("b", 1, 50))
				if code := p.Terminate(t); code != 0 {
					t.Errorf("exit code after SIGTERM %d", code)
				}
				return
			}
			r.expectLines(t, p, accessLines("a", 1, 150), accessLines("b", 1, 50))
			for _, m := range []string{"logspread_shipper_lost_bytes_total", "logspread_shipper_stream_jumps_total", "logspread_shipper_checkpointed_files_gone_total"} {
				if v := scrape(t, addr, m); v != 0 {
					t.Errorf("%s %v, want 0", m, v)
				}
			}
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}
