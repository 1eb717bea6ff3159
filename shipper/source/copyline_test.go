package source

import (
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailCheckpointInCopyNamesItsLastLine: a checkpoint taken while a copytruncate copy
// is drained names the copy's last line read before its offset (Checkpoint.LastLen,
// LastCRC), not a line of the content the live file held at that offset before it was
// truncated. Here the file is truncated and written again while the tailer does not
// look, then copytruncated: the copy (content never seen) is drained first, and its
// lines end where the old content's did (lines of one length). The checkpoint at the
// copy's end named the old content's line there, so a restart from it found the copy
// "rewritten", counted the live file's lines lost and sent them again after a LossGap
// jump (TestTailModel: "line shipped twice", seed 1796079250463264338).
func TestTailCheckpointInCopyNamesItsLastLine(t *testing.T) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 10))
	wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 10))

	if err := os.Truncate(path, 0); err != nil { // a1-10 read: nothing lost
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 10))
	stamp(t, path, 1)
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 2)
	appendFile(t, path, lines("c", 1, 5))
	stamp(t, path, 3)
	cs := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(cs), lines("b", 1, 10)+lines("c", 1, 5))

	ci, err := os.Stat(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(ci)
	var end *Chunk
	for i := range cs {
		if p := &cs[i].Pos; p.Dev == dev && p.Ino == ino && p.FileOffset == ci.Size() {
			end = &cs[i]
		}
	}
	if end == nil {
		t.Fatal("no chunk ends at the copy's end")
	}
	f, err := os.Open(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if end.Pos.LastLen == 0 {
		t.Errorf("the checkpoint at the copy's end names no last line")
	} else if !end.Pos.holdsLast(f) {
		t.Errorf("the checkpoint at the copy's end names a last line of %d bytes the copy does not hold there (the truncated content's)", end.Pos.LastLen)
	}

	// A restart from it reads the live file again at the offsets it had.
	if err := tl.Ack(end.Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	tl = openTailer(t, s, path)
	cs = readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(cs), lines("c", 1, 5))
	if cs[0].Offset != end.Pos.Offset {
		t.Errorf("after the restart the live file was read at offset %d, want %d (right after the copy)", cs[0].Offset, end.Pos.Offset)
	}
	if n := testutil.ToFloat64(s.m.StreamJumps); n != 0 {
		t.Errorf("stream_jumps_total %v, want 0", n)
	}
	if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
		t.Errorf("lost_bytes_total %v, want 0", n)
	}
}
