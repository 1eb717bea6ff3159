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
	r := newProcessRig(t)
	logs, other := filepath.Join(r.dir, "logs"), filepath.Join(r.dir, "other")
	r.args = append(r.args, filepath.Join(logs, "*.log"), filepath.Join(other, "*.log"))
	for _, d := range []string{logs, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	A0 := accessLines("a", 0, 99) // there before the first start: not shipped (from its end)
	if err := os.WriteFile(filepath.Join(logs, "a.log"), A0, 0o644); err != nil {
		t.Fatal(err)
	}
	c := r.collector("a")
	r.ship()
	r.s.WaitLog(t, `msg=following .*a\.log from=end`)
	A1 := accessLines("a", 100, 199)
	appendTo(t, filepath.Join(logs, "a.log"), A1)
	waitOneStream(t, c, r.addr, len(A1))
	r.terminate()

	A2, B1, C1 := accessLines("a", 200, 299), accessLines("b", 0, 99), accessLines("c", 0, 99)
	appendTo(t, filepath.Join(logs, "a.log"), A2)
	for name, b := range map[string][]byte{filepath.Join(logs, "b.log"): B1, filepath.Join(other, "c.log"): C1} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.ship()
	after := len(A2) + len(B1) + len(C1)
	waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A1)+after)
	r.waitShip("logspread_shipper_acked_bytes_total", after)
	if v := testsupport.Metric(t, r.addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("lost_bytes_total %v, want 0", v)
	}
	r.terminate()
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A1, A2, B1, C1))
}
