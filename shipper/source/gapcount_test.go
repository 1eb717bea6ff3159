package source

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// counted returns the bytes a run counted as gone: destroyed before they were read
// (lost_bytes_total) or after they were sent unacknowledged (unacked_destroyed).
func counted(s *Set) float64 {
	return testutil.ToFloat64(s.m.LostBytes) + testutil.ToFloat64(s.m.UnackedDestroyed)
}

// TestTailJumpRememberedAcrossCrashes: a jump past every offset used (LossGap) that a
// run made, announced as unused, is remembered by the runs after it, never counted as
// bytes by them. Run 1 reads A, acknowledges a quarter of it and crashes; A is
// copytruncated while it is down and B written. Run 2 drains A's copy, enters B past
// every offset a run may have used (the run before may have read A past its copy: a
// LossGap jump, announced as unused), returns B and crashes before any acknowledgement.
// While it is down, A's copy is deleted (compressed) and B copytruncated. Run 3 walks
// from the checkpoint in A: the rest of A is gone (counted once), the jump is unused
// again, and B's copy keeps the offsets it had. main counted the jump as 4 GiB of
// unacknowledged destroyed bytes ('bytes=4294968496' here; 'bytes=4294976410' in the
// collector's log of issue 10).
func TestTailJumpRememberedAcrossCrashes(t *testing.T) {
	A, B, C := lines("A", 1, 40), lines("B", 1, 30), lines("C", 1, 20)
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, A)
	stamp(t, path, 0)
	first := goneRun(t, cfg, path, true, nil)
	acked := first[len(first)/4].End()
	missing := float64(uint64(len(A)) - acked) // the rest of A after the checkpoint

	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, B)
	stamp(t, path, 2)

	cfg.Waker = w
	s2 := newSources(t, cfg)
	tl2 := openTailer(t, s2, path)
	got2 := readChunks(t, w, tl2, 600)
	wantRead(t, chunkData(got2), A[acked:]+B)
	var jump []OffsetRange
	var bAt uint64
	for _, c := range got2 {
		if len(c.Unused) > 0 {
			jump, bAt = c.Unused, c.Offset
		}
	}
	if len(jump) != 1 || jump[0].To-jump[0].From < LossGap/2 || counted(s2) != 0 {
		t.Fatalf("run 2: B at %d, unused %v, %v bytes counted gone: want a jump past every offset used, nothing counted", bAt, jump, counted(s2))
	}
	tl2.noStop = true
	tl2.Close()
	s2.Close()

	mustRemove(t, path+".1") // compressed: never read
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 3)
	appendFile(t, path, C)
	stamp(t, path, 4)

	s3 := newSources(t, cfg)
	got := readChunks(t, w, openTailer(t, s3, path), 64<<10)
	wantRead(t, chunkData(got), B+C)
	if c := counted(s3); c != missing {
		t.Errorf("run 3 counted %v bytes gone (lost %v, unacknowledged destroyed %v), want %v: the rest of A after the checkpoint", c,
			testutil.ToFloat64(s3.m.LostBytes), testutil.ToFloat64(s3.m.UnackedDestroyed), missing)
	}
	if got[0].Offset != bAt || got[0].Lost != bAt-acked || !slices.Equal(got[0].Unused, jump) {
		t.Errorf("run 3: B at %d (run 2: %d), announced lost %d (want %d), unused %v (want %v)",
			got[0].Offset, bAt, got[0].Lost, bAt-acked, got[0].Unused, jump)
	}
}
