package source

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	r.shrink("b 0\nb 1\nb 2\n")
	// Walked again from the checkpoint: b's lines kept, at the offsets they had.
	r.readWant(true, "b 0\nb 1\nb 2\n", "read %q after the shrink, want the lines it keeps")
	r.restart()
	r.write(b, "b 6\nb 7\n")
	r.drain(8)
	r.check(map[string]int{"a": 1, "b": 8})
}

// stampedRotation writes a's lines at the path (stamped second 0), starts and reads all
// of it (acknowledged), renames it to .1 and writes b's lines to a new file at the path
// (stamped second 1), not read.
func (r *restartRig) stampedRotation(a, b string) (af, bf *os.File) {
	r.t.Helper()
	af = r.create()
	r.write(af, a)
	stamp(r.t, r.path, 0)
	r.start()
	r.readAll()
	r.rename(".1")
	bf = r.create()
	r.write(bf, b)
	stamp(r.t, r.path, 1)
	return af, bf
}

// shrink truncates the file at the path to the size of keep (truncate -s N).
func (r *restartRig) shrink(keep string) {
	r.t.Helper()
	if err := os.Truncate(r.path, int64(len(keep))); err != nil {
		r.t.Fatal(err)
	}
}

// copyTruncate copies the file at the path to the path with suffix, stamped second sec,
// and truncates it (logrotate's copytruncate).
func (r *restartRig) copyTruncate(suffix string, sec int) {
	r.t.Helper()
	copyTruncate(r.t, r.path, r.path+suffix)
	stamp(r.t, r.path+suffix, sec)
}

// checkRereadCounted fails unless every line that arrived more than once (at other
// offsets: r.stream rebuilds the stream by offset) is counted in
// file_reread_bytes_total, and unless every line of want arrived.
func (r *restartRig) checkRereadCounted(want ...string) {
	r.t.Helper()
	seen := map[string]int{}
	dup := 0
	for _, l := range r.stream.lines() {
		if seen[l]++; seen[l] > 1 {
			dup += len(l) + 1
		}
	}
	for _, l := range want {
		if seen[l] == 0 {
			r.t.Errorf("line %q never arrived (stream %q)", l, r.stream.lines())
		}
	}
	if got := testutil.ToFloat64(r.s.m.RereadBytes); float64(dup) > got {
		r.t.Errorf("%d bytes of lines arrived twice, but file_reread_bytes_total is %v (stream %q)", dup, got, r.stream.lines())
	}
}

// TestTailRestartShrunkGenerationReadAgainCounted: the generation the run before read
// past the checkpoint (returned, not acknowledged) was truncated to a smaller size
// (truncate -s N at a line end) while the shipper was down, and then copied by
// copytruncate (written between: the copy holds other bytes after the lines kept), or
// rotated by rename (the inode held another content before: truncated and written
// again, a generation of its own in the record). The walk from the checkpoint takes
// it for a generation destroyed since and reads it again from its start past the
// offsets used (LossGap): the lines kept arrive twice, and are counted in
// file_reread_bytes_total. They were not (TestTailModel -model.shrink seeds 1030,
// 1170, 1817, 1952, 1980).
func TestTailRestartShrunkGenerationReadAgainCounted(t *testing.T) {
	t.Run("copied", func(t *testing.T) {
		r := newRestartRig(t, time.Hour)
		_, b := r.stampedRotation("a 0\n", "b 0\nb 1\nb 2\nb 3\nb 4\nb 5\n")
		r.read(false)
		r.tl.Close()
		// While down: shrunk to its first three lines, written, copytruncated.
		r.shrink("b 0\nb 1\nb 2\n")
		r.write(b, "b 6\n")
		stamp(t, r.path, 2)
		r.copyTruncate(".2", 2)
		r.write(b, "b 7\n")
		stamp(t, r.path, 3)
		r.start()
		r.drain(8)
		r.checkRereadCounted("b 6", "b 7")
	})
	t.Run("checkpointed, copied", func(t *testing.T) {
		// The checkpoint at the file's end (all acknowledged): the file at the path is
		// the checkpointed one, truncated by copytruncate and written since.
		r := newRestartRig(t, time.Hour)
		b := r.create()
		r.write(b, "b 0\nb 1\nb 2\nb 3\n")
		stamp(t, r.path, 0)
		r.start()
		r.readAll()
		r.tl.Close()
		r.shrink("b 0\n")
		r.write(b, "b 4\n")
		stamp(t, r.path, 1)
		r.copyTruncate(".1", 1)
		r.write(b, "b 5\n")
		stamp(t, r.path, 2)
		r.start()
		r.drain(8)
		r.checkRereadCounted("b 4", "b 5")
	})
	t.Run("rewritten then renamed", func(t *testing.T) {
		r := newRestartRig(t, time.Hour)
		_, b := r.stampedRotation("a 0\n", "b 0\nb 1\n")
		r.read(false)
		if err := b.Truncate(0); err != nil {
			t.Fatal(err)
		}
		r.write(b, "c 0\nc 1\nc 2\nc 3\nc 4\nc 5\n")
		stamp(t, r.path, 2)
		r.read(false)
		r.tl.Close()
		// While down: shrunk to its first three lines, rotated.
		r.shrink("c 0\nc 1\nc 2\n")
		stamp(t, r.path, 3)
		r.rename(".2")
		r.write(r.create(), "d 0\n")
		stamp(t, r.path, 4)
		r.start()
		r.drain(8)
		r.checkRereadCounted("c 2", "d 0")
	})
}

// TestTailLingeringShrunkCopiedRereadCounted: a generation the tailer left for a newer
// one and lingers on (rotate_wait) came back to the path, was truncated to a smaller
// size (truncate -s N at a line end), written, then copied by copytruncate and
// truncated, before the tailer looked, or with a look between (after the write: it left
// the generation for having shrunk): the copy holds the lines kept, read before, then
// the new one. It is read from its start (as findShrunkCopy's copy of the followed
// file is), the lines kept arriving twice: they are counted in
// file_reread_bytes_total. They were not (TestTailModel -model.shrink seed 1980).
func TestTailLingeringShrunkCopiedRereadCounted(t *testing.T) {
	for _, look := range []bool{false, true} {
		t.Run(fmt.Sprintf("look between %v", look), func(t *testing.T) {
			r := newRestartRig(t, time.Hour)
			a, _ := r.stampedRotation("a 0\na 1\na 2\na 3\na 4\na 5\n", "b 0\n")
			r.readAll() // a lingers
			// a comes back to the path, b renamed away; a is shrunk, written, copytruncated.
			r.rename(".2")
			if err := os.Rename(r.path+".1", r.path); err != nil {
				t.Fatal(err)
			}
			r.shrink("a 0\na 1\n")
			r.write(a, "a 6\n")
			stamp(t, r.path, 2)
			if look {
				r.drain(8)
			}
			r.copyTruncate(".3", 3)
			stamp(t, r.path, 3)
			r.drain(8)
			r.checkRereadCounted("a 6")
		})
	}
	// Not back at the path: shrunk and written by its old writer under its rotated
	// name, copied (copytruncate of that name); the tailer sees the shrink first (at
	// the followed file's end), the copy once the followed file is rotated.
	t.Run("renamed", func(t *testing.T) {
		r := newRestartRig(t, time.Hour)
		a, b := r.stampedRotation("a 0\na 1\na 2\na 3\na 4\na 5\n", "b 0\n")
		r.readAll() // a lingers
		if err := os.Truncate(r.path+".1", int64(len("a 0\na 1\n"))); err != nil {
			t.Fatal(err)
		}
		r.write(a, "a 6\n")
		copyTruncate(t, r.path+".1", r.path+".2")
		stamp(t, r.path+".1", 2)
		stamp(t, r.path+".2", 2)
		r.write(b, "b 1\n")
		stamp(t, r.path, 3)
		r.drain(8)
		r.rename(".3")
		r.write(r.create(), "c 0\n")
		stamp(t, r.path, 4)
		r.drain(8)
		r.checkRereadCounted("a 6", "b 1", "c 0")
	})
}

// TestTailRestartShrunkCheckpointedCameBackCounted: the checkpointed file a (read whole
// and acknowledged, then renamed away for b, read and not acknowledged) came back to the
// path and was truncated to its first line (truncate -s N) while the shipper was down.
// The run before went on to b after it: a is walked as gone, b drained at its offsets,
// then a read from its start at the next ones, its kept line a second time: counted in
// file_reread_bytes_total. It was not (-model.shrink -model.oldwriter seed 9109).
func TestTailRestartShrunkCheckpointedCameBackCounted(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\na 1\n")
	stamp(t, r.path, 0)
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	stamp(t, r.path, 1)
	r.readWant(false, "b 0\n", "read %q, want b")
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	r.rename(".2")
	mustRename(t, r.path+".1", r.path)
	r.shrink("a 0\n")
	r.start()
	r.readAll()
	r.checkRereadCounted("a 0", "b 0")
}
