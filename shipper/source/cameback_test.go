package source

import (
	"testing"
	"time"
)

// TestTailCameBackAheadRotatedDrained: the tailer is on a, renamed away (access.log.1)
// while its reader is held, and a look sees b at the path (held ahead). Then a comes
// back to the path (renamed back), b renamed away first (access.log.2), and a's writer
// appends. Followed at the path again, a was read on and never left: b, newer than a
// and seen while a was followed, was never drained, its lines never read (-model.shrink
// -model.oldwriter seed 9097). It is drained in its turn, and a entered again where it
// was left.
func TestTailCameBackAheadRotatedDrained(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	r.tl.lookFor() // b held ahead, the reader held
	if n := r.aheadCount(); n != 1 {
		t.Fatalf("%d generations held ahead, want b", n)
	}
	r.rename(".2")
	mustRename(t, r.path+".1", r.path)
	r.write(a, "a 1\n")
	r.readAll()
	r.write(b, "b 1\n") // b's writer, an old one now
	r.write(a, "a 2\n")
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 2})
}
