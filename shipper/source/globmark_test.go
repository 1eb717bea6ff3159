package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// fullState makes the state directory full until the returned function is called (or
// the test ends): on "tmpfs", the tmpfs mounted at mnt (which holds it) is filled with
// files; on "seam", every write fails with ENOSPC (stateFault). With inodes, no file can
// even be created (on the tmpfs, mounted with few inodes, they are used up first);
// without, empty files can be, as on a full tmpfs or ext4 that has inodes left.
func fullState(t *testing.T, how, mnt string, inodes bool) (free func()) {
	t.Helper()
	if how == "seam" {
		freeBlocks := fillState(t)
		if !inodes {
			return freeBlocks
		}
		h := func(string) error { return syscall.ENOSPC }
		stateCreateFault.Store(&h)
		free = func() {
			stateCreateFault.CompareAndSwap(&h, nil)
			freeBlocks()
		}
		t.Cleanup(free)
		return free
	}
	fill := filepath.Join(mnt, "fill")
	if err := os.Mkdir(fill, 0o700); err != nil {
		t.Fatal(err)
	}
	free = func() {
		if err := os.RemoveAll(fill); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(free)
	if inodes {
		for i := 0; ; i++ {
			f, err := os.Create(filepath.Join(fill, fmt.Sprint(i)))
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
			f.Close()
		}
		// The last inode taken by the data's file, for the blocks.
		if err := os.Remove(filepath.Join(fill, "0")); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.FillFile(t, filepath.Join(fill, "data"))
	return free
}

// stateOn returns cfg with its state directory on a tmpfs of size (mount options
// after size=) for how "tmpfs" (root only), and the mount point; for "seam", cfg as it
// is and "".
func stateOn(t *testing.T, cfg Config, how, size string) (Config, string) {
	t.Helper()
	if how != "tmpfs" {
		return cfg, ""
	}
	mnt := mountTmpfs(t, size)
	cfg.StateDir = filepath.Join(mnt, "state")
	return cfg, mnt
}

// TestGlobMarkedByNameWhenStateFull: a glob's first start on a state directory whose
// file system is full (no data block, inodes left: a full tmpfs) records that the
// pattern is followed in the name of an empty file holding its salt. Matches appear and
// are shipped; the shipper stops and starts again, the state directory still full and
// nothing of the matches saved: the restart knows the pattern by that empty marker and
// reads every match from its beginning as the same stream (the lines written while it
// was down are shipped, each line once over both runs; it read them from their end,
// taking itself for the pattern's first start). Once there is space, a scan writes the
// marker's content with the same salt and removes the empty one.
func TestGlobMarkedByNameWhenStateFull(t *testing.T) {
	for _, how := range []string{"tmpfs", "seam"} {
		t.Run(how, func(t *testing.T) {
			const n = 20
			dir := t.TempDir()
			pattern := filepath.Join(dir, "*.log")
			cfg, w := testConfig(t)
			cfg, mnt := stateOn(t, cfg, how, "1m") // room for every state once freed
			s1 := newSources(t, cfg)
			free := fullState(t, how, mnt, false)
			g1, err := s1.OpenGlob(pattern)
			if err != nil {
				t.Fatalf("first start with the state directory full: %v", err)
			}
			mk, err := s1.store.followedGlob(absPath(pattern))
			if err != nil || !mk.before || !mk.named || mk.salt == 0 {
				t.Fatalf("marker after the first start %+v (%v), want one named for its salt", mk, err)
			}
			want := writeMatches(t, dir, n, 1, 5)
			m1 := readAcking(t, g1)
			m1.wait(t, w, want)
			m1.stop()
			g1.Close()
			s1.Close()
			want = append(want, writeMatches(t, dir, n, 6, 8)...)

			w2 := NewManualWaker()
			cfg.Waker = w2
			s2 := newSources(t, cfg)
			g2, err := s2.OpenGlob(pattern)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { g2.Close() })
			m2 := readAcking(t, g2)
			m2.wait(t, w2, want)
			onceOverRuns(t, m1, m2)

			free()
			testsupport.EventuallyErr(t, func() error {
				w2.Tick()
				got, err := s2.store.followedGlob(absPath(pattern))
				if err != nil || got.named || got.salt != mk.salt {
					return fmt.Errorf("marker %+v (%v), want its content written with salt %x", got, err, mk.salt)
				}
				if names := namesWithPrefix(t, cfg.StateDir, "glob-"); len(names) != 1 {
					return fmt.Errorf("markers %q, want the marker only", names)
				}
				return nil
			})
		})
	}
}

// TestGlobFirstStartWaitsWithoutInodes: at a glob's first start not even an empty
// marker can be created (no inode left): OpenGlob fails with ENOSPC, so that the start
// waits for space (as a path's start does: ship retries it) rather than follow the
// pattern unrecorded, which a restart would take for a first start (reading the matches
// from their end, losing the lines written while it was down). Once space is freed, the
// start is the pattern's first: the lines there are not read, those written after are.
func TestGlobFirstStartWaitsWithoutInodes(t *testing.T) {
	for _, how := range []string{"tmpfs", "seam"} {
		t.Run(how, func(t *testing.T) {
			const n = 3
			dir := t.TempDir()
			pattern := filepath.Join(dir, "*.log")
			old := writeMatches(t, dir, n, 1, 5)
			cfg, w := testConfig(t)
			cfg, mnt := stateOn(t, cfg, how, "64k,nr_inodes=64")
			s1 := newSources(t, cfg)
			free := fullState(t, how, mnt, true)
			if g, err := s1.OpenGlob(pattern); !errors.Is(err, syscall.ENOSPC) {
				if err == nil {
					g.Close()
				}
				t.Fatalf("OpenGlob with no inode left: %v, want ENOSPC", err)
			}
			if names := namesWithPrefix(t, cfg.StateDir, "glob-"); len(names) != 0 {
				t.Fatalf("markers %q after a failed first start", names)
			}
			s1.Close()
			free()

			s2 := newSources(t, cfg)
			g, err := s2.OpenGlob(pattern)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { g.Close() })
			want := writeMatches(t, dir, n, 6, 7)
			m := readAcking(t, g)
			m.wait(t, w, want)
			got := m.counts()
			for _, l := range old {
				if got[l] != 0 {
					t.Errorf("%q read: at the pattern's first start, matches are read from their end", l)
				}
			}
			onceOverRuns(t, m)
		})
	}
}

// TestGlobFirstStartClosedUnreadUnmarked: a glob's first start on a full state directory
// (its matches' start checkpoints not saved, its marker an empty file) is closed before
// it was read, as when another source's start fails for want of space and ship retries
// the whole start: the marker is withdrawn, so that the retry is the pattern's first
// start again (the matches read from their end), not a restart reading every match
// without a checkpoint from its beginning.
func TestGlobFirstStartClosedUnreadUnmarked(t *testing.T) {
	const n = 3
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.log")
	old := writeMatches(t, dir, n, 1, 5)
	cfg, w := testConfig(t)
	s1 := newSources(t, cfg)
	free := fillState(t)
	g1, err := s1.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if names := namesWithPrefix(t, cfg.StateDir, "glob-"); len(names) != 1 {
		t.Fatalf("markers %q after the first start, want the empty one", names)
	}
	g1.Close()
	s1.Close()
	if names := namesWithPrefix(t, cfg.StateDir, "glob-"); len(names) != 0 {
		t.Fatalf("markers %q after the first start closed unread, want none", names)
	}
	free()

	s2 := newSources(t, cfg)
	g2, err := s2.OpenGlob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g2.Close() })
	want := writeMatches(t, dir, n, 6, 7)
	m := readAcking(t, g2)
	m.wait(t, w, want)
	got := m.counts()
	for _, l := range old {
		if got[l] != 0 {
			t.Errorf("%q read: the retried first start read matches from their beginning", l)
		}
	}
	onceOverRuns(t, m)
}
