package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipFIFOsSkipped: FIFOs (whose open(2) for reading blocks until a writer comes)
// matched by a glob at start and created later, and one given as a path, never hang the
// shipper: the other files ship, /metrics answers, each FIFO is counted as not_regular,
// and SIGTERM stops it.
func TestShipFIFOsSkipped(t *testing.T) {
	dir, spread, r := startShipTest(t)
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	a := accessLines("a", 1, 5)
	os.WriteFile(filepath.Join(logs, "a.log"), a, 0o644)
	for _, p := range []string{filepath.Join(logs, "p.log"), filepath.Join(dir, "x.log")} {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread,
		"--state-dir", filepath.Join(dir, "state"), "--metrics-addr", "127.0.0.1:0", "--from-beginning",
		filepath.Join(logs, "*.log"), filepath.Join(dir, "x.log"))
	addr := p.MetricsAddr(t)
	r.expectLines(t, p, a)
	if err := syscall.Mkfifo(filepath.Join(logs, "q.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := accessLines("b", 1, 5)
	os.WriteFile(filepath.Join(logs, "b.log"), b, 0o644)
	r.expectLines(t, p, a, b)
	testsupport.WaitMetric(t, addr, `logspread_shipper_file_errors_total{reason="not_regular"}`, func(v float64) bool { return v == 3 })
	p.WaitLog(t, `reason=not_regular err=".*q.log: not a regular file \(a named pipe, FIFO\)`)
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d; stderr:\n%s", code, p.Stderr)
	}
}

// TestShipOnceFIFO: --once skips a FIFO matched by its glob (the other files ship, exit
// 0), and a FIFO as its only argument is an error naming it, at once.
func TestShipOnceFIFO(t *testing.T) {
	dir, spread, r := startShipTest(t)
	a := accessLines("a", 1, 5)
	os.WriteFile(filepath.Join(dir, "a.log"), a, 0o644)
	fifo := filepath.Join(dir, "p.log")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread,
		"--state-dir", filepath.Join(dir, "state"), "--once", filepath.Join(dir, "*.log"))
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Stderr)
	}
	// Exit 0 comes once every line was acknowledged: a.log's lines are there.
	if got := strings.Join(r.lines(), ""); got != string(a) {
		t.Fatalf("received %q, want a.log's lines once each", got)
	}
	if !strings.Contains(p.Stderr.String(), fifo+": not a regular file (a named pipe, FIFO)") {
		t.Errorf("no warning naming the FIFO:\n%s", p.Stderr)
	}
	p = testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread,
		"--state-dir", filepath.Join(dir, "state2"), "--once", fifo)
	if code := p.Wait(t); code == 0 {
		t.Fatalf("--once FIFO: exit 0:\n%s", p.Stderr)
	}
	if !strings.Contains(p.Stderr.String(), "no argument can be followed: read "+fifo+": not a regular file") {
		t.Errorf("error does not name the FIFO:\n%s", p.Stderr)
	}
}
