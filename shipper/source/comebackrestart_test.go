package source

import (
	"os"
	"testing"
	"time"
)

// TestTailRestartCheckpointInGenerationThatCameBack: the checkpoint (acknowledged
// position) is inside a generation the tailer left at a rotation by rename, read the
// new file after it (returned, not acknowledged), and the old generation came back to
// the path (blue/green renames: the new file renamed away, the old one renamed back)
// and was written to, the shipper restarted between. The restart reads the old
// generation from the checkpoint only up to where the run before left it, at the
// offsets it had; the file in between again at its offsets; what was appended to the
// old generation after, at the offsets that follow. Before, it read the generation on
// from the checkpoint to its end: its new lines took the offsets of the file in between
// (TestTailModel -model.shrink seed 1501: collectors drop them as duplicates by offset).
func TestTailRestartCheckpointInGenerationThatCameBack(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\na 1\n")
	r.start()
	r.read(true) // acknowledged: the checkpoint
	r.write(a, "a 2\na 3\n")
	r.read(false) // returned, not acknowledged
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\nb 1\n")
	r.readWant(false, "b 0\nb 1\n", "read %q after the rotation, want the new file's lines")
	// The new file renamed away, the old one back.
	r.rename(".2")
	if err := os.Rename(r.path+".1", r.path); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.write(a, "a 4\na 5\n")
	r.drain(8)
	r.check(map[string]int{"a": 6, "b": 2})
}
