package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// fillFS writes a file in dir until its file system is full and returns its name.
func fillFS(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	testsupport.FillFile(t, name)
	return name
}

// fullRig mounts a 1 MiB tmpfs at dir/tiny and starts a daemon on the unix socket
// dir/4803 and a receiver of group www; it returns the mount point and the socket.
func fullRig(t *testing.T, dir string) (tiny, sock string, r *shipReceiver) {
	t.Helper()
	tiny = filepath.Join(dir, "tiny")
	mountTmpfs(t, tiny, "1m")
	sock = filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	return tiny, sock, startShipReceiver(t, "unix:"+sock, "www")
}

// TestShipStateDirFullAtStart: ship started with its state directory on a full file
// system (a 1 MiB tmpfs) does not exit: it says so (naming --state-dir, the error once,
// and what to do), waits, and ships every line once space is freed. For a file, for
// stdin, and for a file whose shipper was killed (SIGKILL) before the file system filled
// (that restart may need no write to start: it then waits for space while running).
// /metrics answers while it waits.
func TestShipStateDirFullAtStart(t *testing.T) {
	for _, variant := range []string{"file", "stdin", "killed", "term"} {
		t.Run(variant, func(t *testing.T) {
			dir := t.TempDir()
			tiny, sock, r := fullRig(t, dir)
			state := filepath.Join(tiny, "st")
			log := filepath.Join(dir, "access.log")
			args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", state, "--from-beginning", "--metrics-addr", "127.0.0.1:0"}
			a := accessLines("a", 1, 100)
			os.WriteFile(log, a, 0o644)
			want := a
			if variant == "killed" {
				p := testsupport.StartProcess(t, append(args, log)...)
				r.expect(t, want)
				p.Kill(t)
				b := accessLines("b", 1, 100)
				appendTo(t, log, b)
				want = append(want, b...)
			}
			filler := fillFS(t, tiny)
			var p *testsupport.Process
			var pw *os.File
			if variant == "stdin" {
				pr, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				pw = w
				t.Cleanup(func() { pw.Close() })
				p = startWithStdin(t, pr, append(args, "-")...)
				if _, err := pw.Write(a); err != nil {
					t.Fatal(err)
				}
			} else {
				p = testsupport.StartProcess(t, append(args, log)...)
			}
			if variant == "killed" {
				// A restart after a kill may find everything it needs to start on disk
				// (checkpoint, record of followed sources): it then starts and waits for
				// space to save checkpoints, as a running shipper does. Either way it must
				// not exit, and must ship every line once space is freed.
				p.WaitLog(t, `msg=("the state directory's file system is full|following )`)
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				c := accessLines("c", 1, 100)
				appendTo(t, log, c)
				r.expect(t, append(want, c...))
				if code := p.Terminate(t); code != 0 {
					t.Errorf("exit code after SIGTERM %d", code)
				}
				return
			}
			m := p.WaitLog(t, `msg="the state directory's file system is full.* state_dir=(\S+) err="([^"]*)"`)
			if m[1] != state {
				t.Errorf("state_dir=%s, want %s", m[1], state)
			}
			if want := "--state-dir (YAML state_dir) " + state + ": cannot write "; !containsOnce(m[2], want) || !containsOnce(m[2], "no space left on device") || !containsOnce(m[2], "free space") {
				t.Errorf("error %q: want %q, the error once and the remedy", m[2], want)
			}
			// /metrics answers while the start waits (it hung until the start was over),
			// and says why nothing is read.
			addr := p.MetricsAddr(t)
			if v := testsupport.Metric(t, addr, "logspread_shipper_waiting_for_space"); v != 1 {
				t.Errorf("logspread_shipper_waiting_for_space %v while waiting, want 1", v)
			}
			if variant == "term" {
				// Asked to stop while it waits (systemctl stop): a clean stop, exit 0 (it
				// exited 1, and systemd marked the unit failed); the next start ships all.
				if code := p.Terminate(t); code != 0 {
					t.Errorf("exit code after SIGTERM while waiting for space %d, want 0; stderr:\n%s", code, p.Stderr)
				}
				if !strings.Contains(p.Stderr.String(), "stopped while waiting for space in the state directory; nothing was read or sent, nothing is lost") {
					t.Errorf("no notice of the stop while waiting; stderr:\n%s", p.Stderr)
				}
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				p = testsupport.StartProcess(t, append(args, log)...)
				r.expect(t, want)
				if code := p.Terminate(t); code != 0 {
					t.Errorf("exit code after SIGTERM %d", code)
				}
				return
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			p.WaitLog(t, `msg="the state directory has space again; starting"`)
			testsupport.WaitMetric(t, addr, "logspread_shipper_waiting_for_space", func(v float64) bool { return v == 0 })
			// The start, retried while it waited, said what it follows once, not at every try.
			if n := strings.Count(p.Stderr.String(), "msg=following "); variant == "file" && n != 1 {
				t.Errorf("'following' logged %d times, want once:\n%s", n, p.Stderr)
			}
			if variant == "stdin" {
				pw.Close()
				if code := p.Wait(t); code != 0 {
					t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr)
				}
				r.expect(t, want)
				return
			}
			c := accessLines("c", 1, 100)
			appendTo(t, log, c)
			want = append(want, c...)
			r.expect(t, want)
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}

// containsOnce reports whether sub occurs in s exactly once.
func containsOnce(s, sub string) bool {
	return strings.Count(s, sub) == 1
}

// TestShipGlobStateDirFull: a glob followed with --state-dir on a full file system (a
// 1 MiB tmpfs, filled; inodes left, as on a full tmpfs or ext4).
//   - restart: the glob's first start records the pattern in the name of an empty file
//     (its marker's content does not fit); a match appears and is shipped; ship stops,
//     lines are written while it is down, and it starts again, the file system still
//     full: the restart knows the pattern and reads the match from its beginning as the
//     same stream, so every line arrives once (it read the match from its end, taking
//     itself for the pattern's first start, and the lines written while down were lost).
//   - retry: a path given after the glob cannot save its start checkpoint, so the start
//     waits for space; the glob's marker, written by the first try, is withdrawn when
//     that try is closed, so that once space is freed the start is the pattern's first:
//     the lines its match held before are not shipped (from its end, the default), those
//     written after are.
func TestShipGlobStateDirFull(t *testing.T) {
	for _, variant := range []string{"restart", "retry"} {
		t.Run(variant, func(t *testing.T) {
			dir := t.TempDir()
			tiny, sock, r := fullRig(t, dir)
			state := filepath.Join(tiny, "st")
			if err := os.MkdirAll(state, 0o750); err != nil {
				t.Fatal(err)
			}
			logs := filepath.Join(dir, "logs")
			if err := os.Mkdir(logs, 0o750); err != nil {
				t.Fatal(err)
			}
			match := filepath.Join(logs, "vhost.log")
			args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", state, filepath.Join(logs, "*.log")}
			if variant == "retry" {
				os.WriteFile(match, accessLines("old", 1, 50), 0o644)
				plain := filepath.Join(dir, "plain.log")
				os.WriteFile(plain, nil, 0o644)
				args = append(args, plain)
			}
			filler := fillFS(t, tiny)
			p := testsupport.StartProcess(t, args...)
			if variant == "retry" {
				p.WaitLog(t, `msg="the state directory's file system is full`)
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				p.WaitLog(t, `msg="the state directory has space again; starting"`)
				b := accessLines("new", 1, 50)
				appendTo(t, match, b)
				r.expect(t, b) // not the lines there before the pattern's first start
				if code := p.Terminate(t); code != 0 {
					t.Errorf("exit code after SIGTERM %d", code)
				}
				return
			}
			p.WaitLog(t, `msg="state directory full: recorded that the pattern is followed in the name of an empty file`)
			a := accessLines("a", 1, 100)
			os.WriteFile(match, a, 0o644)
			r.expect(t, a)
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
			b := accessLines("b", 1, 100)
			appendTo(t, match, b)
			p = testsupport.StartProcess(t, args...)
			r.expect(t, append(a, b...))
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}
