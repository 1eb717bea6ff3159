package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipGlobMatchAppearedWhileDown: a file that appears under a followed glob while
// the shipper is down (a new vhost's log, cronolog's next day file) is read from its
// beginning at the next start, also under a pattern that matched nothing before; only a
// pattern's first run reads the matches there from their end (as tail -F). Its lines were
// lost with nothing said: the match had no checkpoint and was read from its end.
func TestShipGlobMatchAppearedWhileDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	logs, other := filepath.Join(dir, "logs"), filepath.Join(dir, "other")
	for _, d := range []string{logs, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	A0 := accessLines("a", 0, 99) // there before the first start: not shipped (from its end)
	if err := os.WriteFile(filepath.Join(logs, "a.log"), A0, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	c := startWrittenCollector(t, spread, "a")
	state := filepath.Join(dir, "state")
	ship := func() (*testsupport.Process, string) {
		s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", state,
			"--metrics-addr", "127.0.0.1:0", filepath.Join(logs, "*.log"), filepath.Join(other, "*.log"))
		return s, s.MetricsAddr(t)
	}
	s, addr := ship()
	s.WaitLog(t, `msg=following .*a\.log from=end`)
	A1 := accessLines("a", 100, 199)
	appendTo(t, filepath.Join(logs, "a.log"), A1)
	waitOneStream(t, c, addr, len(A1))
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}

	A2, B1, C1 := accessLines("a", 200, 299), accessLines("b", 0, 99), accessLines("c", 0, 99)
	appendTo(t, filepath.Join(logs, "a.log"), A2)
	for name, b := range map[string][]byte{filepath.Join(logs, "b.log"): B1, filepath.Join(other, "c.log"): C1} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, addr = ship()
	after := len(A2) + len(B1) + len(C1)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(A1)+after) })
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(after) })
	if v := testsupport.Metric(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("lost_bytes_total %v, want 0", v)
	}
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A1, A2, B1, C1))
}
