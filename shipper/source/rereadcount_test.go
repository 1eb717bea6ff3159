package source

import (
	"os"
	"path/filepath"
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
