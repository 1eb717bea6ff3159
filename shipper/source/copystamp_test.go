package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailCopyTruncateCopyStampedLater: copytruncate's copy whose modification time is a
// clock tick after the truncated file's, though it was written before the truncation
// (Linux stamps most changes with a coarse clock, which may lag the fine-grained time
// given to the copy: multigrain timestamps; seen here as 4 ms on ext4, in about one run
// of ten), is still found: drained from the read offset, then the file from its start.
// Its lines were lost, uncounted (the copy was taken for one made after the truncation).
func TestTailCopyTruncateCopyStampedLater(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, lines("g1", 1, 5))
	tl := openTailer(t, s, path)
	wantRead(t, chunkData(readChunks(t, w, tl, 64<<10)), lines("g1", 1, 5))
	appendFile(t, path, lines("g2", 1, 5)) // not read before the copy
	copyTruncate(t, path, path+".1")
	appendFile(t, path, lines("g3", 1, 5))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	at := fi.ModTime().Add(4 * time.Millisecond)
	if err := os.Chtimes(path+".1", at, at); err != nil {
		t.Fatal(err)
	}
	w.Tick()
	wantRead(t, chunkData(readChunks(t, w, tl, 64<<10)), lines("g2", 1, 5)+lines("g3", 1, 5))
	if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
		t.Errorf("lost_bytes %v, want 0", n)
	}
}
