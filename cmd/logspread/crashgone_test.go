package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipKilledCheckpointedFileGone: real processes (an embedded daemon, a collector,
// the shipper). Every line of access.log is shipped and written; the shipper is killed
// (SIGKILL: no stop checkpoint says which offsets it used), with its checkpoint behind
// what was acknowledged (--checkpoint-interval 1h: the start checkpoint) or on it; while
// it is down, access.log is deleted and a new one written. The restart cannot tell
// which offsets the run before used after its checkpoint, so the stream jumps past every
// offset it may have used (LossGap). Nothing was lost: the collector has every line
// exactly once, and the counts say so. The bytes the checkpoint knew of after it were
// sent before the crash: not lost for a collector that has them (not in
// lost_bytes_total, in unacked_destroyed_bytes_total; collector a lost none of them); the
// offsets past them are announced as unused (one gap of unknown size at the collector),
// never as a 4 GiB loss: the collector counts no gap bytes. On main the collector
// counted a gap of about 4 GiB, and the shipper counted the bytes it had sent after the
// lagging checkpoint as lost.
func TestShipKilledCheckpointedFileGone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, tc := range []struct {
		name     string
		interval string
	}{
		{name: "checkpoint behind", interval: "1h"},
		{name: "checkpoint current", interval: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newProcessRig(t)
			path := filepath.Join(r.dir, "access.log")
			A, B := accessLines("a", 0, 499), accessLines("b", 0, 199)
			r.logFile(path, A, "--checkpoint-interval", tc.interval)
			c := r.collector("a")
			r.ship()
			r.shipped(c, len(A))
			r.kill()

			r.shipReplaced(path, B)
			addr := r.addr
			waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A)+len(B))
			r.waitShip("logspread_shipper_acked_bytes_total", len(B))
			// The notices before B were ordered and written before B's lines were.
			lost := testsupport.Metric(t, addr, "logspread_shipper_lost_bytes_total")
			unacked := testsupport.Metric(t, addr, "logspread_shipper_unacked_destroyed_bytes_total")
			lostA := testsupport.Metric(t, addr, `logspread_shipper_collector_lost_bytes_total{collector="a"}`)
			jumps := testsupport.Metric(t, addr, "logspread_shipper_stream_jumps_total")
			unused := testsupport.Metric(t, addr, "logspread_shipper_unused_notices_total")
			r.terminate()
			gapBytes, unknown := c.gaps()
			t.Logf("shipper: lost_bytes %v, unacked_destroyed_bytes %v, collector_lost_bytes{a} %v, stream_jumps %v, unused_notices %v; collector: gap_bytes %v, unknown_gaps %v (true loss: 0 bytes)",
				lost, unacked, lostA, jumps, unused, gapBytes, unknown)
			if lost != 0 || lostA != 0 {
				t.Errorf("shipper counted %v bytes lost, %v lost for collector a; want 0 and 0 (the collector has every line)", lost, lostA)
			}
			if unacked < 0 || unacked > float64(len(A)) {
				t.Errorf("shipper counted %v bytes destroyed unacknowledged, want at most %d (A after its checkpoint)", unacked, len(A))
			}
			if gapBytes != 0 {
				t.Errorf("collector counted %v bytes of gaps, want 0 (it has every line; the jump's offsets are unused)", gapBytes)
			}
			if jumps != 1 || unused != 1 || unknown != 1 {
				t.Errorf("stream jumps %v, unused notices %v, collector gaps of unknown size %v; want 1, 1, 1", jumps, unused, unknown)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A, B))
		})
	}
}
