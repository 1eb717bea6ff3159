package source

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Regression tests for the walk again after a restart through copytruncate.

// TestTailRestartCopyOfGenerationNotReadAgain: the run before read a file's new content
// (after a copytruncate whose copy held only bytes read), unacknowledged; the restart
// walks it again at the offsets it had, and before it read a byte of it the file is
// copytruncated again. The copy is that generation: it is drained from its start at the
// same offsets (what collectors have already), then the new lines follow. It was taken
// for a generation new at the next offset, which the offsets used before were skipped
// for: its lines arrived a second time at other offsets (TestTailModel seed 179).
func TestTailRestartCopyOfGenerationNotReadAgain(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	first := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(first), lines("a", 1, 3))
	if err := tl.Ack(first[len(first)-1].Pos); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1") // holds only lines read
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("b", 1, 3))
	stamp(t, path, 2)
	second := readChunks(t, w, tl, 64<<10) // read, never acknowledged
	wantRead(t, chunkData(second), lines("b", 1, 3))
	st := newStream(t)
	st.add(first...)
	st.add(second...)

	tl.Close()
	tl = openTailer(t, s, path)
	copyTruncate(t, path, path+".2")
	stamp(t, path+".2", 3)
	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 4)
	cs := readChunks(t, w, tl, 64<<10)
	st.add(cs...) // b at the offsets it had, not at new ones
	wantRead(t, chunkData(cs), lines("b", 1, 3)+lines("c", 1, 2))
	if cs[0].Offset != second[0].Offset {
		t.Errorf("the copy was drained at offset %d, want %d (the offsets its lines had)", cs[0].Offset, second[0].Offset)
	}
	for name, c := range map[string]float64{"lost_bytes_total": testutil.ToFloat64(s.m.LostBytes), "unacked_destroyed_bytes_total": testutil.ToFloat64(s.m.UnackedDestroyed)} {
		if c != 0 {
			t.Errorf("%s %v, want 0 (nothing was destroyed)", name, c)
		}
	}
}
