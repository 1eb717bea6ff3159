package source

import (
	"testing"
	"time"
)

// TestTailRestartGoneWalkLeavesWhereLeft: the checkpoint is inside a; the run before
// read a to its end and b after it, left b (renamed away, its writer kept: an Apache graceful
// restart's old children) for c at the path and read c, none of it acknowledged. b's old
// writer appends, and a is deleted, while the shipper is down. The walk from the gone
// checkpoint enters b at the offsets it had: it must read b only up to where the run
// before left it, then c at its offsets, then what b grew by after them. It read b to
// its end, b's new line at the offsets c's line had (-model.shrink -model.oldwriter
// seed 9341: offsets reused, collectors drop the line as a resend).
func TestTailRestartGoneWalkLeavesWhereLeft(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\na 1\n")
	r.start()
	c1 := next(t, r.tl, 4) // "a 0\n"
	r.stream.add(t, []Chunk{c1})
	if err := r.tl.Ack(c1.Pos); err != nil { // the checkpoint inside a
		t.Fatal(err)
	}
	r.readHold("a 1\n")
	r.rename(".1")
	a.Close()
	b := r.create()
	r.write(b, "b 0\n")
	r.readHold("b 0\n")
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	r.readHold("c 0\n")
	r.write(b, "b 1\n")
	mustRemove(t, r.path+".1")
	r.restart()
	r.readAll()
	r.write(c, "c 1\n")
	r.write(b, "b 2\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 3, "c": 2})
}
