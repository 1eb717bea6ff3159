package main

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestShipKilledBeforeLossNotice: real processes (an embedded daemon, a collector, the
// shipper). The shipper reads part 2 of access.log while no collector is present (its
// checkpoint stays at the end of part 1) and is stopped; while it is down, access.log
// is deleted and a new one (B) written. The next run finds the checkpointed file gone
// and skips part 2 (a loss notice for the first chunk after it), but is killed
// (SIGKILL) before any collector heard the notice; a third run starts before the
// collector returns. The collector must have every line of part 1 and B exactly once
// and count a gap of exactly part 2 (the first run stopped cleanly: its stop checkpoint
// says which offsets it used), or one gap of unknown size and no gap bytes (the first
// run was killed too: the stream jumped by LossGap past every offset it may have used,
// part 2 among them). On main the second run's start checkpoint was already past the
// skip, and the third run never announced it: after the kill, the shipper told the
// collector (from its cursor) that the whole jump was lost, and it counted a gap of
// 4,294,815,296 bytes; after the stop, only the collector's cursor made it count the
// gap (a collector without one would have counted nothing).
func TestShipKilledBeforeLossNotice(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, kill := range []bool{false, true} {
		name := "stopped"
		if kill {
			name = "killed"
		}
		t.Run(name, func(t *testing.T) { testShipKilledBeforeLossNotice(t, kill) })
	}
}

func testShipKilledBeforeLossNotice(t *testing.T, kill bool) {
	part1, part2, B := accessLines("a1", 0, 1_999), accessLines("a2", 0, 999), accessLines("b", 0, 499)
	r := newProcessRig(t)
	path := filepath.Join(r.dir, "access.log")
	r.logFile(path, part1)
	c := r.readUnsent(path, part1, part2)
	r.stop(kill)

	// The second run finds the checkpointed file gone, reads B (no collector: nothing
	// sent) and is killed.
	r.shipReplaced(path, B)
	r.waitShip("logspread_shipper_read_bytes_total", len(B))
	r.kill()

	r.ship()
	r.waitShip("logspread_shipper_read_bytes_total", len(B))
	c.start()
	r.shipped(c, len(B))
	r.terminate()
	gap, unknown := c.gaps()
	t.Logf("collector: gap_bytes %v, unknown_gaps %v (true loss: part 2, %d bytes)", gap, unknown, len(part2))
	wantGap, wantUnknown := float64(len(part2)), 0.0
	if kill {
		// The first run was killed after it read part 2: which offsets it used past
		// what it last recorded is unknown, so part 2 is in the jump's unused offsets,
		// a gap of unknown size (never a 4 GiB one).
		wantGap, wantUnknown = 0, 1
	}
	if gap != wantGap || unknown != wantUnknown {
		t.Errorf("collector counted %v bytes of gaps and %v gaps of unknown size, want %v and %v", gap, unknown, wantGap, wantUnknown)
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(part1, B))
}
