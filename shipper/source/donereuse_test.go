package source

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDoneCopyOnReusedInode: a copytruncate copy holding only bytes read already
// (readCopy: done) whose inode number is that of a generation drained and left earlier in
// this run, then deleted (ext4 gives a freed inode number to the next file created, often
// at once), is done: it is not taken for that generation grown since it was left
// (grewSinceLeft matched the drained generation by device and inode alone, so the copy
// was drained again as a rotated generation not read yet, its lines shipped twice:
// TestTailModel, seed 1796089596939173149 -model.ops 300, fsnotify, about 1 run in 6).
// The inode reuse is set up in the tailer's records (which file system hands out which
// inode number is not the test's to choose); the file is real. The generation itself,
// back and grown under its own head, is still not done (read on from where it was left).
func TestDoneCopyOnReusedInode(t *testing.T) {
	cfg, _ := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	tl := openTailer(t, s, path)

	copyName := filepath.Join(dir, "access.log.11")
	appendFile(t, copyName, lines("c", 1, 9))
	fi, err := os.Stat(copyName)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	head := readHead(copyName)
	copyKey := fileKey{dev, ino, len(head), fingerprint(head)}
	// The generation drained before on the same inode number: its first 75 bytes read
	// (another content), deleted since.
	old := []byte(lines("g", 1, 1))
	oldKey := fileKey{dev, ino, len(old), fingerprint(old)}

	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.drained = []gen{{has: true, key: oldKey, readOff: int64(len(old)), headB: old}}
	tl.done = []fileKey{oldKey, copyKey}
	if !tl.isDone(copyName, dev, ino, fi.Size()) {
		t.Errorf("the copy of bytes read already, on the inode number of a generation drained and deleted before, is taken for that generation grown")
	}

	// The generation drained before, back under its own head and grown since it was left,
	// is not done.
	back := filepath.Join(dir, "access.log.12")
	appendFile(t, back, string(old)+lines("g", 2, 4))
	bi, err := os.Stat(back)
	if err != nil {
		t.Fatal(err)
	}
	bdev, bino, _ := fileID(bi)
	oldKey.dev, oldKey.ino = bdev, bino
	tl.drained = []gen{{has: true, key: oldKey, readOff: int64(len(old)), headB: old}}
	tl.done = []fileKey{oldKey}
	if tl.isDone(back, bdev, bino, bi.Size()) {
		t.Errorf("a generation drained before, back and grown since it was left, is taken for done")
	}
}
