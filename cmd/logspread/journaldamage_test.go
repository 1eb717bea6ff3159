package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipStdinJournalDamaged: real processes (an embedded daemon, a collector, `ship
// -`). Lines A reach the collector; B is journaled while no collector is present; the
// shipper is stopped (SIGTERM, or SIGKILL), and while it is down every journal segment
// and the journal's input file (which records how far the journal reached) are damaged
// together: zeroed, truncated, or overwritten with random bytes. After the restart, new
// input C must not take offsets the run before used (the collector had A there, and
// would drop C as duplicates: silent loss): the collector has A and C, each once, and a
// gap of B's exact size after a stop (the stop checkpoint says where the journal ended),
// or a gap of unknown size after a kill (nothing left says it); the shipper names each
// damaged file in a warning and counts it.
func TestShipStdinJournalDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, mode := range []string{"zeroed", "truncated", "garbage"} {
		for _, kill := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kill=%v", mode, kill), func(t *testing.T) {
				testShipStdinJournalDamaged(t, mode, kill)
			})
		}
	}
}

func testShipStdinJournalDamaged(t *testing.T, mode string, kill bool) {
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	state := filepath.Join(dir, "state")
	A, B, C := accessLines("a", 0, 299), accessLines("b", 0, 199), accessLines("c", 0, 99)
	c := startWrittenCollector(t, spread, "a")
	args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state,
		"--metrics-addr", "127.0.0.1:0", "-"}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	s := startWithStdin(t, pr, args...)
	addr := s.MetricsAddr(t)
	write := func(b []byte) {
		t.Helper()
		if _, err := pw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(A)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(A)) })
	if code := c.Terminate(t); code != 0 {
		t.Fatalf("collector exited %d", code)
	}
	testsupport.WaitMetric(t, addr, "logspread_shipper_collectors", func(v float64) bool { return v == 0 })
	write(B)
	testsupport.WaitMetric(t, addr, "logspread_shipper_journal_written_bytes_total", func(v float64) bool { return v >= float64(len(A)+len(B)) })
	if kill {
		s.Kill(t)
	} else {
		s.Terminate(t) // not every line was acknowledged: its exit code says so
	}
	pw.Close()

	jdir, _ := filepath.Glob(filepath.Join(state, "journal-*"))
	if len(jdir) != 1 {
		t.Fatalf("%d journal directories, want 1", len(jdir))
	}
	damaged, _ := filepath.Glob(filepath.Join(jdir[0], "*.jnl"))
	if len(damaged) == 0 {
		t.Fatal("no journal segment")
	}
	damaged = append(damaged, filepath.Join(jdir[0], "input"))
	for _, name := range damaged {
		testsupport.DamageFile(t, name, mode)
	}

	c.start()
	pr, pw, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	s = startWithStdin(t, pr, args...)
	addr = s.MetricsAddr(t)
	write(C)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(C)) })
	if v := testsupport.Metric(t, addr, "logspread_shipper_journal_damaged_files_total"); v < 1 {
		t.Errorf("logspread_shipper_journal_damaged_files_total %v, want at least 1", v)
	}
	pw.Close()
	if code := s.Wait(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}
	logs := s.Stderr.String()
	for _, name := range damaged {
		found := false
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, name) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning names the damaged file %s", name)
		}
	}
	gapBytes := testsupport.Metric(t, c.metrics, "logspread_collector_gap_bytes_total")
	unknown := testsupport.Metric(t, c.metrics, "logspread_collector_unknown_gaps_total")
	if kill {
		// Nothing left says where the journal ended: a gap of unknown size.
		if unknown != 1 {
			t.Errorf("collector counted %v gaps of unknown size (and %v bytes of gaps), want 1", unknown, gapBytes)
		}
	} else if gapBytes != float64(len(B)) || unknown != 0 {
		t.Errorf("collector counted %v bytes of gaps and %v of unknown size, want exactly %d bytes (B)", gapBytes, unknown, len(B))
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A, C))
}
