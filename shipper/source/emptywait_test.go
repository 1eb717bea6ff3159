package source

import (
	"os"
	"testing"
	"time"
)

// emptyPassedOver leaves r's tailer past an empty rotated generation: a (access.log.2
// in the end) is read, b created after it and rotated (access.log.1) before its writer
// wrote a line (an Apache graceful restart's old children, idle until then), c written
// at the path. Leaving a, the tailer passes over b, empty, for c, and reads c. It returns
// b's and c's writers.
func emptyPassedOver(r *restartRig) (b, c *os.File) {
	r.t.Helper()
	r.write(r.create(), "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b = r.create()
	mustRename(r.t, r.path+".1", r.path+".2")
	r.rename(".1")
	c = r.create()
	r.write(c, "c 0\n")
	// Times in rotation order, apart whatever the clock's granularity.
	now := time.Now()
	for name, in := range map[string]time.Duration{r.path + ".2": time.Second, r.path + ".1": 2 * time.Second, r.path: 3 * time.Second} {
		if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
			r.t.Fatal(err)
		}
	}
	r.readWant(true, "c 0\n", "read %q, want c's line (a left, b passed over)")
	return b, c
}

// TestTailEmptyRotatedWrittenLater: b, passed over empty for c, is written to by its
// writer afterwards, within RotateWait. It was never looked at again: its lines were
// never read (-model.oldwriter seeds 50, 297). It lingers as a generation left at its
// start, read once it grows.
func TestTailEmptyRotatedWrittenLater(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	b, c := emptyPassedOver(r)
	r.write(b, "b 0\n")
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(c, "c 1\n")
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 2, "c": 2})
}

// TestTailEmptyRotatedWrittenAfterRestart: as TestTailEmptyRotatedWrittenLater, the
// shipper restarted (its checkpoint in c, b behind it) before b's writer writes, once
// while it is down, once after. Nothing but the record of generations says b is
// lingered on: without it the next run never looked at b (-model.oldwriter seed 297).
func TestTailEmptyRotatedWrittenAfterRestart(t *testing.T) {
	for _, down := range []bool{false, true} {
		name := "written after the start"
		if down {
			name = "written while down"
		}
		t.Run(name, func(t *testing.T) {
			r := newRestartRig(t, time.Hour)
			b, c := emptyPassedOver(r)
			r.tl.Close()
			if down {
				r.write(b, "b 0\n")
			}
			r.start()
			if !down {
				r.readAll()
				r.write(b, "b 0\n")
			}
			r.readWant(true, "b 0\n", "read %q, want b's line")
			r.write(c, "c 1\n")
			r.write(b, "b 1\n")
			r.readAll()
			r.restart() // b read on now: not read again from its start
			r.write(b, "b 2\n")
			r.readAll()
			r.check(map[string]int{"a": 1, "b": 3, "c": 2})
		})
	}
}

// TestTailEmptyRotatedWaitForgotten: an empty generation passed over and left once
// RotateWait passed without growth is forgotten by the record: a restart does not follow
// it again.
func TestTailEmptyRotatedWaitForgotten(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	emptyPassedOver(r)
	if got := len(r.tl.gens.waiting()); got != 1 {
		t.Fatalf("%d empty generations recorded as lingered on, want 1", got)
	}
	r.tl.mu.Lock()
	for i := range r.tl.linger {
		r.tl.linger[i].till = time.Time{}
	}
	r.tl.unlockLooks()
	r.w.Tick()
	r.readAll()
	if got := r.lingering(); got != 0 {
		t.Fatalf("%d generations lingered on after RotateWait, want 0", got)
	}
	r.restart()
	if got := r.lingering(); got != 0 {
		t.Fatalf("%d generations lingered on after the restart, want 0", got)
	}
}

// TestTailEmptyAheadRotatedWrittenLater: b, created at the path while a was read (seen
// ahead: a's writer, an old one, kept it from being left while b was empty), is rotated
// (access.log.1) before its writer wrote a line, and a left for c. Held ahead, b was
// never taken for an empty generation to linger on: its lines were never read.
func TestTailEmptyAheadRotatedWrittenLater(t *testing.T) {
	testTailEmptyAheadRotated(t, false)
}

// TestTailEmptyAheadRotatedWrittenAfterRestart: as TestTailEmptyAheadRotatedWrittenLater,
// b written after a restart (its checkpoint in c).
func TestTailEmptyAheadRotatedWrittenAfterRestart(t *testing.T) {
	testTailEmptyAheadRotated(t, true)
}

func testTailEmptyAheadRotated(t *testing.T, restart bool) {
	r := newRestartRig(t, time.Hour)
	r.write(r.create(), "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.readAll() // b seen ahead, empty: a not left
	mustRename(t, r.path+".1", r.path+".2")
	r.rename(".1")
	c := r.create()
	r.write(c, "c 0\n")
	r.readWant(true, "c 0\n", "read %q, want c's line (a left)")
	if restart {
		r.restart()
	}
	r.write(b, "b 0\n")
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(c, "c 1\n")
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 1, "c": 2})
}

// TestTailEmptyFollowedRotatedWrittenAfterRestart: b, followed at the path while empty
// (the tailer started on it), is rotated (access.log.1) and left for c before its
// writer wrote a line: it lingers, left at its start. The record says where a generation
// was left only once bytes of it were read (genEntry.Left): without a wait of its own,
// the run after a restart never looked at b again, and what its writer wrote was lost.
func TestTailEmptyFollowedRotatedWrittenAfterRestart(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	b := r.create()
	r.start()
	r.readAll() // b followed, empty
	r.rename(".1")
	c := r.create()
	r.write(c, "c 0\n")
	r.readWant(true, "c 0\n", "read %q, want c's line (b left)")
	if got := r.lingering(); got != 1 {
		t.Fatalf("%d generations lingered on, want b", got)
	}
	r.restart()
	r.write(b, "b 0\n")
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(c, "c 1\n")
	r.readAll()
	r.check(map[string]int{"b": 1, "c": 2})
}
