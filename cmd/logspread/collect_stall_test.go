package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// watchReports joins ~www on addr with a plain client and returns the progress
// reports it receives; the channel closes when the daemon goes away.
func watchReports(t *testing.T, addr string) <-chan envelope.Progress {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Join(envelope.PresenceGroup("www")); err != nil {
		t.Fatal(err)
	}
	for { // until the join is delivered: no report sent after this returns is missed
		var m spreadlink.Message
		if err := conn.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Changed == conn.PrivateGroup() {
			break
		}
	}
	ch := make(chan envelope.Progress, 10000)
	done := make(chan struct{})
	go func() { // owned: ends when conn is closed or fails (cleanup waits)
		defer close(done)
		defer close(ch)
		var m spreadlink.Message
		for conn.Receive(&m) == nil {
			var p envelope.Progress
			if m.Service.IsRegular() && m.MessType == envelope.MessTypeProgress && envelope.ParseProgress(m.Data, &p) == nil {
				ch <- p
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return ch
}

// TestCollectProcessUnwritable runs `logspread collect` as a process against
// directories it cannot write (as root too: a regular file where a directory should
// be):
//   - at start, an unusable --dir or --state-dir: it exits non-zero at once, naming the
//     flag and the directory;
//   - segments it cannot create: it reports itself stalled (progress report, metric),
//     and on SIGTERM exits non-zero after --stop-timeout without a final report,
//     logging the lines it could not write;
//   - stalled again, then kill -9, then writable: the restarted collector gets every
//     line resent and writes each exactly once.
func TestCollectProcessUnwritable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "sub")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--dir", bad}, "--dir"}, // the state directory too
		{[]string{"--dir", filepath.Join(tmp, "ok"), "--state-dir", bad}, "--state-dir"},
		{[]string{"--dir", bad, "--state-dir", filepath.Join(tmp, "ok")}, "--dir"},
	} {
		p := testsupport.StartProcess(t, append([]string{"collect", "--log", "www={group}.log.zst"}, tc.args...)...)
		if code := p.Wait(t); code == 0 {
			t.Fatalf("%v: exit 0", tc.args)
		}
		if e := p.Stderr.String(); !strings.Contains(e, tc.flag+" (YAML ") || !strings.Contains(e, bad+": ") {
			t.Errorf("%v: stderr does not name %s and the directory:\n%s", tc.args, tc.flag, e)
		}
	}

	sock := filepath.Join(testsupport.SocketDir(t), "s")
	out, state := filepath.Join(tmp, "out"), filepath.Join(tmp, "state")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	block := filepath.Join(out, "sub") // the segments' directory, a file: creating them fails
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for i := range 3000 {
		lines = fmt.Appendf(lines, "10.0.%d.%d - - [01/Jan/2026:00:00:00 +0000] \"GET /u/%06d HTTP/1.1\" 200 %d\n", i%250, i%200, i, 100+i%900)
	}
	half := bytes.Index(lines, []byte("/u/001500 "))
	half = bytes.LastIndexByte(lines[:half], '\n') + 1
	args := []string{"--log", "www=sub/{group}.log.zst", "--stop-timeout", "1s", "--name", "proc-a"}

	// Stalled, then SIGTERM.
	p := startCollectProc(t, sock, out, state, args...)
	reports := watchReports(t, p.addr)
	collectSend(t, p.addr, lines[:half], 50, func(int) bool { return true })
	for r := range reports {
		if r.Name != "proc-a" {
			t.Fatalf("report from %q", r.Name)
		}
		if r.Flags&envelope.ProgressStalled != 0 {
			if r.Reason != envelope.StallOther {
				t.Errorf("stalled report %+v, want reason other (ENOTDIR)", r)
			}
			break
		}
	}
	p.WaitLog(t, `stalled: cannot write.*reason=other`)
	if code := p.Terminate(t); code == 0 {
		t.Fatal("SIGTERM while stalled: exit 0, want non-zero (lines were not written)")
	}
	m := p.WaitLog(t, `stopped with lines not written.*lines=(\d+) bytes=(\d+)`)
	if n, _ := strconv.Atoi(m[1]); n != 1500 {
		t.Errorf("logged %s lines not written, want 1500", m[1])
	}
	for r := range reports { // until the daemon (in the process) is gone
		if r.Flags&envelope.ProgressFinal != 0 {
			t.Errorf("final report %+v from a collector that could not write", r)
		}
	}

	// Stalled again, killed, then writable: a full resend is written exactly once.
	p = startCollectProc(t, sock, out, state, args...)
	collectSend(t, p.addr, lines[:half], 50, func(int) bool { return true })
	p.WaitLog(t, `stalled: cannot write`)
	p.Kill(t)
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	p = startCollectProc(t, sock, out, state, args...)
	reports = watchReports(t, p.addr)
	collectSend(t, p.addr, lines, 70, func(int) bool { return true })
	for r := range reports {
		if end, ok := progressEnd(r, 42); ok && end == uint64(len(lines)) {
			break
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d after a clean stop", code)
	}
	got, _, torn := catAll(t, filepath.Join(out, "sub"))
	if torn != 0 || !bytes.Equal(got, lines) {
		t.Fatalf("%d bytes written (%d torn segments), want every line once (%d bytes): %s", len(got), torn, len(lines), describeDiff(got, lines))
	}
}

func progressEnd(p envelope.Progress, stream uint64) (uint64, bool) {
	for _, s := range p.Streams {
		if s.Stream == stream {
			return s.End, true
		}
	}
	return 0, false
}
