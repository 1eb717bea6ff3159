package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipRestartCheckpointedFileGone: real processes (an embedded daemon, a collector,
// the shipper). The shipper reads part 2 of access.log while no collector is present
// (its checkpoint stays at the end of part 1) and is stopped; while it is down,
// logrotate (rotate 2) rotates three times, so the checkpointed generation is deleted
// and the two that followed it sit in access.log.2 and access.log.1, with a fourth at
// access.log. After the restart the collector has every line of parts 1, B, C and D
// exactly once, and a gap of exactly part 2 (the bytes gone after the checkpoint),
// counted on both sides (the shipper: read before it was deleted, so not in
// lost_bytes_total but in unacked_destroyed_bytes_total, and lost for collector a);
// the stream never jumps.
func TestShipRestartCheckpointedFileGone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newProcessRig(t)
	logs := filepath.Join(r.dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(logs, "access.log")
	part1, part2 := accessLines("a1", 0, 1_999), accessLines("a2", 0, 999)
	B, C, D := accessLines("b", 0, 1_499), accessLines("c", 0, 999), accessLines("d", 0, 499)
	r.logFile(path, part1)
	c := r.readUnsent(path, part1, part2)
	r.terminate()

	// logrotate, rotate 2, three times while the shipper is down.
	rename := func(from, to string) {
		t.Helper()
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	for _, gen := range [][]byte{B, C} {
		if _, err := os.Stat(path + ".2"); err == nil {
			if err := os.Remove(path + ".2"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(path + ".1"); err == nil {
			rename(path+".1", path+".2")
		}
		rename(path, path+".1")
		if err := os.WriteFile(path, gen, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(path + ".2"); err != nil { // the checkpointed generation
		t.Fatal(err)
	}
	rename(path+".1", path+".2")
	rename(path, path+".1")
	if err := os.WriteFile(path, D, 0o644); err != nil {
		t.Fatal(err)
	}

	c.start()
	r.ship()
	s, addr := r.s, r.addr
	s.WaitLog(t, `checkpointed file not found at the path or any rotated name .* lost_bytes=`+strconv.Itoa(len(part2)))
	r.shipped(c, len(B)+len(C)+len(D))
	waitAtLeast(t, c.metrics, `logspread_collector_gap_bytes_by_cause_total{cause="loss_notice"}`, len(part2))
	// Part 2 was read, not acknowledged (sent to no collector here), then deleted: not
	// destroyed before it was read (lost_bytes_total), but gone before it was
	// acknowledged; what each collector lacks of it is its loss, counted per collector.
	if v := testsupport.Metric(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("shipper counted %v bytes lost, want 0 (part 2 was read before it was deleted)", v)
	}
	if v := testsupport.Metric(t, addr, "logspread_shipper_unacked_destroyed_bytes_total"); v != float64(len(part2)) {
		t.Errorf("shipper counted %v bytes destroyed unacknowledged, want %d (part 2, deleted after the checkpoint)", v, len(part2))
	}
	if v := testsupport.Metric(t, addr, `logspread_shipper_collector_lost_bytes_total{collector="a"}`); v != float64(len(part2)) {
		t.Errorf("shipper counted %v bytes lost for collector a, want %d (part 2, which it never had)", v, len(part2))
	}
	if v := testsupport.Metric(t, addr, "logspread_shipper_checkpointed_files_gone_total"); v != 1 {
		t.Errorf("checkpointed files gone %v, want 1", v)
	}
	if v := testsupport.Metric(t, addr, "logspread_shipper_stream_jumps_total"); v != 0 {
		t.Errorf("stream jumps %v, want 0 (the gap is exact)", v)
	}
	r.terminate()
	if v := testsupport.Metric(t, c.metrics, "logspread_collector_gap_bytes_total"); v != float64(len(part2)) {
		t.Errorf("collector counted %v bytes of gaps, want exactly %d", v, len(part2))
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(part1, B, C, D))
}
