package source

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailTruncatedAfterRestartSentNotLost: the run before read the file past the
// checkpoint ("a 1", "a 2": returned, not acknowledged) and stopped; the file is
// truncated and written again before this run reads a byte of it. The bytes it holds no
// more past the checkpoint were sent by the run before: collectors that have them keep
// them, and those that lack them count a gap. They are bytes destroyed before they were
// acknowledged (unacked_destroyed_bytes_total), not bytes lost before any run read them
// (lost_bytes_total: counted so, a false loss).
func TestTailTruncatedAfterRestartSentNotLost(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	r.write(f, "a 0\na 1\na 2\n")
	r.start()
	c1 := next(t, r.tl, 4) // "a 0\n"
	c2 := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c1, c2})
	if err := r.tl.Ack(c1.Pos); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(f, "b 0\n")
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 1})
	lost, unacked := testutil.ToFloat64(r.s.m.LostBytes), testutil.ToFloat64(r.s.m.UnackedDestroyed)
	if lost != 0 || unacked != 8 {
		t.Errorf("lost_bytes_total %v, unacked_destroyed_bytes_total %v; want 0 and 8 (a 1, a 2: sent by the run before)", lost, unacked)
	}
}
