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

// TestShipStdinJournalLostTail: real processes (an embedded daemon, a collector, `ship
// -`). Lines A and B1 reach the collector; B2 is journaled while no collector is present;
// the shipper is stopped (SIGTERM, or SIGKILL before any checkpoint past the start was
// saved), and while it is down the journal's last segment is cut at a record boundary,
// right after A. After the restart, new input C must not take offsets the run before
// used (the collector had B1 there, and would drop C as duplicates: silent loss): the
// collector has A, B1 and C, each once, and a gap of exactly B2 (which it never had),
// counted on both sides.
func TestShipStdinJournalLostTail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) {
			A, B1, B2, C := accessLines("a", 0, 299), accessLines("b1", 0, 199), accessLines("b2", 0, 99), accessLines("c", 0, 149)
			// Checkpoints are saved at stop only (and when a journal segment is freed, which
			// these few lines do not fill).
			r := newProcessRig(t, "--checkpoint-interval", "1h", "-")
			c := r.collector("a")
			r.shipStdin()
			r.write(A)
			r.waitShip("logspread_shipper_journal_written_bytes_total", len(A))
			segs, _ := filepath.Glob(filepath.Join(r.state, "journal-*", "*.jnl"))
			if len(segs) != 1 {
				t.Fatalf("%d journal segments, want 1", len(segs))
			}
			fi, err := os.Stat(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			cutAt := fi.Size() // right after A's records
			r.write(B1)
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A)+len(B1))
			r.collectorGone(c)
			r.write(B2)
			end := len(A) + len(B1) + len(B2)
			r.waitShip("logspread_shipper_journal_written_bytes_total", end)
			r.stopUnacked(kill)
			r.stdin.Close()
			if err := os.Truncate(segs[0], cutAt); err != nil {
				t.Fatal(err)
			}

			c.start()
			r.shipStdin()
			s, addr := r.s, r.addr
			// The loss notice goes with C; once the shipper knows the collector (and where
			// its stream is), it counts for it only the bytes that collector lacks. (A
			// notice sent before that counts the whole range: under load it was, 1 run in
			// about 10.)
			testsupport.WaitMetric(t, addr, "logspread_shipper_collectors", func(v float64) bool { return v == 1 })
			r.write(C)
			// C arrives (the loss notice before it was counted by then).
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(C))
			destroyed := testsupport.Metric(t, addr, "logspread_shipper_unacked_destroyed_bytes_total") +
				testsupport.Metric(t, addr, "logspread_shipper_journal_dropped_bytes_total")
			want := len(B2)
			if kill {
				want += len(B1) // no checkpoint past A's start was saved: B1 was sent, not acknowledged
			}
			if destroyed != float64(want) {
				t.Errorf("shipper counted %v bytes destroyed, want %d", destroyed, want)
			}
			if v := testsupport.Metric(t, addr, `logspread_shipper_collector_lost_bytes_total{collector="a"}`); v != float64(len(B2)) {
				t.Errorf("shipper counted %v bytes lost for collector a, want %d (B2, which it never had)", v, len(B2))
			}
			if v := testsupport.Metric(t, addr, "logspread_shipper_stream_jumps_total"); v != 0 {
				t.Errorf("stream jumps %v, want 0 (the journal's end was recorded: the gap is exact)", v)
			}
			r.stdin.Close()
			if code := s.Wait(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			if msg := "the journal ends before offsets the run before may have used"; !strings.Contains(s.Stderr.String(), msg) {
				t.Errorf("no log %q", msg)
			}
			if v := testsupport.Metric(t, c.metrics, "logspread_collector_gap_bytes_total"); v != float64(len(B2)) {
				t.Errorf("collector counted %v bytes of gaps, want exactly %d (B2)", v, len(B2))
			}
			checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A, B1, C))
		})
	}
}
