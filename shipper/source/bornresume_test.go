package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTailRestartEmptyCheckpointInodeReused: a checkpoint saved while its file was empty
// (no head to tell it by) names a file that is deleted while the shipper is down after a
// crash, and the file system gives its inode number to the new file at the path (ext4 does
// at once; logrotate's create right after a rotation that destroyed the oldest generation).
// The restart took the new file for the checkpointed one by device and inode alone and
// read it at the offsets the crashed run had used for the old file's lines: collectors
// dropped the new lines as duplicates (silent loss; or, with the generations walked
// after it, whole generations sent twice at new offsets: a t16-style run of create-mode
// rotations with SIGKILLs wrote 2,000 lines for 1,600 in 3 of 14 runs). The file's birth
// time (Checkpoint.Born) tells them apart: the new file is read after every offset used.
func TestTailRestartEmptyCheckpointInodeReused(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ino, _ := fileID(fi)

	s1 := newSources(t, cfg)
	t1 := openTailer(t, s1, path)
	readChunks(t, w, t1, 1<<16) // opens the empty file
	if err := t1.Ack(t1.pos()); err != nil {
		t.Fatal(err)
	}
	if cp, found, err := s1.store.Load(path); err != nil || !found || cp.FPLen != 0 || cp.Ino != ino {
		t.Fatalf("checkpoint of the empty file: %+v found %v err %v", cp, found, err)
	}
	old := strings.Repeat("old line of the first file\n", 10)
	appendFile(t, path, old)
	read := chunkData(readChunks(t, w, t1, 1<<16))
	if read != old {
		t.Fatalf("first run read %q", read)
	}
	t1.noStop = true // a crash: the checkpoint stays at offset 0
	t1.Close()
	s1.Close()

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	const fresh = "new 1\nnew 2\n"
	if !createReusing(t, path, fresh, ino) {
		t.Skip("the file system did not give the new file the deleted file's inode number")
	}
	s2 := newSources(t, cfg)
	t2 := openTailer(t, s2, path)
	cs := readChunks(t, w, t2, 1<<16)
	if got := chunkData(cs); got != fresh {
		t.Fatalf("restart read %q, want %q", got, fresh)
	}
	if cs[0].Offset < uint64(len(old)) {
		t.Fatalf("the new file's lines at offset %d, inside the offsets the crashed run used for the old file's (0-%d): collectors drop them as duplicates",
			cs[0].Offset, len(old))
	}
}
