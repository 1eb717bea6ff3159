package source

import (
	"os"
	"testing"
)

// TestTailRestartInUnreadCopy: the file is truncated, written, copied (copytruncate)
// and written again in the window before the tailer looks: it drains the copy of what it
// never read first, from the copy's start. A checkpoint in that copy names the copy, and
// a restart from it drains the rest of the copy from there, then the file at the path.
// The copy was followed under the live file's birth time (Checkpoint.Born): the restart
// took the copy for another file given its inode, and no copy of the checkpointed file
// was found either (the generation began at the look after the copy was made): the rest
// of the copy was counted lost, a line never destroyed (the default TestTailModel
// profile's seed 1796180208746641392). On a file system without birth times the
// checkpoint has none, and this passes either way.
func TestTailRestartInUnreadCopy(t *testing.T) {
	a := lines("a", 1, 1)
	s, w, path, tl := modelTailer(t, a)
	wantRead(t, string(next(t, tl, 64<<10).Data), a)

	// Truncated and written, then copied, and written in copytruncate's window.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	b1, b2 := lines("b", 1, 1), lines("b", 2, 2)
	appendFile(t, path, b1+b2)
	stamp(t, path, 1)
	copyOnly(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("w", 1, 1))
	stamp(t, path, 2)

	// The truncation is told, the copy drained from its start: one line of it, acknowledged.
	c := next(t, tl, len(b1))
	wantRead(t, string(c.Data), b1)
	if tl.g.name != path+".1" {
		t.Fatalf("read %s, want the copy", tl.g.name)
	}
	if err := tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	// copytruncate truncates; the writer goes on.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	c1 := lines("c", 1, 1)
	appendFile(t, path, c1)
	stamp(t, path, 3)
	tl.Close()

	tl = openTailer(t, s, path)
	if tl.g.name != path+".1" {
		t.Errorf("resumed in %q, want the copy %q (the checkpoint names it, at file offset %d)", tl.g.name, path+".1", c.Pos.FileOffset)
	}
	// The line written in the window was destroyed before the tailer read it.
	wantRead(t, readAll(t, w, tl, 64<<10), b2+c1)
}
