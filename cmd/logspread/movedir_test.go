package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipGlobFileMovedToOtherGlobDir: real processes (an embedded daemon, a collector,
// the shipper) following two globs of two directories (ship 'd1/*.log' 'd2/*.log', and
// the globs the other way round). A file of d1 is moved to d2 (mv d1/x.log d2/x.log)
// while the shipper is down (stopped by SIGTERM, or SIGKILL: its checkpoint may lag
// what it sent) or while it runs, and written to after the move. The collector has
// every line exactly once and d1/x.log's checkpoint goes: d1's stream drains the file
// from its checkpoint, at its own offsets, then hands it over to d2's match, which
// never reads it from its start on a new stream (on main, x.log's first 150 lines
// arrived twice, down after SIGTERM and after SIGKILL; while running, d1's stream kept
// the file and its checkpoint for good).
func TestShipGlobFileMovedToOtherGlobDir(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, how := range []string{"term", "kill", "running", "term-d2-first", "kill-d2-first", "running-d2-first", "term-d2-new", "kill-d2-new"} {
		t.Run(how, func(t *testing.T) {
			r := newProcessRig(t, "--from-beginning", "--rotate-wait", "200ms")
			d1, d2 := filepath.Join(r.dir, "d1"), filepath.Join(r.dir, "d2")
			for _, d := range []string{d1, d2} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			x1, x2 := filepath.Join(d1, "x.log"), filepath.Join(d2, "x.log")
			X1, X2 := accessLines("x1", 0, 149), accessLines("x2", 0, 99)
			c := r.collector("a")
			args := append(r.args, filepath.Join(d1, "*.log"), filepath.Join(d2, "*.log"))
			if strings.HasSuffix(how, "-d2-first") {
				n := len(args)
				args[n-2], args[n-1] = args[n-1], args[n-2]
				how = strings.TrimSuffix(how, "-d2-first")
			}
			first := args
			if strings.HasSuffix(how, "-d2-new") {
				// d2's pattern is followed from the restart on only: the file moved there
				// is found all the same (before, d2's new stream read it from its start
				// again: 150 lines twice, and d1's stream counted its rest lost).
				first = args[:len(args)-1]
				how = strings.TrimSuffix(how, "-d2-new")
			}
			r.args = first
			r.ship()
			if err := os.WriteFile(x1, X1, 0o644); err != nil {
				t.Fatal(err)
			}
			r.shipped(c, len(X1))
			switch how {
			case "kill":
				r.kill()
			case "term":
				r.terminate()
			}
			mustRename(t, x1, x2)
			appendTo(t, x2, X2)
			if how != "running" {
				r.args = args
				r.ship()
			}
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(X1)+len(X2))
			r.waitShip("logspread_shipper_acked_bytes_total", len(X2))
			// Lines read twice on another stream would come now; one more write after
			// them shows they did not.
			X3 := accessLines("x3", 0, 9)
			appendTo(t, x2, X3)
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(X1)+len(X2)+len(X3))
			// d1/x.log's stream was dropped once it left the file: its checkpoint went.
			testsupport.EventuallyErr(t, func() error {
				m, _ := filepath.Glob(filepath.Join(r.state, "ckpt-*.json"))
				if len(m) != 1 {
					return fmt.Errorf("checkpoint files %v, want one (d2/x.log's)", m)
				}
				if b, _ := os.ReadFile(m[0]); !bytes.Contains(b, []byte(strconv.Quote(x2))) {
					return fmt.Errorf("the checkpoint left is %s, want d2/x.log's", b)
				}
				return nil
			})
			if v := testsupport.Metric(t, r.addr, "logspread_shipper_lost_bytes_total"); v != 0 {
				t.Errorf("shipper counted %v bytes lost, want 0", v)
			}
			r.terminate()
			if v := testsupport.Metric(t, c.metrics, "logspread_collector_gap_bytes_total"); v != 0 {
				t.Errorf("collector counted %v bytes of gaps, want 0", v)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(X1, X2, X3))
		})
	}
}
