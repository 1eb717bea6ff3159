package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailCopyDeletedWhileBehind: logrotate copytruncate with rotate 1 while the tailer is
// behind (a full window): the file is copied to path.1 and truncated, written again,
// then rotated again, which deletes the first copy (path.1 replaced by the new copy)
// before the tailer got to it. The looker's look on the first rotation's event holds the
// copy open: its unread lines are drained from the read offset, then the second copy,
// then the live file; nothing lost and nothing counted lost. Rotated a third time, the
// second copy (of lines written after the first truncation, none read) is deleted too:
// held since the looks saw that content truncated, it is drained in its turn. Without a free descriptor
// (other files take them) the copy's unread bytes are lost, counted by the
// size the look saw the copy at.
func TestTailCopyDeletedWhileBehind(t *testing.T) {
	for _, c := range []struct {
		name      string
		held      bool
		rotations int
	}{{"held", true, 2}, {"held-3-rotations", true, 3}, {"no-descriptor", false, 2}} {
		t.Run(c.name, func(t *testing.T) {
			testTailCopyDeletedWhileBehind(t, c.held, c.rotations)
		})
	}
}

func testTailCopyDeletedWhileBehind(t *testing.T, held bool, rotations int) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 50))
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	c, err := tl.Next(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := string(c.Data)
	if !held {
		for s.fds.tryAcquire() { // every other slot taken (other files)
			t.Cleanup(s.fds.release)
		}
	}
	rotate1 := func(sec int) {
		if err := os.Remove(path + ".1"); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		copyTruncate(t, path, path+".1")
		stamp(t, path+".1", sec)
		tl.lookFor() // the looker's look on the rotation's event (reading is held)
	}
	write := func(data string, sec int) {
		appendFile(t, path, data)
		stamp(t, path, sec)
		tl.lookFor() // the looker's look on the write's event (reading is held)
	}
	write(lines("a", 51, 100), 1)
	rotate1(2)
	write(lines("b", 1, 20), 3)
	rotate1(4)
	want := lines("a", 1, 100) + lines("b", 1, 20)
	if rotations == 3 {
		write(lines("b", 21, 30), 5)
		rotate1(6)
		want += lines("b", 21, 30)
	}
	write(lines("c", 1, 5), 7)
	want += lines("c", 1, 5)
	got += readAll(t, w, tl, 64<<10)
	if !held {
		// (the first read took the 50 lines the file held: the tailer's buffer ships them)
		unread := lines("a", 51, 100)
		wantRead(t, got, lines("a", 1, 50)+lines("b", 1, 20)+lines("c", 1, 5))
		if lost := testutil.ToFloat64(s.m.LostBytes); lost != float64(len(unread)) {
			t.Errorf("lost bytes %v, want %d (the copy's unread bytes)", lost, len(unread))
		}
		return
	}
	wantRead(t, got, want)
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost bytes %v, want 0", lost)
	}
	if n := testutil.ToFloat64(s.m.FilesOpen); n != 1 {
		t.Errorf("files open %v after the copies were drained, want 1 (the live file)", n)
	}
}
