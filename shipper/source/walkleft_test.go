package source

import (
	"testing"
	"time"
)

// TestTailRestartWalkPastWindowStopsWhereLeft: a file copytruncated with a line written
// in the window (read from the file, not acknowledged) is read on from its start after
// the truncation, at the offsets after that line, to its end at the path, and left there
// for what an old writer appended to the generation before it (a lingering one, read at
// the next offsets once acknowledged). The shipper is killed before that acknowledgement
// is saved, the file grows and is copytruncated again while it is down. The walk from
// the checkpoint (in the first copy) enters the second copy at its start: the record
// says its byte 0 was sent past the window line's offsets (gone: skipped), and the
// copy must be read only up to where the run before left the file. Read on past there,
// its new line took the offsets of the lingering generation's line the run before sent
// after it, and collectors dropped it as a duplicate (-model.oldwriter seed 484, every
// run since ecf49c8: "offsets reused"). Its new line comes after those offsets.
func TestTailRestartWalkPastWindowStopsWhereLeft(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, tagged("a", 0, 0))
	r.start()
	r.readAll()
	r.rename(".1") // a's writer keeps its descriptor (an old writer)
	stamp(r.t, r.path+".1", 1)
	b := r.create()
	r.write(b, tagged("b", 0, 4))
	stamp(r.t, r.path, 2)
	r.readAll() // a drained and lingering, b followed; acknowledged

	// copytruncate, a line written in its window: read (not acknowledged), then
	// truncated away; c written to the file truncated.
	copyOnly(t, r.path, r.path+".2")
	stamp(r.t, r.path+".2", 3)
	r.write(b, tagged("w", 0, 0))
	stamp(r.t, r.path, 3)
	r.readWant(false, tagged("w", 0, 0), "read %q in copytruncate's window, want w 0")
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, tagged("c", 0, 2))
	stamp(r.t, r.path, 4)
	r.write(a, tagged("a", 1, 1))
	stamp(r.t, r.path+".1", 5)
	// c is read at the offsets after w's, to its end.
	cs := readChunks(t, r.w, r.tl, 64<<10)
	r.stream.add(t, cs)
	if got := chunkBytes(cs); got != tagged("c", 0, 2) {
		t.Fatalf("read %q after the copytruncate, want c 0-2", got)
	}
	// Acknowledged, but the shipper is killed before that is saved: the checkpoint
	// stays at b's end. Meanwhile the tailer reads a's new line after c's.
	r.tl.noteAck(cs[len(cs)-1].Pos.Offset)
	r.readWant(false, tagged("a", 1, 1), "read %q after c was acknowledged, want a 1")
	r.write(b, tagged("c", 3, 3))
	r.kill()
	// Rotated again while the shipper is down (copytruncate): the walk from the
	// checkpoint drains b's copy, then c's, entered at its start.
	copyTruncate(t, r.path, r.path+".3")
	stamp(r.t, r.path+".3", 6)
	stamp(r.t, r.path, 7)
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 5, "c": 4, "w": 1})
}
