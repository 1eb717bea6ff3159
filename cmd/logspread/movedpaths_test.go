package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipRestartFileMovedToOtherPath: real processes (an embedded daemon, a collector,
// the shipper) following two paths of one directory (ship a.log b.log). The shipper is
// stopped (SIGTERM, or SIGKILL: its checkpoints may lag what it shipped); while it is
// down, a.log is renamed onto b.log and written to, and a new a.log is written. After
// the restart the collector has every line exactly once (and, after SIGTERM, nothing is
// counted lost): a.log's stream drains its file
// at b.log from its checkpoint, and b.log's stream is handed it at the offset shipped,
// never reading it again from its start (on main, a.log's first lines arrived twice).
func TestShipRestartFileMovedToOtherPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, kill := range []bool{false, true} {
		name := "term"
		if kill {
			name = "kill"
		}
		t.Run(name, func(t *testing.T) {
			r := newProcessRig(t)
			a, b := filepath.Join(r.dir, "a.log"), filepath.Join(r.dir, "b.log")
			A1, B1, A2, N := accessLines("a1", 0, 499), accessLines("b1", 0, 499), accessLines("a2", 0, 299), accessLines("n", 0, 199)
			if err := os.WriteFile(a, A1, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(b, B1, 0o644); err != nil {
				t.Fatal(err)
			}
			c := r.collector("a")
			r.args = append(r.args, "--from-beginning", a, b)
			r.ship()
			r.shipped(c, len(A1)+len(B1))
			r.stop(kill)

			if err := os.Rename(a, b); err != nil {
				t.Fatal(err)
			}
			appendTo(t, b, A2)
			if err := os.WriteFile(a, N, 0o644); err != nil {
				t.Fatal(err)
			}

			r.ship()
			s, addr := r.s, r.addr
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A1)+len(B1)+len(A2)+len(N))
			r.waitShip("logspread_shipper_acked_bytes_total", len(A2)+len(N))
			// Nothing was lost. (After SIGKILL, b.log's checkpoint may not say that its
			// old file, replaced by the rename, was shipped to its end: its rest, sent
			// and written, is gone unacknowledged, not lost; the stream may jump, its
			// offsets announced as unused, never as lost bytes.)
			if v := testsupport.Metric(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
				t.Errorf("shipper counted %v bytes lost, want 0", v)
			}
			r.terminate()
			if v := testsupport.Metric(t, c.metrics, "logspread_collector_gap_bytes_total"); v != 0 {
				t.Errorf("collector counted %v bytes of gaps, want 0", v)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A1, B1, A2, N))
			if !strings.Contains(s.Stderr.String(), "source="+a+" from=checkpoint file="+b) {
				t.Errorf("the restart did not log finding a.log's file at b.log:\n%s", s.Stderr)
			}
		})
	}
}
