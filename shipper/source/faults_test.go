package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lines returns n numbered lines tagged tag.
func lines(tag string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] \"GET /%s/%06d HTTP/1.1\" 200 512\n", tag, i)
	}
	return b.String()
}

// readAll is readChunks' data.
func readAll(t *testing.T, w *ManualWaker, src Source, max int) string {
	t.Helper()
	return chunkData(readChunks(t, w, src, max))
}

// TestTailCopyTruncateWhilePaused is case 01: reading is held (a full window) while the
// file is copied away and truncated, and refilled beyond the old read offset. The rest of
// the old content comes from the copy, then the new file from its start: nothing is lost,
// nothing doubled.
func TestTailCopyTruncateWhilePaused(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.NoWatch = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	got := readAll(t, w, tl, 64<<10)
	appendFile(t, path, lines("a", 11, 100))
	got += string(next(t, tl, 75*65).Data) // the window fills: reading stops inside the file
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 200))
	got += readAll(t, w, tl, 64<<10)
	if want := lines("a", 1, 100) + lines("b", 1, 200); got != want {
		t.Fatalf("read %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff([]byte(got), []byte(want)))
	}
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost bytes %v, want 0", lost)
	}
}

// TestTailTruncatedUnreadIsCounted: a truncation that destroys bytes the tailer had seen
// (by size) but not read, with no copy, is counted with its size and the stream skips them.
func TestTailTruncatedUnreadIsCounted(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.NoWatch = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 100))
	tl := openTailer(t, s, path)
	first := next(t, tl, 75*10) // reads the whole file, emits 10 lines
	rest := readAll(t, w, tl, 75*10)
	if len(first.Data)+len(rest) != 7500 {
		t.Fatalf("read %d bytes", len(first.Data)+len(rest))
	}
	appendFile(t, path, lines("a", 101, 110))
	// The tailer sees the new size, then the file is truncated before it reads.
	tl2 := tl
	tl2.g.maxSize = 7500 + 750
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 2))
	c := next(t, tl, 64<<10)
	if string(c.Data) != lines("b", 1, 2) || c.Offset != 7500+750 {
		t.Errorf("after truncation: %q at %d, want the new lines at %d", c.Data, c.Offset, 7500+750)
	}
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 750 {
		t.Errorf("lost bytes %v, want 750", lost)
	}
	_ = w
}

// TestTailRotatedTwiceWhilePaused: every generation rotated away while reading is held is
// drained, in order, before the live file.
func TestTailRotatedTwiceWhilePaused(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.NoWatch = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	got := string(next(t, tl, 75*3).Data)
	for i, tag := range []string{"b", "c"} {
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, 2-i)); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(tag, 1, 10))
		future := time.Now().Add(time.Duration(i+1) * time.Second)
		os.Chtimes(path, future, future) // rotations are seconds apart
	}
	os.Rename(path+".2", path+".3")
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	appendFile(t, path, lines("d", 1, 10))
	got += readAll(t, w, tl, 64<<10)
	if want := lines("a", 1, 10) + lines("b", 1, 10) + lines("c", 1, 10) + lines("d", 1, 10); got != want {
		t.Fatalf("read\n%s\nwant\n%s", got, want)
	}
	if n := testutil.ToFloat64(s.m.GenerationsFound); n != 2 {
		t.Errorf("generations found %v, want 2", n)
	}
}

// TestGlobUnfollowableMatchIsolated: a match that cannot be followed (a directory) or read
// never stops the other matches, at start or later.
func TestGlobUnfollowableMatchIsolated(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a1.log"), "a1\n")
	if err := os.Mkdir(filepath.Join(dir, "a2.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "a3.log"), "a3\n")
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := os.Mkdir(filepath.Join(dir, "b1.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "b2.log"), "b2\n")
	got := map[string]bool{}
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	for len(got) < 3 {
		w.Tick()
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatalf("Next: %v (have %v)", err, got)
		}
		got[string(c.Data)] = true
	}
	if !got["a1\n"] || !got["a3\n"] || !got["b2\n"] {
		t.Errorf("got %v", got)
	}
}

// TestTailUnreadableRetried: a path that cannot be read (here a directory where the log
// was) is counted by reason and retried; once a file is back it is read.
func TestTailUnreadableRetried(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "one\n")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	r.waitFor([]byte("one\n"), w)
	os.Remove(path)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := testutil.ToFloat64(s.m.FileErrors.WithLabelValues(FileErrorNotRegular)); n != 1 {
			return fmt.Errorf("not_regular errors %v", n)
		}
		return nil
	})
	os.Remove(path)
	appendFile(t, path, "two\n")
	r.waitFor([]byte("one\ntwo\n"), w)
	if n := testutil.ToFloat64(s.m.FilesUnreadable); n != 0 {
		t.Errorf("unreadable files %v after recovery", n)
	}
}

// TestGlobBoundedDescriptors is case 03: more matches than descriptors; every file is
// shipped, and the tailers never hold more than MaxOpenFiles.
func TestGlobBoundedDescriptors(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.MaxOpenFiles = 8
	s := newSources(t, cfg)
	dir := t.TempDir()
	const n = 300
	want := map[string]bool{}
	for i := range n {
		line := fmt.Sprintf("file %d\n", i)
		appendFile(t, filepath.Join(dir, fmt.Sprintf("site%03d.log", i)), line)
		want[line] = true
	}
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	for len(want) > 0 {
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatalf("Next: %v, %d files not read", err, len(want))
		}
		delete(want, string(c.Data))
		if held := s.fds.held(); held > cfg.MaxOpenFiles {
			t.Fatalf("%d descriptors held, bound %d", held, cfg.MaxOpenFiles)
		}
	}
	// Appends to files closed while idle are read too.
	appendFile(t, filepath.Join(dir, "site000.log"), "again\n")
	for {
		w.Tick()
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.Data) == "again\n" {
			break
		}
	}
}

// TestGlobReleasesDeletedMatches is case 14: short-lived matches, read, acknowledged and
// deleted, leave no tailer, goroutine or checkpoint behind.
func TestGlobReleasesDeletedMatches(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.RotateWait = 0
	s := newSources(t, cfg)
	dir := t.TempDir()
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	const n = 50
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("job-%d.log", i))
		appendFile(t, name, fmt.Sprintf("job %d\n", i))
		w.Tick()
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		os.Remove(name)
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		ents, _ := os.ReadDir(cfg.StateDir)
		ckpts := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "ckpt-") {
				ckpts++
			}
		}
		if p := len(g.Paths()); p > 0 || ckpts > 0 {
			return fmt.Errorf("%d matches followed, %d checkpoints left", p, ckpts)
		}
		return nil
	})
	if f := testutil.ToFloat64(s.m.FilesFollowed); f != 0 {
		t.Errorf("followed files gauge %v", f)
	}
}

// TestGlobReleasesRenamedAwayMatches is case 14 with the files renamed away instead of
// deleted (job logs moved to an archive directory, or to a name the pattern does not
// match): once read, acknowledged and left for RotateWait, no tailer, descriptor,
// goroutine or checkpoint of theirs is left behind, as for deleted ones. Before, each
// match followed its renamed file for good, waiting for its path to come back.
func TestGlobReleasesRenamedAwayMatches(t *testing.T) {
	for _, to := range []string{"other-dir", "same-dir"} {
		t.Run(to, func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.RotateWait = 0
			s := newSources(t, cfg)
			dir, away := t.TempDir(), t.TempDir()
			g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
			defer cancel()
			const n = 20
			for i := range n {
				name := filepath.Join(dir, fmt.Sprintf("job-%d.log", i))
				appendFile(t, name, fmt.Sprintf("job %d\n", i))
				w.Tick()
				c, err := g.Next(ctx, cfg.ChunkMax)
				if err != nil {
					t.Fatal(err)
				}
				if string(c.Data) != fmt.Sprintf("job %d\n", i) {
					t.Fatalf("chunk %q, want job %d", c.Data, i)
				}
				if err := g.Ack(c.Pos); err != nil {
					t.Fatal(err)
				}
				dst := filepath.Join(away, filepath.Base(name))
				if to == "same-dir" {
					dst = name + ".done"
				}
				if err := os.Rename(name, dst); err != nil {
					t.Fatal(err)
				}
			}
			testsupport.EventuallyErr(t, func() error {
				w.Tick()
				ents, _ := os.ReadDir(cfg.StateDir)
				ckpts := 0
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), "ckpt-") {
						ckpts++
					}
				}
				if p := len(g.Paths()); p > 0 || ckpts > 0 {
					return fmt.Errorf("%d matches followed, %d checkpoints left", p, ckpts)
				}
				return nil
			})
			if f := testutil.ToFloat64(s.m.FilesFollowed); f != 0 {
				t.Errorf("followed files gauge %v", f)
			}
		})
	}
}

// TestStoreExpire: checkpoints of paths gone for longer than the expiry are removed; kept
// ones stay.
func TestStoreExpire(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/gone/a.log", "/gone/b.log", "/kept/c.log"} {
		if err := st.Save(Checkpoint{Path: p, Stream: 1}); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(st.File("/gone/a.log"), old, old)
	os.Chtimes(st.File("/kept/c.log"), old, old)
	n, err := st.Expire(time.Now().Add(-24*time.Hour), func(p string) bool { return p == "/kept/c.log" })
	if err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	for p, want := range map[string]bool{"/gone/a.log": false, "/gone/b.log": true, "/kept/c.log": true} {
		if _, found, _ := st.Load(p); found != want {
			t.Errorf("%s: found %v, want %v", p, found, want)
		}
	}
}

// TestGlobLateAckLeavesNoState: an acknowledgement that arrives after its match was
// deleted, drained and forgotten (a repeated one, or one of a stream the path no longer
// has) saves nothing: no checkpoint outlives the file, and a new file at the same path
// keeps its own stream.
func TestGlobLateAckLeavesNoState(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.RotateWait = 0
	s := newSources(t, cfg)
	dir := t.TempDir()
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	ckpts := func() int {
		ents, _ := os.ReadDir(cfg.StateDir)
		n := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "ckpt-") {
				n++
			}
		}
		return n
	}
	name := filepath.Join(dir, "job.log")
	appendFile(t, name, "job 1\n")
	w.Tick()
	c, err := g.Next(ctx, cfg.ChunkMax)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(name)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if p := len(g.Paths()); p > 0 {
			return fmt.Errorf("%d matches followed", p)
		}
		return nil
	})
	for i := range 2 { // the acknowledgement, then the same again (late, repeated)
		if err := g.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		if n := ckpts(); n != 0 {
			t.Fatalf("ack %d after the match was dropped: %d checkpoint files left", i+1, n)
		}
	}
	// The path comes back as a new source; a late acknowledgement of the old stream does
	// not take its checkpoint.
	appendFile(t, name, "job 2\n")
	w.Tick()
	d, err := g.Next(ctx, cfg.ChunkMax)
	if err != nil {
		t.Fatal(err)
	}
	if d.Stream == c.Stream {
		t.Fatalf("the path continued stream %d after its checkpoint was removed", c.Stream)
	}
	if err := g.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	if cp, found, err := s.store.Load(name); err != nil || !found || cp.Stream != d.Stream {
		t.Fatalf("checkpoint %+v, %v, %v: want stream %d", cp, found, err, d.Stream)
	}
}
