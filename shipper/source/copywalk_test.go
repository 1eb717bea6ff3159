package source

import (
	"os"
	"strings"
	"testing"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Regression tests for the walk again after a restart through copytruncate: the copy of
// a generation the run before read, found before the restarted tailer read a byte of it
// again, and a piece of a line sent in copytruncate's window whose rest is gone.

// TestTailRestartCopyOfGenerationNotReadAgain: the run before read a file's new content
// (after a copytruncate whose copy held only bytes read), unacknowledged; the restart
// walks it again at the offsets it had, and before it read a byte of it the file is
// copytruncated again. The copy is that generation: it is drained from its start at the
// same offsets (what collectors have already), then the new lines follow. It was taken
// for a generation new at the next offset, which the offsets used before were skipped
// for: its lines arrived a second time at other offsets (TestTailModel seed 179).
func TestTailRestartCopyOfGenerationNotReadAgain(t *testing.T) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 3))
	first := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(first), lines("a", 1, 3))
	if err := tl.Ack(first[len(first)-1].Pos); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1") // holds only lines read
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("b", 1, 3))
	stamp(t, path, 2)
	second := readChunks(t, w, tl, 64<<10) // read, never acknowledged
	wantRead(t, chunkData(second), lines("b", 1, 3))
	st := newStream(t)
	st.add(first...)
	st.add(second...)

	tl.Close()
	tl = openTailer(t, s, path)
	copyTruncate(t, path, path+".2")
	stamp(t, path+".2", 3)
	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 4)
	cs := readChunks(t, w, tl, 64<<10)
	st.add(cs...) // b at the offsets it had, not at new ones
	wantRead(t, chunkData(cs), lines("b", 1, 3)+lines("c", 1, 2))
	if cs[0].Offset != second[0].Offset {
		t.Errorf("the copy was drained at offset %d, want %d (the offsets its lines had)", cs[0].Offset, second[0].Offset)
	}
	for name, c := range map[string]float64{"lost_bytes_total": testutil.ToFloat64(s.m.LostBytes), "unacked_destroyed_bytes_total": testutil.ToFloat64(s.m.UnackedDestroyed)} {
		if c != 0 {
			t.Errorf("%s %v, want 0 (nothing was destroyed)", name, c)
		}
	}
}

// TestTailRestartFragmentInWindowEnds: in copytruncate's window (after the copy) the
// writer appends a line longer than the chunk bound and the tailer sends its first piece;
// the truncation destroys the rest, and the shipper stops. The restart drains the copy
// from the checkpoint, then goes on after the offsets the run before used: the line sent
// in part ends there ('\n' alone, the last piece), and the file's new first line follows
// it. That line was never terminated: collectors joined its piece to the new first line
// (a line never written; TestTailModel seed 1796087984055172505). A restart from the
// position right after the '\n' names the new content, not any file given its inode.
//
// With a run in between that returns nothing (opened and closed; idle-run): its stop
// checkpoint said Reach at the checkpoint and no line in progress, so the run after it,
// which knew the offsets used from the record of generations, went on after them with
// the next generation's first line, which collectors joined to the piece (a line never
// written). The stop checkpoint of a run that does not return bytes as far as the run
// before keeps that run's Reach and ReachInLine.
func TestTailRestartFragmentInWindowEnds(t *testing.T) {
	t.Run("restart", func(t *testing.T) { testTailRestartFragmentInWindowEnds(t, false) })
	t.Run("idle-run", func(t *testing.T) { testTailRestartFragmentInWindowEnds(t, true) })
}

func testTailRestartFragmentInWindowEnds(t *testing.T, idleRun bool) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 3))
	first := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(first), lines("a", 1, 3))
	if err := tl.Ack(first[len(first)-1].Pos); err != nil {
		t.Fatal(err)
	}
	copyOnly(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, "w-"+strings.Repeat("x", 200)+"\n")
	stamp(t, path, 1)
	piece := next(t, tl, 40) // sent, never acknowledged
	if string(piece.Data) != "w-"+strings.Repeat("x", 38) || piece.Flags&envelope.FlagFragment == 0 {
		t.Fatalf("read %q (flags %v), want the line's first 40 bytes as a piece", piece.Data, piece.Flags)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 2)
	if idleRun {
		tl = openTailer(t, s, path) // a run that returns nothing
		tl.Close()
	}

	tl = openTailer(t, s, path)
	cs := readChunks(t, w, tl, 64<<10)
	if len(cs) == 0 || cs[0].Offset != piece.End() || string(cs[0].Data) != "\n" || cs[0].Flags&(envelope.FlagFragment|envelope.FlagLast) != envelope.FlagFragment|envelope.FlagLast {
		t.Fatalf("after the restart the first chunk is %+v, want the piece's line ended at %d ('\\n' alone, its last piece)", cs[0], piece.End())
	}
	wantRead(t, chunkData(cs[1:]), lines("c", 1, 2))
	if cs[1].Offset != piece.End()+1 {
		t.Errorf("the new lines begin at %d, want %d (after the '\\n')", cs[1].Offset, piece.End()+1)
	}
	if n := testutil.ToFloat64(s.m.UnackedDestroyed); n != 40 {
		t.Errorf("unacked_destroyed_bytes_total %v, want 40 (the piece sent, its file gone)", n)
	}

	// The position after the '\n' names the new content (its head), not only the inode.
	if p := cs[0].Pos; p.FPLen == 0 || p.FileOffset != 0 {
		t.Errorf("the position after the '\\n' names file offset %d with a head of %d bytes, want 0 with the file's head", p.FileOffset, p.FPLen)
	}
	// Restarted again from the same checkpoint (nothing more acknowledged), the tailer
	// walks the same way: the new lines at the offsets they had, after the '\n'.
	tl.Close()
	tl = openTailer(t, s, path)
	again := readChunks(t, w, tl, 64<<10)
	st := newStream(t)
	st.add(first...)
	st.add(piece)
	st.add(cs...)
	st.add(again...)
	if got := chunkData(again); !strings.HasSuffix(got, lines("c", 1, 2)) {
		t.Fatalf("after the second restart read %q, want the new lines", got)
	}
	if last := again[len(again)-1]; last.End() != cs[len(cs)-1].End() {
		t.Errorf("after the second restart the new lines end at %d, want %d (the offsets they had)", last.End(), cs[len(cs)-1].End())
	}
}
