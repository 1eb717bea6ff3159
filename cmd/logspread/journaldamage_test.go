package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipStdinJournalDamaged: real processes (an embedded daemon, a collector, `ship
// -`). Lines A reach the collector; B is journaled while no collector is present; the
// shipper is stopped (SIGTERM, or SIGKILL), and while it is down every journal segment,
// the journal's input file and its copy (which record how far the journal reached) are
// damaged together: zeroed, truncated, or overwritten with random bytes. After the restart, new
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
	A, B, C := accessLines("a", 0, 299), accessLines("b", 0, 199), accessLines("c", 0, 99)
	r := newProcessRig(t, "-")
	c := r.collector("a")
	r.shipStdin()
	r.write(A)
	waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A))
	r.collectorGone(c)
	r.write(B)
	r.waitShip("logspread_shipper_journal_written_bytes_total", len(A)+len(B))
	r.stopUnacked(kill)
	r.stdin.Close()

	jdir, _ := filepath.Glob(filepath.Join(r.state, "journal-*"))
	if len(jdir) != 1 {
		t.Fatalf("%d journal directories, want 1", len(jdir))
	}
	damaged, _ := filepath.Glob(filepath.Join(jdir[0], "*.jnl"))
	if len(damaged) == 0 {
		t.Fatal("no journal segment")
	}
	damaged = append(damaged, filepath.Join(jdir[0], "input"), filepath.Join(jdir[0], "input.copy"))
	for _, name := range damaged {
		testsupport.DamageFile(t, name, mode)
	}

	c.start()
	r.shipStdin()
	s, addr := r.s, r.addr
	r.write(C)
	waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(C))
	if v := testsupport.Metric(t, addr, "logspread_shipper_journal_damaged_files_total"); v < 1 {
		t.Errorf("logspread_shipper_journal_damaged_files_total %v, want at least 1", v)
	}
	r.stdin.Close()
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
	gapBytes, unknown := c.gaps()
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
