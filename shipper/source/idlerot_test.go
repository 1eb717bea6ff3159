package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rotateCreate rotates path as logrotate's create does, keeping n generations: path.N-1
// to path.N, ..., path to path.1, then a new file at path holding data.
func rotateCreate(t *testing.T, path string, n int, data string) {
	t.Helper()
	for i := n - 1; i >= 1; i-- {
		from := path + "." + utoa(uint64(i))
		if _, err := os.Lstat(from); err == nil {
			mustRename(t, from, path+"."+utoa(uint64(i+1)))
		}
	}
	mustRename(t, path, path+".1")
	appendFile(t, path, data)
}

// TestTailIdleClosedRotated: a file closed while idle (another tailer waits for a
// descriptor slot), lines written to it since, is rotated by rename, once or twice, before
// the tailer looks again: it is found by identity (device, inode and head) under its
// rotated name and drained, then the generations after it, every line once, nothing
// counted lost. "twice-while-looking" renames it again while the tailer looks for it
// under its rotated name (between listing the rotated names and stating them, as
// logrotate did over 300 files in case 07): before, that one look missed it, took it for
// deleted, and its unread lines were lost without a count. A file truly deleted is left (the next one read after it).
func TestTailIdleClosedRotated(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    int  // rotations before the tailer looks again
		whileLook bool // one more, while it looks for the file
		deleted   bool // the rotated file is deleted (logrotate's rotate 0)
	}{
		{name: "once", before: 1},
		{name: "twice", before: 2},
		{name: "twice-while-looking", before: 1, whileLook: true},
		{name: "deleted", before: 1, deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.MaxOpenFiles = 4
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "x.log")
			appendFile(t, path, lines("a", 1, 3))
			tl := openTailer(t, s, path)
			holdSlots(t, s) // other tailers hold the rest
			got := chunkData(readChunks(t, w, tl, 64<<10))
			contend(t, s)
			w.Tick()
			got += chunkData(readChunks(t, w, tl, 64<<10))
			if tl.g.f != nil {
				t.Fatal("the tailer kept its file open while another waited for a slot")
			}
			want := lines("a", 1, 3)
			if !tc.deleted {
				appendFile(t, path, lines("a", 4, 6)) // written while closed
				want += lines("a", 4, 6)
			}
			gens := []string{"b", "c", "d"}
			for i := range tc.before {
				rotateCreate(t, path, 5, lines(gens[i], 1, 2))
				want += lines(gens[i], 1, 2)
			}
			if tc.deleted {
				mustRemove(t, path+".1")
			}
			looks := 0
			if tc.whileLook {
				g := gens[tc.before]
				want += lines(g, 1, 2)
				tl.listHook = func() {
					if looks++; looks == 1 {
						rotateCreate(t, path, 5, lines(g, 1, 2))
					}
				}
			}
			w.Tick()
			got += readAll(t, w, tl, 64<<10)
			tl.listHook = nil
			if tc.whileLook && looks == 0 {
				t.Fatal("the tailer never listed the rotated names")
			}
			w.Tick() // (a file created while the tailer looked is seen at its next look)
			got += readAll(t, w, tl, 64<<10)
			wantRead(t, got, want)
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0 (every byte was read)", n)
			}
		})
	}
}

// TestGlobMatchOpenedLateFromListedEnd: at a pattern's first start its matches are read
// from their end; a match opened a while after it was listed (the last of hundreds opened
// one by one within the descriptor bound, or retried after a failure: here its record of
// generations cannot be read at first) is read from where it ended when listed, not from
// where it ends when opened: the lines written in between were written after the
// shipper started. Before, they were skipped without a count (case 07: the first lines
// of the last matches opened). A match truncated in between is read from its start.
func TestGlobMatchOpenedLateFromListedEnd(t *testing.T) {
	for _, truncated := range []bool{false, true} {
		t.Run(map[bool]string{false: "grown", true: "truncated"}[truncated], func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.NoWatch = true
			s := newSources(t, cfg)
			dir := t.TempDir()
			late, early := filepath.Join(dir, "late.log"), filepath.Join(dir, "early.log")
			appendFile(t, late, lines("late-a", 1, 3))
			appendFile(t, early, lines("early-a", 1, 3))
			unblock := blockRecords(t, s, late)
			g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if got := g.Paths(); len(got) != 1 || got[0] != early {
				t.Fatalf("matches followed %q, want only %s (late's record cannot be read)", got, early)
			}
			want := lines("late-a", 4, 5)
			if truncated {
				if err := os.Truncate(late, 0); err != nil {
					t.Fatal(err)
				}
				want = lines("late-b", 1, 1)
				appendFile(t, late, want)
			} else {
				appendFile(t, late, want)
			}
			appendFile(t, early, lines("early-a", 4, 4))
			want += lines("early-a", 4, 4)
			unblock()
			w.Tick()
			globLines(t, g, w, want)
			appendFile(t, late, lines("late-c", 1, 1))
			w.Tick()
			globLines(t, g, w, lines("late-c", 1, 1))
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
		})
	}
}
