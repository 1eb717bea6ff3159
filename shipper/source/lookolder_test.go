package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailLookNeverTakesOlderForNew: a look that owes creations of the path (their
// events came after their files were rotated away) does not match one with a rotated
// file the tailer resumed with as an older generation (Tailer.older), whatever its
// modification time says. Here that file's time is the checkpoint's (file times ahead of the host's; in
// TestTailModel, a copy stamped in the same clock tick as the last write the run before
// saw), so it is not modified before the tailer began: the look took it for the file
// created since, held it ahead, and it was drained after the generation being read
// (TestTailModel with fsnotify: a copy of lines shipped before, "line shipped twice",
// seed 1796081659773616511). The look matches the creation with the file created since,
// and the old one is never read.
func TestTailLookNeverTakesOlderForNew(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	// Times ahead of the host's clock, as the model's: the checkpoint's time, not the
	// open's, is where older generations end.
	appendFile(t, path+".1", lines("o", 1, 5))
	stamp(t, path+".1", 60)
	tl := openTailer(t, s, path) // no file at the path: .1 is an older generation
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q; the rotated file present at the start is an older generation", got)
	}
	tl.Close()

	// While down: a generation written and rotated (drained after the restart).
	appendFile(t, path, lines("g", 1, 5))
	stamp(t, path, 61)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	tl = openTailer(t, s, path)
	wantRead(t, readAll(t, w, tl, 64<<10), lines("g", 1, 5))

	// Two files created at the path, the first rotated away before the tailer looked,
	// and their creations counted (the Watcher's events) before the look.
	appendFile(t, path, lines("x", 1, 3))
	stamp(t, path, 62)
	if err := os.Rename(path, path+".3"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("y", 1, 2))
	stamp(t, path, 63)
	tl.creates.Add(2)
	tl.lookFor()

	wantRead(t, readAll(t, w, tl, 64<<10), lines("x", 1, 3)+lines("y", 1, 2))
	if n := testutil.ToFloat64(s.m.FilesMissed); n != 0 {
		t.Errorf("files_missed_total %v, want 0: both files created were read", n)
	}
}
