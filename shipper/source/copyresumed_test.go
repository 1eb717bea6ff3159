package source

import (
	"os"
	"testing"
	"time"
)

// A copytruncate whose copy holds only bytes read already (its window's line read from
// the file before the truncation) of the generation the tailer resumed at its checkpoint
// is recorded like one of a generation entered in the same run: a later restart, the
// file renamed away while the shipper was down, does not take the copy (born after the
// file, older by its time, and not told by the generation's recorded head, part of a
// line) for a generation not read yet and ship its lines again (TestTailModel seed
// 1796227312293442722).
func TestReadCopyOfResumedGeneration(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	defer a.Close()
	r.write(a, "a 0") // the head recorded is part of a line: no copy is told by it
	r.start()
	r.readAll()
	r.restart() // a is now the generation resumed at its checkpoint

	r.write(a, "\na 1\n")
	copyOnly(t, r.path, r.path+".1")
	stamp(t, r.path+".1", -10)
	r.write(a, "a 2\n") // in copytruncate's window
	r.readAll()
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	r.write(a, "b 0\n")
	r.readAll() // the truncation told; access.log.1 holds only bytes read

	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	r.rename(".2")
	c := r.create()
	defer c.Close()
	r.write(c, "c 0\n")
	r.start()
	r.readAll()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 1, "c": 1})
}
