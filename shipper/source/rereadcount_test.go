package source

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailShrunkCopiedInWindowRereadCounted: a file truncated to a smaller size (truncate
// -s N at a line end), then copied by copytruncate (the copy: those N bytes) and written
// to in copytruncate's window, all before the tailer looked: the copy holds only bytes
// read (never sent again), and the file, still starting with the N bytes kept, is read
// again from its start. Its first N bytes arrive a second time: they are counted in
// file_reread_bytes_total as when no copy was found (TestTailShrunkThenWritten); they
// were not (0: the copy of bytes read turned the count off).
func TestTailShrunkCopiedInWindowRereadCounted(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	first := lines("a", 1, 10)
	appendFile(t, path, first)
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), first)

	keep := int64(len(lines("a", 1, 3)))
	if err := os.Truncate(path, keep); err != nil {
		t.Fatal(err)
	}
	copyOnly(t, path, path+".1")
	window := lines("w", 1, 2)
	appendFile(t, path, window) // in the window, before the tailer looks

	wantRead(t, readOn(t, w, tl, &off), first[:keep]+window)
	if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(keep+int64(len(window))); got != want {
		t.Errorf("reread bytes %v, want %v (the %d bytes kept arrived twice)", got, want, keep)
	}
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}

	// copytruncate's truncation, then new lines: read once.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("n", 1, 2))
	wantRead(t, readOn(t, w, tl, &off), lines("n", 1, 2))
}

// TestTailShrunkAfterRestartRereadCounted: the run before read a file past the checkpoint
// it stopped at (its last lines returned, not acknowledged); the file is truncated to a
// smaller size (truncate -s N), still past the checkpoint, after the restart and before
// the next run read a byte. Shorter than its head, it is read again from its start: the
// lines up to N arrive again, those the run before returned past the checkpoint too, so
// all N bytes are counted in file_reread_bytes_total (only those up to the checkpoint,
// the read offset, were).
func TestTailShrunkAfterRestartRereadCounted(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	acked := lines("a", 1, 6)
	appendFile(t, path, acked)
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := readChunks(t, w, tl, 4096)
	wantRead(t, chunkData(cs), acked)
	if err := tl.Ack(cs[len(cs)-1].Pos); err != nil {
		t.Fatal(err)
	}
	more := lines("a", 7, 13) // the file stays shorter than its head (1 KiB)
	appendFile(t, path, more)
	wantRead(t, chunkData(readChunks(t, w, tl, 4096)), more) // returned, not acknowledged
	tl.Close()

	tl = openTailer(t, s, path)
	keep := int64(len(lines("a", 1, 10))) // past the checkpoint, before the run before's end
	if err := os.Truncate(path, keep); err != nil {
		t.Fatal(err)
	}
	wantRead(t, chunkData(readChunks(t, w, tl, 4096)), (acked + more)[:keep])
	if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(keep); got != want {
		t.Errorf("reread bytes %v, want %v (the run before returned every byte kept)", got, want)
	}
	appendFile(t, path, lines("n", 1, 2))
	wantRead(t, chunkData(readChunks(t, w, tl, 4096)), lines("n", 1, 2))
}

// shrunkWalkRig is the start of the TestTailWalkShrunk tests: a generation acknowledged
// (first) and rotated by rename, then the next one read and returned, not acknowledged
// (second: kept, its first line, then gone, the lines a shrink to kept destroys).
type shrunkWalkRig struct {
	s             *Set
	w             *ManualWaker
	path          string
	tl            *Tailer
	first, second []Chunk
	kept          string
}

func newShrunkWalkRig(t *testing.T) *shrunkWalkRig {
	t.Helper()
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	stamp(t, path, 0)
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(first), lines("a", 1, 3))
	if err := tl.Ack(first[len(first)-1].Pos); err != nil {
		t.Fatal(err)
	}
	rename(t, path, path+".1")
	kept, gone := "x1\n", lines("x", 2, 3)
	appendFile(t, path, kept+gone)
	stamp(t, path, 1)
	second := readChunks(t, w, tl, 64<<10) // returned, not acknowledged
	wantRead(t, chunkData(second), kept+gone)
	return &shrunkWalkRig{s: s, w: w, path: path, tl: tl, first: first, second: second, kept: kept}
}

// TestTailWalkShrunkPastHeadWhileDown: a generation read after the checkpoint by the run
// before (returned, not acknowledged), then truncated to a smaller size within its head
// (truncate -s N at a line end) and written past the head's old length, then rotated,
// all while the shipper was down. The walk from the checkpoint sends what it still holds
// of what was read again at the offsets it had, then the new lines after the offsets the
// old content used, as when it is shorter than its head: it was taken for a generation
// destroyed since (its head differs), the stream jumped by LossGap and read it again
// from its start, the lines kept arriving twice, counted in neither
// file_reread_bytes_total nor anywhere (TestTailModel -model.shrink seed 327, 1 run in 5).
func TestTailWalkShrunkPastHeadWhileDown(t *testing.T) {
	r := newShrunkWalkRig(t)
	s, w, path, tl, first, second, kept := r.s, r.w, r.path, r.tl, r.first, r.second, r.kept
	tl.Close()

	// While down: shrunk to its first line, written past its old size, rotated.
	if err := os.Truncate(path, int64(len(kept))); err != nil {
		t.Fatal(err)
	}
	more := lines("y", 1, 4)
	appendFile(t, path, more)
	stamp(t, path, 2)
	rename(t, path, path+".2")
	appendFile(t, path, lines("z", 1, 2))
	stamp(t, path, 3)

	tl = openTailer(t, s, path)
	third := readChunks(t, w, tl, 64<<10)
	st := newStream(t)
	st.add(first...)
	st.add(second...)
	st.add(third...) // fails on a line sent twice at other offsets, or offsets reused
	for _, l := range []string{more, lines("z", 1, 2)} {
		if !strings.Contains(chunkData(third), l) {
			t.Errorf("after the restart read %q, want %q in it", chunkData(third), l)
		}
	}
	if n := testutil.ToFloat64(s.m.StreamJumps); n != 0 {
		t.Errorf("stream jumps %v, want 0 (the offsets the run before used are known)", n)
	}
}

// TestTailWalkShrunkReadAgainBeforeRestart: as TestTailWalkShrunkPastHeadWhileDown, but
// the run before saw the change and read the file again from its start (other offsets,
// counted reread): the walk sends its bytes again at the offsets that reading gave them,
// not at those of the content before the change (which would put other bytes at
// offsets used: TestTailModel -model.shrink seed 376 with shrunkSince taking the older
// entry).
func TestTailWalkShrunkReadAgainBeforeRestart(t *testing.T) {
	r := newShrunkWalkRig(t)
	s, w, path, tl, first, second, kept := r.s, r.w, r.path, r.tl, r.first, r.second, r.kept
	if err := os.Truncate(path, int64(len(kept))); err != nil {
		t.Fatal(err)
	}
	more := lines("y", 1, 4)
	appendFile(t, path, more)
	stamp(t, path, 2)
	again := readChunks(t, w, tl, 64<<10) // read again from its start
	wantRead(t, chunkData(again), kept+more)
	tl.Close()

	rename(t, path, path+".2")
	appendFile(t, path, lines("z", 1, 2))
	stamp(t, path, 3)
	tl = openTailer(t, s, path)
	third := readChunks(t, w, tl, 64<<10)
	if got := chunkData(third); !strings.HasSuffix(got, lines("z", 1, 2)) {
		t.Errorf("after the restart read %q, want it to end with the new file's lines", got)
	}
	// (x1 arrived twice in the first run, counted; once more it must not.)
	st := newStream(t)
	st.add(again...)
	st.add(third...) // fails on a line sent again at other offsets
	sent := map[uint64]byte{}
	for _, c := range slices.Concat(first, second, again, third) {
		for i, b := range c.Data {
			if was, ok := sent[c.Offset+uint64(i)]; ok && was != b {
				t.Fatalf("chunk at %d puts other bytes at offset %d than were sent there: offsets reused", c.Offset, c.Offset+uint64(i))
			}
			sent[c.Offset+uint64(i)] = b
		}
	}
}
