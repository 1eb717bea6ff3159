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
