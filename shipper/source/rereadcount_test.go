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
