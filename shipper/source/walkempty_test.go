package source

import (
	"testing"
	"time"
)

// TestTailRestartWalkLingersEmptyRotated: a restart whose checkpoint is at the end of a
// generation left there (a, acknowledged; b read after it, not acknowledged, deleted
// since) walks the generations that followed with no file followed (the history taken
// at the checkpoint's time). c, created at the path after it and rotated (access.log.1)
// before its writer wrote a line (an Apache graceful restart's old children), is empty:
// passed over by the walk, and never looked at again once the walk reached d at the
// path, what its writer wrote afterwards was never read (-model.shrink
// -model.oldwriter seed 9248). It lingers as an empty rotated generation does when a
// generation is left (lingerEmpty).
func TestTailRestartWalkLingersEmptyRotated(t *testing.T) {
	for _, down := range []bool{false, true} {
		name := "written after the start"
		if down {
			name = "written while down"
		}
		t.Run(name, func(t *testing.T) {
			r := newRestartRig(t, time.Hour)
			a := r.create()
			r.write(a, "a 0\n")
			stamp(t, r.path, -10)
			r.start()
			r.readAll()
			r.rename(".2")
			r.write(r.create(), "b 0\n")
			stamp(t, r.path, -9)
			r.w.Tick()
			r.readHold("b 0\n") // a left at its end, the checkpoint there
			mustRemove(t, r.path)
			c := r.create()
			stamp(t, r.path, -8)
			r.readAll() // b deleted, c empty at the path: b still followed
			r.rename(".1")
			d := r.create()
			r.write(d, "d 0\n")
			stamp(t, r.path, -7)
			r.tl.Close()
			if down {
				r.write(c, "c 0\n")
			}
			r.start()
			r.readAll()
			if !down {
				r.write(c, "c 0\n")
			}
			r.readAll()
			r.write(d, "d 1\n")
			r.write(c, "c 1\n")
			r.readAll()
			r.check(map[string]int{"a": 1, "b": 1, "c": 2, "d": 2})
		})
	}
}

// TestTailRestartGoneWalkLingersEmptyBornAfter: the checkpoint is at the end of a,
// deleted while its old writer still appended to it (followed through the descriptor).
// b, created at the path after a and rotated (access.log.2) before its writer wrote a
// line, was modified before a's last line: taken at the restart for a generation older
// than the checkpoint (the history, by modification time, the checkpoint's MTime), it was
// never lingered on, and what its writer wrote afterwards was never read (-model.shrink
// -model.oldwriter seed 9106). Born after a (statx's btime, the checkpoint's Born), it is
// a generation that followed it whatever its time says.
func TestTailRestartGoneWalkLingersEmptyBornAfter(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	stamp(t, r.path, -5)
	mustRemove(t, r.path+".1")
	r.write(a, "a 1\n") // a's old writer, a deleted: a's time after b's
	r.readAll()
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	r.restart()
	r.readAll()
	r.write(b, "b 0\n")
	r.readAll()
	r.write(c, "c 1\n")
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 2})
}

// TestTailRestartGoneWalkDrainsBornAfter: as TestTailRestartGoneWalkLingersEmptyBornAfter,
// b written at the path before a's last line and rotated before the restart: in the
// history by its time, it was skipped as older than the checkpoint and never read, a
// silent loss. Born after a, it is drained.
func TestTailRestartGoneWalkDrainsBornAfter(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	stamp(t, r.path, -5)
	mustRemove(t, r.path+".1")
	r.write(a, "a 1\n") // a's old writer, a deleted: a's time after b's
	c := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "a 1\n" {
		t.Fatalf("read %q, want a's line appended", c.Data)
	}
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.rename(".2")
	r.write(r.create(), "c 0\n")
	r.restart()
	r.readAll()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}
