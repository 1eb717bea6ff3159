package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReadOnTakesLaterHandOver: a glob's new match is a file a stream read and left
// (readBefore: begun where the index of generations left says, Tailer.readOn). Between
// the glob's look and the match's tailer taking the file, the stream that left it read
// on what its writer appended there (it lingers on it for rotate_wait) and left it again
// further on, handing it over there. The match's stream reads on from that hand-over,
// not from where the glob looked: the lines between were shipped by the other stream
// (cmd TestShipGlobRotatedNamesAlsoMatchKilled, about 1 run in 80 under load: the
// 'mark' lines appended to the rotated names read twice).
//
// The glob's look is made by hand, as readBefore makes it, so that the order is the
// test's to choose.
func TestReadOnTakesLaterHandOver(t *testing.T) {
	cfg, w := modelConfig(t) // rotate_wait 1h: the generation left lingers
	s := newSources(t, cfg)
	dir := t.TempDir()
	a := filepath.Join(dir, "app.log")
	first := handOverLines("g1", 0, 30)
	appendFile(t, a, first)
	ta := openTailer(t, s, a)
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), first)
	mustRename(t, a, a+".1")
	appendFile(t, a, "next\n")
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "next\n") // app.log.1 drained, left, lingered on

	// The glob looks at the match app.log.1: left by app.log's stream at len(first),
	// written to since.
	more := handOverLines("more", 0, 3)
	appendFile(t, a+".1", more)
	mark := readOnMark(t, a+".1", int64(len(first)))

	// Before the match's tailer is opened, app.log's stream reads what was appended and
	// leaves the file again, handed over at its end.
	w.Tick()
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), more)
	id := [2]uint64{mark.Dev, mark.Ino}
	s.mu.Lock()
	h, handed := s.own.handed[id]
	s.mu.Unlock()
	if end := int64(len(first) + len(more)); !handed || h.off != end {
		t.Fatalf("app.log.1 handed over: %v at %d, want at %d", handed, h.off, end)
	}

	t1, err := s.openFileHow(a+".1", openHow{readOn: &mark, match: true, endWhenGone: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t1.Close() })
	wantRead(t, readAll(t, w, acking{t1}, 1<<16), "")
	later := handOverLines("later", 0, 2)
	appendFile(t, a+".1", later)
	w.Tick()
	wantRead(t, readAll(t, w, acking{t1}, 1<<16), later)
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "") // the match's stream took it on
	if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
		t.Errorf("lost_bytes %v, want 0", n)
	}
}

// readOnMark returns the mark a glob's look gives the match m (readBefore), a file
// left at off: its identity and head as they are now, and off.
func readOnMark(t *testing.T, m string, off int64) FileMark {
	t.Helper()
	f, err := os.Open(m)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	mark := FileMark{Dev: dev, Ino: ino, Size: off, FPLen: int(min(fi.Size(), FingerprintLen))}
	fp, ok, err := fingerprintFile(f, mark.FPLen)
	if err != nil || !ok {
		t.Fatalf("head of %s: %v", m, err)
	}
	mark.FP = fp
	return mark
}

// TestCheckpointTakesLaterHandOver: a path resumed from its checkpoint whose file
// another path's stream read on from there and left further on (handed over) in this
// run reads on from that hand-over, as it does when it waits for that stream to leave
// the file (openPath): not again from its checkpoint (the lines between, shipped by the
// other stream, twice).
func TestCheckpointTakesLaterHandOver(t *testing.T) {
	cfg, w := modelConfig(t)
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
	appendFile(t, a, "one\ntwo\n")
	s := openSet(t, cfg)
	ta := openTailer(t, s, a)
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "one\ntwo\n")
	ta.Close()
	s.Close()

	appendFile(t, a, "three\n")
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	s = newSources(t, cfg)
	tb := openTailer(t, s, b) // a.log not followed: b.log's stream reads on from a.log's checkpoint
	wantRead(t, readAll(t, w, acking{tb}, 1<<16), "three\n")
	appendFile(t, c, "c\n")
	mustRename(t, c, b) // b.log's stream leaves the file, lingered on, handed over at its end
	wantRead(t, readAll(t, w, acking{tb}, 1<<16), "c\n")

	ta = openTailer(t, s, a)
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "")
	appendFile(t, a, "four\n")
	w.Tick()
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "four\n")
	wantRead(t, readAll(t, w, acking{tb}, 1<<16), "")

	// A restart resumes each path from its checkpoint: nothing is read again.
	ta.Close()
	tb.Close()
	s.Close()
	appendFile(t, a, "five\n")
	s = newSources(t, cfg)
	ta, tb = openTailer(t, s, a), openTailer(t, s, b)
	wantRead(t, readAll(t, w, acking{ta}, 1<<16), "five\n")
	wantRead(t, readAll(t, w, acking{tb}, 1<<16), "")
	if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
		t.Errorf("lost_bytes %v, want 0", n)
	}
}
