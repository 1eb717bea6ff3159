package source

import (
	"os"
	"testing"
	"time"
)

// TestTailRestartAfterShrunkSkip: a run resumed at a checkpoint inside a file that was
// truncated to a smaller size (truncate -s N) past the checkpoint since the run before
// read it; it read what the file still holds at the offsets it had, then moved on past
// the offsets the old content used (skipOld: the record of generations says the file
// goes on at file offset N past them, an entry entered past its start), and its last
// chunk was acknowledged. The next restart reads the lines appended since after those
// offsets. Before, it took that entry for the file truncated and written again after
// the checkpoint (genLog.replacedAfter) and read the file again from its start at the
// entry's offsets, the old content's: collectors dropped the new lines as duplicates
// by offset (TestTailModel -model.shrink seed 1279).
func TestTailRestartAfterShrunkSkip(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll() // acknowledged: the checkpoint, at a's end
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\nb 1\nb 2\nb 3\nb 4\nb 5\n")
	r.readWant(false, "b 0\nb 1\nb 2\nb 3\nb 4\nb 5\n", "read %q after the rotation, want the new file's lines")
	r.restart()
	if err := os.Truncate(r.path, int64(len("b 0\nb 1\nb 2\n"))); err != nil {
		t.Fatal(err)
	}
	// Walked again from the checkpoint: b's lines kept, at the offsets they had.
	r.readWant(true, "b 0\nb 1\nb 2\n", "read %q after the shrink, want the lines it keeps")
	r.restart()
	r.write(b, "b 6\nb 7\n")
	r.drain(8)
	r.check(map[string]int{"a": 1, "b": 8})
}
