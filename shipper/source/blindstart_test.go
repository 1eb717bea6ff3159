package source

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTailCrashRestartsThroughTwoCopytruncates: a shipper killed while following an empty
// file; while it is down lines are written and the file copytruncated. The restart drains
// the copy, then reads the truncated file's new lines, and is killed again before anything
// is acknowledged; while it is down the file is written and copytruncated again (the first
// copy is renamed on). The next restart walks both generations again at the offsets they
// had. The position saved when the second run started named the file at offset 0 with the
// head and size of its new content (the copy holding offset 0 was found only later): the
// third run took the file for one shrunk since, jumped past every offset and drained both
// copies at new offsets, so collectors got their lines twice (real logrotate copytruncate
// with kills: 600 to 2,400 doubled lines of 1,500).
func TestTailCrashRestartsThroughTwoCopytruncates(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "")
	stamp(t, path, 0)
	t1 := openTailer(t, s, path)
	t1.noStop = true // a crash: the checkpoint stays at offset 0 of the empty file
	t1.Close()

	appendFile(t, path, lines("a", 1, 3))
	stamp(t, path, 1)
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("b", 1, 5))
	stamp(t, path, 2)
	t2 := openTailer(t, s, path)
	second := readChunks(t, w, t2, 64<<10)
	wantRead(t, chunkData(second), lines("a", 1, 3)+lines("b", 1, 5))
	st := newStream(t)
	st.add(second...)
	t2.noStop = true // a crash before anything was acknowledged
	t2.Close()

	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 3)
	if err := os.Rename(path+".1", path+".2"); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 3)
	appendFile(t, path, lines("d", 1, 2))
	stamp(t, path, 4)
	t3 := openTailer(t, s, path)
	third := readChunks(t, w, t3, 64<<10)
	st.add(third...) // a and b at the offsets they had
	wantRead(t, chunkData(third), lines("a", 1, 3)+lines("b", 1, 5)+lines("c", 1, 2)+lines("d", 1, 2))
	if third[0].Offset != second[0].Offset {
		t.Errorf("the walk again began at offset %d, want %d", third[0].Offset, second[0].Offset)
	}
	t3.Close()
}
