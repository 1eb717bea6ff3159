package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// accessLines returns lines from..to of a numbered access log (75 bytes each), as the
// sources cases write them.
func accessLines(tag string, from, to int) []byte {
	var b []byte
	for i := from; i <= to; i++ {
		b = fmt.Appendf(b, "10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] \"GET /%s/%06d HTTP/1.1\" 200 512\n", tag, i)
	}
	return b
}

// waitFile waits until name exists.
func waitFile(t *testing.T, p *testsupport.Process, name string) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		if p.Exited() {
			t.Fatalf("%v exited; stderr:\n%s", p.Cmd.Args, p.Stderr)
		}
		_, err := os.Stat(name)
		return err
	})
}

// waitCheckpoint waits until the one checkpoint file (ckpt-*.json) in state says offset
// and has a previous copy, and returns both files.
func waitCheckpoint(t *testing.T, p *testsupport.Process, state string, offset int) (cur, prev string) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		if p.Exited() {
			t.Fatalf("%v exited; stderr:\n%s", p.Cmd.Args, p.Stderr)
		}
		m, _ := filepath.Glob(filepath.Join(state, "ckpt-*.json"))
		if len(m) != 1 {
			return fmt.Errorf("checkpoint files %v, want one", m)
		}
		cur, prev = m[0], m[0]+".prev"
		b, _ := os.ReadFile(cur)
		if !bytes.Contains(b, fmt.Appendf(nil, `"offset":%d`, offset)) {
			return fmt.Errorf("checkpoint %s is %s, want offset %d", cur, b, offset)
		}
		_, err := os.Stat(prev)
		return err
	})
	return cur, prev
}

func zeroFile(t *testing.T, name string) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, make([]byte, fi.Size()), 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestShipLostCheckpoint is case 05 of the sources issue and its kind: a shipper is
// killed, its checkpoint is zeroed (a crash) or deleted (the obvious remedy) while lines
// are written, and it restarts. It recovers by itself (the previous copy, or the record of
// followed sources) and every line arrives once. When nothing is left to recover from,
// it stops with a message that names the remedy, and the remedy loses no line.
func TestShipLostCheckpoint(t *testing.T) {
	for _, how := range []string{"zeroed", "deleted", "unrecoverable"} {
		t.Run(how, func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			state := filepath.Join(dir, "state")
			path := filepath.Join(dir, "logs", "access.log")
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, nil, 0o644)
			args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state, "--checkpoint-interval", "0", path}
			p := testsupport.StartProcess(t, args...)
			waitFile(t, p, filepath.Join(state, "followed.log"))
			appendTo(t, path, accessLines("a", 1, 10))
			r.expect(t, accessLines("a", 1, 10))
			cur, prev := waitCheckpoint(t, p, state, 750)
			p.Kill(t)
			switch how {
			case "zeroed":
				zeroFile(t, cur)
			case "deleted":
				os.Remove(cur)
				os.Remove(prev)
			case "unrecoverable":
				zeroFile(t, cur)
				zeroFile(t, prev)
				os.Remove(filepath.Join(state, "followed.log"))
			}
			appendTo(t, path, accessLines("a", 11, 20)) // while the shipper is down
			p = testsupport.StartProcess(t, args...)
			if how == "unrecoverable" {
				if code := p.Wait(t); code != exitFailure {
					t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitFailure, p.Stderr)
				}
				remedy := fmt.Sprintf("--reset-checkpoint '%s=start'", path)
				if msg := p.Stderr.String(); !strings.Contains(msg, remedy) || !strings.Contains(msg, cur) {
					t.Fatalf("message %q names neither the file nor the remedy %s", msg, remedy)
				}
				p = testsupport.StartProcess(t, append(args, "--reset-checkpoint", path+"=start")...)
			}
			waitFile(t, p, filepath.Join(state, "followed.log"))
			p.WaitLog(t, "checkpoint")
			appendTo(t, path, accessLines("a", 21, 30))
			want := accessLines("a", 1, 30)
			if how == "unrecoverable" {
				// A new stream from the start of the file: lines 1-10 are written twice, none is lost.
				want = append(accessLines("a", 1, 10), want...)
			}
			r.expect(t, want)
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}

// TestShipJournalSmallFileSystem is case 07 of the sources issue: `ship -` with 4.5 MB of
// input and a state directory on a 2 MiB file system (a tmpfs, as root), or a 256K
// --journal-size. Acknowledged journal space is reused at once, and the shipper finishes
// with every line shipped.
func TestShipJournalSmallFileSystem(t *testing.T) {
	for _, variant := range []string{"tmpfs", "journal-size"} {
		t.Run(variant, func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			state := filepath.Join(dir, "state")
			args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state}
			if variant == "tmpfs" {
				mountTmpfs(t, state, "2m")
			} else {
				args = append(args, "--journal-size", "256K")
			}
			in := accessLines("s", 1, 60000) // 4.5 MB
			if variant != "tmpfs" {
				in = accessLines("s", 1, 20000) // 1.5 MB through 256K on a disk, fsyncing
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			p := startWithStdin(t, pr, append(args, "-")...)
			go func() { // owned: ends when the pipe is closed, at the latest by the cleanup
				pw.Write(in)
				pw.Close()
			}()
			if code := p.Wait(t); code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr)
			}
			r.expect(t, in)
		})
	}
}

// mountTmpfs mounts a tmpfs of size at dir (created) until the end of the test; it skips
// the test unless it runs as root.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root); the journal-size variant covers the bound")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		// Registered before the processes' cleanups, so it runs after they have exited.
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestShipJournalDropOldest: with --journal-full drop-oldest and no collector, the piping
// writer never waits: the journal drops its oldest lines (logged with the fill level);
// once a collector comes, the lines still journaled arrive whole and in order, and the
// shipper exits 0 at the end of input.
func TestShipJournalDropOldest(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	state := filepath.Join(dir, "state")
	in := accessLines("d", 1, 30000) // 2.25 MB through 64K
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", state,
		"--journal-size", "64K", "--journal-full", "drop-oldest", "-")
	done := make(chan struct{})
	go func() { // owned: the test waits for done
		defer close(done)
		pw.Write(in)
	}()
	testsupport.Done(t, done, "the piping writer waited on a full journal with --journal-full drop-oldest")
	p.WaitLog(t, `dropped the oldest unacknowledged segments.*fill=`)
	r := startShipReceiver(t, "unix:"+sock, "www")
	tail := accessLines("d", 30001, 30010)
	pw.Write(tail)
	pw.Close()
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr)
	}
	testsupport.EventuallyErr(t, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !bytes.HasSuffix(r.out, tail) {
			return fmt.Errorf("receiver has %d bytes, not ending with the last lines", len(r.out))
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	all := append(in, tail...)
	index := map[string]int{}
	for line := range bytes.Lines(all) {
		index[string(line)] = len(index)
	}
	last := -1
	for line := range bytes.Lines(r.out) {
		i, ok := index[string(line)]
		if !ok || i <= last {
			t.Fatalf("line %q is not an input line after the previous one", line)
		}
		last = i
	}
	// What was dropped depends on how much the sender's window held (segments already
	// read are in flight, not lost); the source test counts exact losses.
}
