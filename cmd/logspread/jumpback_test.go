package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipKilledFileGoneCollectorBack: real processes (an embedded daemon, collectors
// a and b, the shipper). Both write every line of access.log; b is killed (absent: the
// checkpoint waits for it), then the shipper (SIGKILL); while it is down access.log is
// deleted and a new one written. The restart jumps past every offset the run before
// may have used, announced as unused; a writes B. b comes back once those notices left
// the window: it lacks the jump's offsets, which hold no byte, and gets an unused
// notice for them (one gap of unknown size), never a loss notice, and B again (a
// rewind). Nothing was lost: both collectors have every line once, neither counts a
// gap byte, and the shipper counts no lost byte for either. On main b got a loss notice
// for the jump ("from=... to=... bytes=4294967296"), counted as 4 GiB in
// collector_lost_bytes_total{collector="b"} and in b's gap_bytes_total.
func TestShipKilledFileGoneCollectorBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newProcessRig(t)
	path := filepath.Join(r.dir, "access.log")
	A, B := accessLines("a", 0, 299), accessLines("b", 0, 199)
	r.logFile(path, A, "--checkpoint-interval", "0")
	a := r.collector("a")
	b := r.collector("b")
	r.ship()
	for _, c := range []*writtenCollector{a, b} {
		waitAtLeast(t, c.metrics, "logspread_collector_bytes_total", len(A))
	}
	r.waitShip("logspread_shipper_acked_bytes_total", len(A))
	b.Kill(t)
	r.kill()

	r.shipReplaced(path, B)
	addr := r.addr
	waitAtLeast(t, a.metrics, "logspread_collector_bytes_total", len(A)+len(B))
	r.waitShip("logspread_shipper_acked_bytes_total", len(B))
	testsupport.WaitMetric(t, addr, "logspread_shipper_batches_in_flight", func(v float64) bool { return v == 0 })

	b.start() // its state says it has A
	// It gets B again after the notices for what it lacks below (a rewind).
	waitAtLeast(t, b.metrics, "logspread_collector_bytes_total", len(B))
	lostA := testsupport.Metric(t, addr, `logspread_shipper_collector_lost_bytes_total{collector="a"}`)
	lostB := testsupport.Metric(t, addr, `logspread_shipper_collector_lost_bytes_total{collector="b"}`)
	r.terminate()
	gapA := testsupport.Metric(t, a.metrics, "logspread_collector_gap_bytes_total")
	gapB := testsupport.Metric(t, b.metrics, "logspread_collector_gap_bytes_total")
	unknownB := testsupport.Metric(t, b.metrics, "logspread_collector_unknown_gaps_total")
	t.Logf("shipper: collector_lost_bytes{a} %v, {b} %v; collector a: gap_bytes %v; b: gap_bytes %v, unknown_gaps %v (true loss: 0 bytes)",
		lostA, lostB, gapA, gapB, unknownB)
	if lostA != 0 || lostB != 0 || gapA != 0 || gapB != 0 {
		t.Errorf("lost bytes counted: shipper for a %v, for b %v; collector a %v, b %v; want 0 (every line arrived)", lostA, lostB, gapA, gapB)
	}
	if unknownB != 1 {
		t.Errorf("collector b counted %v gaps of unknown size, want 1 (the jump's offsets)", unknownB)
	}
	checkEveryLineOnce(t, "collector a", a.stop(), slices.Concat(A, B))
	checkEveryLineOnce(t, "collector b", b.stop(), slices.Concat(A, B))
}
