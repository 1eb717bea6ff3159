package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailGenerationRotatedBetweenLooks: the generation after the one drained is at the
// path when the tailer leaves the old one, and is rotated away (a new file created at the
// path) between two of the tailer's looks at the rotated names. It is a generation not
// read yet, drained before the file created after it (t16, breaker3 #1: 50 files under
// one glob, logrotate `create` + `sharedscripts` every 2 s, the shipper paused by SIGSTOP:
// whole generations on disk were skipped, nothing counted or logged). The rotation comes
// at a chosen point (afterListing), with real files:
//   - leaving: findNewer looked for a generation newer than the one left, while the next
//     one was still at the path; the history (the rotated files not to read) was then
//     taken from a second listing that already held it, rotated;
//   - listing: findNewer saw it at the path, then found it rotated among the rotated
//     names, and took it for the file at the path: not newer, and put in the history;
//   - opening: drainNewer looked while it was at the path, and the path, opened next,
//     held the file created after it.
func TestTailGenerationRotatedBetweenLooks(t *testing.T) {
	for _, at := range []string{"leaving", "listing", "opening"} {
		t.Run(at, func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			g0, x, y := lines("g0", 1, 10), lines("x", 1, 12), lines("y", 1, 7)
			appendFile(t, path, g0)
			stamp(t, path, -3)
			tl := openTailer(t, s, path)
			got := readAll(t, w, tl, 64<<10)
			if got != g0 {
				t.Fatalf("first generation: got %d bytes, want %d", len(got), len(g0))
			}
			// Rotated: g0 to .1, x at the path (written at once by the writer).
			logrotate(t, path, 3)
			appendFile(t, path, x)
			stamp(t, path, -2)
			rotated := false
			tl.mu.Lock()
			tl.lookHook = func(stage string, prev bool) {
				switch {
				case rotated:
					return
				case at == "leaving" && (!prev || stage != "decided"),
					at == "listing" && (!prev || stage != "path"),
					at == "opening" && (prev || stage != "decided"):
					return
				}
				rotated = true
				// Rotated again: x to .1 (g0 to .2), y created at the path.
				logrotate(t, path, 3)
				appendFile(t, path, y)
				stamp(t, path, -1)
			}
			tl.unlockLooks()
			got = readAll(t, w, tl, 64<<10)
			if !rotated {
				t.Fatal("the tailer never looked at the rotated names at that point")
			}
			if want := x + y; got != want {
				t.Fatalf("after the rotations: got %d bytes, want x then y (%d + %d bytes):\n%s", len(got), len(x), len(y), got)
			}
			if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
				t.Fatalf("lost_bytes_total %v, want 0", lost)
			}
			if _, err := os.Stat(path + ".2"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTailNewerGenerationWithOlderTime: the generation after the one drained was last
// written before it (another writer still appended to the old file after the new one
// was written: Apache's old children after a graceful restart, or clocks apart). The
// tailer saw it at the path while it drained the old one (the reader held: a full
// window), then it was rotated away and another file created. It is drained in its turn,
// not skipped as older for its modification time.
func TestTailNewerGenerationWithOlderTime(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	g0, x, y := lines("g0", 1, 40), lines("x", 1, 12), lines("y", 1, 7)
	appendFile(t, path, g0)
	stamp(t, path, -1)
	tl := openTailer(t, s, path)
	first := next(t, tl, 400) // a few lines of g0; then the window is full
	logrotate(t, path, 3)
	appendFile(t, path, x)
	stamp(t, path, -5) // last written before g0 was
	tl.lookFor()       // the looker's look (as on the rotation's event)
	if a := aheadOf(t, tl, path); a == nil {
		t.Fatal("the new file at the path was not seen ahead")
	}
	logrotate(t, path, 3)
	appendFile(t, path, y)
	got := string(first.Data) + readAll(t, w, tl, 64<<10)
	if want := g0 + x + y; got != want {
		t.Fatalf("got %d bytes, want g0, x, y (%d + %d + %d bytes):\n%s", len(got), len(g0), len(x), len(y), got)
	}
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Fatalf("lost_bytes_total %v, want 0", lost)
	}
}
