package source

import (
	"testing"
	"time"
)

// TestTailRestartLeaveAtForgottenOnTruncation: a restart resumes in a generation the run
// before left further on (at the end of "old 2", for the new file) and went on with
// others: it is to be read up to there only (leaveWhereLeft). Before the tailer reads a
// byte of it, the file is truncated and written again with a line longer than that
// offset. Where the run before left the old content says nothing of the new one: the
// tailer kept it, read the new content up to there, inside its line, and waited for
// ever for that line to end (-model.shrink -model.oldwriter seed 9249: a hang). The
// new content is read whole.
func TestTailRestartLeaveAtForgottenOnTruncation(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	old := r.create()
	r.write(old, "old 0\nold 1\nold 2\n")
	r.start()
	c1 := next(t, r.tl, 6) // "old 0\n"
	c2 := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c1, c2})
	if err := r.tl.Ack(c1.Pos); err != nil { // the checkpoint inside the old generation
		t.Fatal(err)
	}
	r.rename(".1")
	live := r.create()
	r.write(live, "new 0\n")
	r.readWant(false, "new 0\n", "first run read %q after the rotation, want the new file's line")
	// The old generation comes back to the path (renamed back over the new file), and
	// the shipper restarts: resumed at its checkpoint, at the path.
	mustRename(t, r.path+".1", r.path)
	r.restart()
	if err := old.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(old, "fresh 0 with a line longer than the old content\n")
	r.readAll()
	r.write(old, "fresh 1\n")
	r.readAll()
	got := map[string]int{}
	for _, l := range r.stream.lines() {
		got[l]++
	}
	for _, l := range []string{"old 0", "new 0", "fresh 0 with a line longer than the old content", "fresh 1"} {
		if got[l] != 1 {
			t.Errorf("line %q arrived %d times, want once (stream %q)", l, got[l], r.stream.lines())
		}
	}
}
