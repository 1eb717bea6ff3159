package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// readOn reads until the tailer sleeps and checks that the chunks continue the stream
// at *off without a gap or an overlap.
func readOn(t *testing.T, w *ManualWaker, tl *Tailer, off *uint64) string {
	t.Helper()
	cs := readChunks(t, w, tl, 4096)
	for _, c := range cs {
		if c.Offset != *off {
			t.Fatalf("chunk at offset %d, want %d (the stream continues without a gap)", c.Offset, *off)
		}
		*off += uint64(len(c.Data))
	}
	return chunkData(cs)
}

// TestTailGenerationComesBack: a file drained, then replaced at the path by another
// file, that comes back to the path (blue/green renames; a symlink switched a->b->a; a
// symlinked release directory switched rel1->rel2->rel1) is read on from where it was
// left: what was appended to it since, once; the file in between is drained too.
func TestTailGenerationComesBack(t *testing.T) {
	for _, form := range []string{"rename", "symlink", "symlinked dir"} {
		t.Run(form, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			dir := t.TempDir()
			var path, a, b string
			var toB, toA func()
			switch form {
			case "rename":
				path = filepath.Join(dir, "a.log")
				a, b = path, path
				toB = func() {
					rename(t, path, path+".blue")
				}
				toA = func() {
					rename(t, path, path+".green")
					rename(t, path+".blue", path)
				}
			case "symlink":
				path = filepath.Join(dir, "current")
				a, b = filepath.Join(dir, "r1", "a.log"), filepath.Join(dir, "r2", "b.log")
				mkdirAll(t, filepath.Dir(a))
				mkdirAll(t, filepath.Dir(b))
				appendFile(t, b, "")
				if err := os.Symlink(a, path); err != nil {
					t.Fatal(err)
				}
				toB = func() { symlinkOver(t, b, path) }
				toA = func() { symlinkOver(t, a, path) }
			case "symlinked dir":
				cur := filepath.Join(dir, "current")
				path = filepath.Join(cur, "app.log")
				a, b = filepath.Join(dir, "rel1", "app.log"), filepath.Join(dir, "rel2", "app.log")
				mkdirAll(t, filepath.Dir(a))
				mkdirAll(t, filepath.Dir(b))
				appendFile(t, b, "")
				if err := os.Symlink(filepath.Join(dir, "rel1"), cur); err != nil {
					t.Fatal(err)
				}
				toB = func() { symlinkOver(t, filepath.Join(dir, "rel2"), cur) }
				toA = func() { symlinkOver(t, filepath.Join(dir, "rel1"), cur) }
			}
			appendFile(t, a, lines("a", 1, 200))
			tl := openTailer(t, s, path)
			var off uint64
			wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 200))
			toB()
			appendFile(t, b, lines("b", 1, 200))
			wantRead(t, readOn(t, w, tl, &off), lines("b", 1, 200))
			toA()
			appendFile(t, path, lines("a", 201, 400))
			wantRead(t, readOn(t, w, tl, &off), lines("a", 201, 400))
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
		})
	}
}

// TestTailGenerationComesBackAfterGrowingAway: the file that comes back was written to
// while another file was at the path (a writer that kept it open), and the file in
// between was not drained yet: each line is read once, the one in between first.
func TestTailGenerationComesBackAfterGrowingAway(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, lines("a", 1, 50))
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 50))
	rename(t, path, path+".blue")
	appendFile(t, path, lines("b", 1, 50))
	wantRead(t, readOn(t, w, tl, &off), lines("b", 1, 50))
	appendFile(t, path+".blue", lines("a", 51, 60)) // the old writer still had it open
	appendFile(t, path, lines("b", 51, 60))
	rename(t, path, path+".green")
	rename(t, path+".blue", path)
	appendFile(t, path, lines("a", 61, 70))
	wantRead(t, readOn(t, w, tl, &off), lines("b", 51, 60)+lines("a", 51, 70))
}

// TestTailComeBackNotAnotherFile: a file at the path with the inode of a generation
// drained before but another content (the inode reused, or the file rewritten) is read
// from its start.
func TestTailComeBackNotAnotherFile(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, lines("a", 1, 50))
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 50))
	rename(t, path, path+".blue")
	appendFile(t, path, lines("b", 1, 5))
	wantRead(t, readOn(t, w, tl, &off), lines("b", 1, 5))
	// The same inode, rewritten with other lines of the same length.
	if err := os.WriteFile(path+".blue", []byte(lines("c", 1, 60)), 0o644); err != nil {
		t.Fatal(err)
	}
	rename(t, path, path+".green")
	rename(t, path+".blue", path)
	wantRead(t, readOn(t, w, tl, &off), lines("c", 1, 60))
}

// TestTailTruncatedToSmallerSize: a file truncated to a smaller size that still starts
// with the head read (truncate -s N) is read again from its start: its first N bytes may
// be those read or the same bytes written again (a job log rewritten with its banner,
// looked at halfway), which content cannot tell, so none is skipped (Filebeat's and
// Fluent Bit's rule; before, it was read on from N and a rewrite's first bytes were
// lost silently). The N bytes read again are counted in file_reread_bytes_total; nothing is
// counted lost. A file truncated to zero and written again is read from its start, no
// byte read again.
func TestTailTruncatedToSmallerSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string
		keep  int64
		after string
	}{
		{"large", lines("a", 1, 200), int64(len(lines("a", 1, 100))), lines("a", 201, 400)},
		{"shorter than the head", lines("a", 1, 10), int64(len(lines("a", 1, 4))), lines("a", 11, 12)},
		{"mid-line", lines("a", 1, 200), int64(len(lines("a", 1, 100))) - 7, lines("a", 201, 202)},
		{"to zero", lines("a", 1, 200), 0, lines("b", 1, 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, tc.first)
			tl := openTailer(t, s, path)
			var off uint64
			wantRead(t, readOn(t, w, tl, &off), tc.first)
			if err := os.Truncate(path, tc.keep); err != nil {
				t.Fatal(err)
			}
			got := readOn(t, w, tl, &off) // it looks before the next write
			appendFile(t, path, tc.after)
			got += readOn(t, w, tl, &off)
			wantRead(t, got, tc.first[:tc.keep]+tc.after)
			if got := testutil.ToFloat64(s.m.FilesTruncated); got != 1 {
				t.Errorf("truncations %v, want 1", got)
			}
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
			if got := testutil.ToFloat64(s.m.RereadBytes); got != float64(tc.keep) {
				t.Errorf("reread bytes %v, want %d", got, tc.keep)
			}
		})
	}
}

// TestTailTruncatedToSmallerSizeNewContent: a file truncated and written again with
// another content shorter than the read offset (its head not the one read) is read from
// its start.
func TestTailTruncatedToSmallerSizeNewContent(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, lines("a", 1, 200))
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 200))
	if err := os.WriteFile(path, []byte(lines("b", 1, 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	wantRead(t, readOn(t, w, tl, &off), lines("b", 1, 100))
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
