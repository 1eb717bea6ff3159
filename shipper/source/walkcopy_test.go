package source

import (
	"testing"
	"time"
)

// TestTailRestartWalkEntersCopyOfRecorded: the checkpoint is inside a (access.log.1 by
// the restart), which the run before left further on for b at the path, whose lines it
// read without an acknowledgement. While the shipper is down b is written to and
// copytruncated (access.log.2 holds its lines, the path new content), and a's old
// writer appends to it after the copy, so a is newer by its time than the copy. The
// walk from the checkpoint reads a up to where it was left, and must enter b's content
// next, at the offsets it had: in its copy, since the file is truncated. Older by its
// time than a, the copy was passed over, b taken for destroyed, and the line written to
// it after the run before read it (b 1) never read (-model.shrink -model.oldwriter seed
// 9179 -model.ops 150).
func TestTailRestartWalkEntersCopyOfRecorded(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\na 1\n")
	stamp(t, r.path, -10)
	r.start()
	c1 := next(t, r.tl, 4) // "a 0\n"
	c2 := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c1, c2})
	if err := r.tl.Ack(c1.Pos); err != nil { // the checkpoint inside a
		t.Fatal(err)
	}
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	stamp(t, r.path, -9)
	r.readWant(false, "b 0\n", "first run read %q after the rotation, want b's line")
	r.tl.Close()
	r.write(b, "b 1\n")
	r.copyTruncate(".2", -8)
	r.write(a, "a 2\n")
	stamp(t, r.path+".1", -7)
	r.write(b, "c 0\n")
	stamp(t, r.path, -6)
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 2, "c": 1})
}
