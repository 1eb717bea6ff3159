package source

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestTailRestartNextGenerationOnRecordedInodeNumber: as in
// TestTailRestartOldWriterMakesCheckpointedNewest (the shipper down across two
// rotations, an old writer appending to the checkpointed file after them: it ends with a
// later modification time than the generation rotated after it), but that generation was
// given, by the file system, the inode number of a generation the run before read and
// logrotate deleted since (ext4 gives a freed inode number to the next file created, often
// at once). bornAfter took the record's entry of the deleted generation, by device and
// inode alone, for this file read before, and the walk from the checkpoint skipped it
// whole, silently (-model.oldwriter seed 340, 1 run in 2 to 10: "line never shipped").
// The record names the deleted generation by its head, which the new file does not start
// with. The inode reuse is set up in the record of generations (which inode number the
// file system hands out is not the test's to choose); the files are real.
func TestTailRestartNextGenerationOnRecordedInodeNumber(t *testing.T) {
	r := newRestartRig(t, 10*time.Millisecond)
	z := r.create()
	r.write(z, tagged("z", 0, 4))
	r.start()
	r.readAll()
	r.rename(".1")
	a := r.create()
	r.write(a, tagged("a", 0, 9))
	r.readAll() // z drained and left, a followed
	zi, err := os.Stat(r.path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	zdev, zino, _ := fileID(zi)
	mustRemove(t, r.path+".1") // beyond logrotate's rotate count
	r.kill()

	aBorn := bornAt(r.path)
	if aBorn == 0 {
		t.Skip("the file system keeps no birth times: generations are ordered by modification time")
	}
	// (File times tick coarsely: b is created once a file created now is born after a.)
	probe := filepath.Join(filepath.Dir(r.path), "probe")
	testsupport.Eventually(t, func() bool {
		appendFile(t, probe, "")
		defer mustRemove(t, probe)
		return bornAt(probe) > aBorn
	}, "no file created is born after a (born at %d)", aBorn)
	r.rotateTwice(tagged("b", 0, 9), tagged("c", 0, 9))
	later := time.Now().Add(time.Second)
	r.write(a, tagged("a", 10, 19)) // the old writer, after both rotations
	if err := os.Chtimes(r.path+".2", later, later); err != nil {
		t.Fatal(err)
	}
	bi, err := os.Stat(r.path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	bdev, bino, _ := fileID(bi)
	if bdev != zdev {
		t.Fatalf("z and b on devices %d and %d", zdev, bdev)
	}
	// b got z's inode number: the record of generations names z's under it.
	name := r.s.store.genFile(r.path)
	rec, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	named := 0
	for _, line := range bytes.SplitAfter(rec, []byte{'\n'}) {
		var e genEntry
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &e) != nil || e.Ino != zino {
			out.Write(line)
			continue
		}
		e.Ino = bino
		named++
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}
	if named == 0 {
		t.Fatalf("the record of generations names no entry of z (inode %d): %s", zino, rec)
	}
	if err := os.WriteFile(name, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	r.start()
	r.readAll()
	r.check(map[string]int{"z": 5, "a": 20, "b": 10, "c": 10})
}

// TestBornAfterDoneOnReusedInodeNumber: a generation drained and left in this run
// (Tailer.done), deleted since, whose inode number the file system gave to a file created
// after prev, does not make that file one read before: bornAfter tells them by the head.
// The file that still starts with the head drained is.
func TestBornAfterDoneOnReusedInodeNumber(t *testing.T) {
	cfg, _ := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	tl := openTailer(t, s, path)
	appendFile(t, path+".1", tagged("b", 0, 1))
	born := bornAt(path + ".1")
	if born == 0 {
		t.Skip("the file system keeps no birth times")
	}
	fi, err := os.Stat(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	prev := &gen{has: true, born: born - 1} // (file times tick coarsely: a prev born just before)
	deleted := []byte(tagged("z", 0, 0))
	head := readHead(path + ".1")

	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.done = []fileKey{{dev, ino, len(deleted), fingerprint(deleted)}}
	if !tl.bornAfter(path+".1", [2]uint64{dev, ino}, prev) {
		t.Error("a file born after prev, on the inode number of a generation drained and deleted before (another head), is taken for that generation")
	}
	tl.done = []fileKey{{dev, ino, len(head), fingerprint(head)}}
	if tl.bornAfter(path+".1", [2]uint64{dev, ino}, prev) {
		t.Error("a generation drained before (its head) is taken for one not read")
	}
}
