package source

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTailCase20ReservedInodeReused (bench case 20, duplicates): a tailer resumed from
// its checkpoint reserves the files its record says it read after the checkpoint
// (Set.reserve) until its walk is done. One of them (v07.log's second copy, v07.log.1)
// is deleted during that walk, and the file system gives its inode number to the next
// file created: copytruncate's copy of another match (v01.log.1), made while v01.log's
// stream did not look, after an earlier copy. That copy starts with another head: it is
// no file v07.log's stream walks to, and v01.log's stream drains it after the earlier
// copy, each line once. The reservation was by device and inode alone: the copy was
// another stream's to v01.log's (findUnreadCopy, backToLiveSeen), its lines skipped,
// then read again, or lost.
//
// Which inode number the file system hands out is not the test's to choose: the copy is
// created until it gets the deleted file's (ext4 gives it at once, often); where it does
// not, the reservation is moved to the copy's inode number by hand.
func TestTailCase20ReservedInodeReused(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	v01, v07 := filepath.Join(dir, "v01.log"), filepath.Join(dir, "v07.log")
	f01, f07 := openAppend(t, v01), openAppend(t, v07)
	var got []Chunk
	read := func(tl *Tailer) {
		t.Helper()
		w.Tick()
		got = append(got, readChunks(t, w, acking{tl}, 1<<16)...)
	}

	t01 := openTailer(t, s, v01)
	writeString(t, f01, case20Lines("a", 5))
	read(t01)

	// v07.log's stream reads to a checkpoint, then drains two copies (copytruncate
	// twice) without an acknowledgement, and is killed.
	t07 := openTailer(t, s, v07)
	writeString(t, f07, case20Lines("x", 5))
	read(t07)
	writeString(t, f07, case20Lines("y", 5))
	copyTruncate(t, v07, v07+".1")
	w.Tick()
	readChunks(t, w, t07, 1<<16)
	writeString(t, f07, case20Lines("z", 5))
	mustRename(t, v07+".1", v07+".2")
	copyTruncate(t, v07, v07+".1")
	w.Tick()
	readChunks(t, w, t07, 1<<16)
	t07.noStop = true
	t07.Close()

	// Restarted: its walk reserves the files its record names after the checkpoint,
	// v07.log.1 among them.
	fi, err := os.Stat(v07 + ".1")
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	gone := [2]uint64{dev, ino}
	t07 = openTailer(t, s, v07)
	if !s.owned(gone, v07+".1") {
		t.Fatalf("v07.log.1 is not reserved by the restarted stream of v07.log")
	}

	// While v01.log's stream does not look: v01.log copytruncated twice; before the
	// second copy, v07.log.1 is deleted and the copy given its inode number.
	writeString(t, f01, case20Lines("b", 5))
	copyTruncate(t, v01, v01+".1")
	writeString(t, f01, case20Lines("c", 5))
	mustRename(t, v01+".1", v01+".2")
	mustRemove(t, v07+".1")
	b, err := os.ReadFile(v01)
	if err != nil {
		t.Fatal(err)
	}
	if !createReusing(t, v01+".1", string(b), ino) {
		t.Logf("the file system did not give the copy the deleted file's inode number: the reservation is moved to it")
		ci, err := os.Stat(v01 + ".1")
		if err != nil {
			t.Fatal(err)
		}
		cdev, cino, _ := fileID(ci)
		s.mu.Lock()
		s.own.reserved[[2]uint64{cdev, cino}] = s.own.reserved[gone]
		delete(s.own.reserved, gone)
		s.mu.Unlock()
	}
	if err := os.Truncate(v01, 0); err != nil {
		t.Fatal(err)
	}
	writeString(t, f01, case20Lines("d", 5))

	read(t01)
	read(t07)
	read(t01)
	// Every line of v01.log once, in v01.log's stream, none counted lost there.
	var lines []string
	for _, c := range got {
		if c.Pos.Path != v01 {
			for l := range strings.Lines(string(c.Data)) {
				if !strings.HasPrefix(l, "x") && !strings.HasPrefix(l, "y") && !strings.HasPrefix(l, "z") {
					t.Errorf("v07.log's stream read %q", l)
				}
			}
			continue
		}
		if c.Lost > 0 {
			t.Errorf("v01.log's stream announces %d bytes lost at %d", c.Lost, c.Offset)
		}
		lines = slices.AppendSeq(lines, strings.Lines(string(c.Data)))
	}
	want := slices.Collect(strings.Lines(case20Lines("a", 5) + case20Lines("b", 5) + case20Lines("c", 5) + case20Lines("d", 5)))
	if !slices.Equal(lines, want) {
		t.Fatalf("v01.log's stream read:\n%s\nwant:\n%s", strings.Join(lines, ""), strings.Join(want, ""))
	}
}
