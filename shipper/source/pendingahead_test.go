package source

import (
	"testing"
	"time"
)

// TestTailDeletedPendingNotLeftForOlderGrown: while the tailer is behind on a (renamed
// away), b, c and d are seen at the path by looks (held ahead) in turn: b rotated
// (access.log.2) with its writer kept (an Apache graceful restart's old children), c
// rotated after it (access.log.3), d written part of a line and deleted, its writer
// still holding it. b's old writer appends: b is the newest by its time, though it was
// created before c and d. The tailer drains a, c, then d, and at d's end, its line
// half written, took b for a newer generation (held ahead with data, or rotated and
// newer by its time: its writer moved on from d) and left d, its line cut ('\n'
// appended) and its rest read as another line (-model.shrink -model.oldwriter seed
// 9115). A generation born before the followed one says nothing of its writer: d is
// left only once its line is ended.
func TestTailDeletedPendingNotLeftForOlderGrown(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "b seen ahead first"
		if late {
			name = "b held ahead after d"
		}
		t.Run(name, func(t *testing.T) { testTailDeletedPendingNotLeftForOlderGrown(t, late) })
	}
}

// testTailDeletedPendingNotLeftForOlderGrown is its body; with late, b is rotated
// before any look saw it, empty, and held ahead only once its old writer gave it data,
// by a look after d's (the rotated names listed for a creation of the path that events
// reported): the order of the looks then says b came after d, its birth says before.
func testTailDeletedPendingNotLeftForOlderGrown(t *testing.T, late bool) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	a.Close()
	b := r.create()
	if !late {
		r.write(b, "b 0\n")
		r.tl.lookFor() // b held ahead
	}
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	r.tl.lookFor()
	r.rename(".3")
	c.Close()
	d := r.create()
	r.write(d, "d 0 half")
	r.tl.lookFor() // d held ahead
	if late {
		r.write(b, "b 0\n")
		// The creations of b, c and d as events report them (this rig polls): one
		// owed, not matched by a file seen at the path, the rotated names are listed.
		r.tl.creates.Add(3)
		r.tl.lookFor()
	}
	if n := r.aheadCount(); n != 3 {
		t.Fatalf("%d generations held ahead, want b, c and d", n)
	}
	stamp(t, r.path+".1", -10)
	stamp(t, r.path+".3", -8)
	stamp(t, r.path, -7)
	mustRemove(t, r.path)
	r.write(b, "b 1\n") // b's old writer: b the newest by its time
	stamp(t, r.path+".2", -6)
	r.readAll()
	r.write(d, " written\n")
	r.readAll()
	r.write(b, "b 2\n")
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 3, "c": 1, "d": 1})
}
