package source

import (
	"os"
	"testing"
	"time"
)

// TestTailLingeringTakesTurnsWhilePathGone: a and b (access.log.1, access.log.2) linger
// with their old writers; c, at the path, was read and then deleted. a grows and is read
// on (c parked); then b grows. With the path gone, a (renamed away, no newer file with
// data) was followed on as if the writer might still use it, and c parked and b never
// entered again: b's lines were never read (-model.oldwriter seeds 5, 75, 122: lines
// missing at the end, never destroyed). A lingering generation read on goes back to the
// one parked for it at its end, so that the others take their turns.
func TestTailLingeringTakesTurnsWhilePathGone(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readAll()
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	r.readAll() // b lingers, c followed
	c.Close()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.readAll()
	r.write(a, "a 1\n")
	r.readAll()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}

// TestTailRestartInLingeringReadOnAgain: access.log.1 (a) lingers and is read on twice
// from where it was left, the generation at the path (b) parked each time with nothing
// new, so that both of a's reads have the same base; the checkpoint saved last is inside
// the second one ('a 2' acknowledged, 'a 3' and b entered again after it not saved yet:
// --checkpoint-interval, a kill). The restart took the checkpoint for the end of a
// generation left (the first read's end is before it) and read a on from where the
// first read left it, past a jump: 'a 2' sent twice (-model.oldwriter seed 58). It
// resumes inside the second read, at the offsets it had.
func TestTailRestartInLingeringReadOnAgain(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(a, "a 1\n")
	r.readWant(true, "a 1\n", "read %q, want a's line appended")
	r.readAll() // acknowledged: back to b, nothing new there
	r.write(a, "a 2\na 3\n")
	c := next(t, r.tl, 4) // 'a 2' only
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "a 2\n" {
		t.Fatalf("read %q, want 'a 2'", c.Data)
	}
	r.readAll()                             // 'a 3', then back to b
	if err := r.tl.Ack(c.Pos); err != nil { // the checkpoint saved last: after 'a 2'
		t.Fatal(err)
	}
	r.restart()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 4, "b": 2})
}
