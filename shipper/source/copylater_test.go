package source

import (
	"os"
	"testing"
	"time"
)

// TestTailRestartCopyOfLaterContent: the checkpoint is after a's first lines (a 0 to a
// 2); the run before read a 3 and a 4 past it, saw the file shrunk to those first lines
// (truncate -s N) and written (a 5), read it again from its start at the next offsets
// (a generation of its own in the record), then saw it copytruncated (access.log.1 holds
// a 0 to a 2 and a 5) and read the new content. At the restart the checkpointed file
// holds another content; the copy starts with the checkpoint's head and holds its
// offset, but it is the copy of the content read again later, not of the one the
// checkpoint is in: drained from the checkpoint at its offsets, a 5 took the offsets a
// 3 had (-model.shrink -model.oldwriter seed 9313: offsets reused). The walk takes it
// for the later generation, at the offsets that one had.
func TestTailRestartCopyOfLaterContent(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	first := "a 0\na 1\na 2\n"
	r.write(f, first)
	r.start()
	r.readAll() // the checkpoint after a 2
	r.write(f, "a 3\na 4\n")
	r.readHold("a 3\na 4\n")
	if err := os.Truncate(r.path, int64(len(first))); err != nil {
		t.Fatal(err)
	}
	r.write(f, "a 5\n")
	r.readHold(first + "a 5\n") // read again from its start
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, "b 0\n")
	r.w.Tick()
	r.readHold("b 0\n")
	r.restart()
	r.readAll()
	r.write(f, "b 1\n")
	r.readAll()
	r.checkRereadCounted("a 0", "a 1", "a 2", "a 3", "a 4", "a 5", "b 0", "b 1")
}
