package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// holdSlots takes every descriptor slot of s (as other tailers would) and returns a
// function that gives them back.
func holdSlots(t *testing.T, s *Set) (release func()) {
	t.Helper()
	n := 0
	for s.fds.tryAcquire() {
		n++
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		for range n {
			s.fds.release()
		}
	}
	t.Cleanup(release)
	return release
}

// TestTailRotatedBeforeFirstSlot: a file followed while no descriptor slot is free
// (other tailers hold them all) is rotated (renamed, a line written to it, a new file
// created at the path) before the tailer first gets a slot: its first generation is
// drained from the rotated name, then the new file, every line once.
func TestTailRotatedBeforeFirstSlot(t *testing.T) {
	cfg, w := modelConfig(t)
	cfg.MaxOpenFiles = 4
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	release := holdSlots(t, s)
	tl := openTailer(t, s, path)
	if tl.g.f != nil {
		t.Fatal("the tailer holds a descriptor though no slot was free")
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", lines("a", 4, 4))
	appendFile(t, path, lines("b", 1, 2))
	release()
	wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 4)+lines("b", 1, 2))
}

// globLines reads g until every line of want arrived, failing on a line read twice or
// not wanted, and returns the stream of each line's tag.
func globLines(t *testing.T, g *Glob, w *ManualWaker, want string) {
	t.Helper()
	left := map[string]bool{}
	for l := range strings.SplitAfterSeq(want, "\n") {
		if l != "" {
			left[l] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	got := map[string]bool{}
	for len(left) > 0 {
		cctx, ccancel := context.WithTimeout(ctx, 100*time.Millisecond)
		c, err := g.Next(cctx, 64<<10)
		ccancel()
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("Next: %v; %d lines not read", err, len(left))
			}
			w.Tick() // (retries after a failure wait for a tick without fsnotify)
			continue
		}
		for l := range strings.SplitAfterSeq(string(c.Data), "\n") {
			if l == "" {
				continue
			}
			if got[l] {
				t.Fatalf("line read twice: %q", l)
			}
			if !left[l] {
				t.Fatalf("line not wanted: %q", l)
			}
			got[l] = true
			delete(left, l)
		}
	}
}

// blockRecords makes the record of generations of each path unreadable (a directory
// where the file goes) until unblock is called: the glob cannot open those matches.
func blockRecords(t *testing.T, s *Set, paths ...string) (unblock func()) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(s.store.genFile(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, p := range paths {
			if err := os.Remove(s.store.genFile(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestGlobMatchRotatedBeforeOpened: a match listed whose tailer could not be opened at
// once (here its record of generations cannot be read; in the field, no descriptor free,
// or hundreds of matches opened before it) is rotated, or deleted, before the retry: its
// tailer begins with the file listed, found by identity under its rotated name and
// drained first, then the new file; a file listed and deleted before it was opened is
// counted lost with its size. Before, the first generation was skipped, silently.
func TestGlobMatchRotatedBeforeOpened(t *testing.T) {
	for _, fromBeginning := range []bool{true, false} {
		t.Run(map[bool]string{true: "from-beginning", false: "from-end"}[fromBeginning], func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.NoWatch = true
			cfg.FromBeginning = fromBeginning
			s := newSources(t, cfg)
			dir := t.TempDir()
			rot, del := filepath.Join(dir, "rot.log"), filepath.Join(dir, "del.log")
			appendFile(t, rot, lines("rot-a", 1, 3))
			appendFile(t, del, lines("del-a", 1, 5))
			unblock := blockRecords(t, s, rot, del)
			g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if n := len(g.Paths()); n != 0 {
				t.Fatalf("%d matches followed, want none (their records cannot be read)", n)
			}
			if err := os.Rename(rot, rot+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, rot+".1", lines("rot-a", 4, 4))
			appendFile(t, rot, lines("rot-b", 1, 2))
			if err := os.Remove(del); err != nil {
				t.Fatal(err)
			}
			unblock()
			w.Tick()
			want := lines("rot-a", 4, 4) + lines("rot-b", 1, 2)
			lost := 0.0
			if fromBeginning {
				want = lines("rot-a", 1, 3) + want
				lost = float64(len(lines("del-a", 1, 5)))
			}
			globLines(t, g, w, want)
			testsupport.Eventually(t, func() bool {
				w.Tick()
				return testutil.ToFloat64(s.m.LostBytes) == lost
			}, "lost bytes %v, want %v", testutil.ToFloat64(s.m.LostBytes), lost)
		})
	}
}

// TestTailsWaitingForSlotsHoldNone: tailers that never got a descriptor slot for their
// file (all were held when they were opened) see their files rotated: a look holds the
// new file at each path open (ahead, with a free slot each) until every slot is taken
// by them. Each tailer then needs a slot for its first generation; one that waited for
// it while holding a slot of its own ahead waited for ever, with the others, every slot
// held by a waiter (a shipper under ulimit -n 64 with 300 matches stopped for good).
// A tailer gives up the generations it holds ahead that are still linked (found again
// by name in their turn) before it waits for a slot: every line of every file arrives.
func TestTailsWaitingForSlotsHoldNone(t *testing.T) {
	cfg, _ := modelConfig(t)
	cfg.MaxOpenFiles = 4
	s := newSources(t, cfg)
	dir := t.TempDir()
	release := holdSlots(t, s)
	var tls []*Tailer
	var wants []string
	for i := range cfg.MaxOpenFiles {
		path := filepath.Join(dir, fmt.Sprintf("f%d.log", i))
		tag := fmt.Sprintf("f%d", i)
		appendFile(t, path, lines(tag+"-a", 1, 3))
		tls = append(tls, openTailer(t, s, path))
		wants = append(wants, lines(tag+"-a", 1, 3)+lines(tag+"-b", 1, 2))
	}
	for i, tl := range tls {
		if tl.g.f != nil {
			t.Fatalf("tailer %d holds a descriptor though no slot was free", i)
		}
		if err := os.Rename(tl.path, tl.path+".1"); err != nil {
			t.Fatal(err)
		}
		appendFile(t, tl.path, lines(fmt.Sprintf("f%d-b", i), 1, 2))
	}
	release()
	for i, tl := range tls {
		// The looker's look (or the one at the start of Next) holds the new file ahead.
		tl.mu.Lock()
		tl.look(true)
		tl.mu.Unlock()
		if n := len(tl.ahead); n != 1 || tl.ahead[0].f == nil {
			t.Fatalf("tailer %d: %d generations ahead, want 1 held open", i, n)
		}
	}
	if held := s.fds.held(); held != cfg.MaxOpenFiles {
		t.Fatalf("%d slots held, want all %d (by the generations ahead)", held, cfg.MaxOpenFiles)
	}
	// Each tailer is asked for more until every one read its lines, as the shipper
	// does: one that read all of its lines sleeps in Next, and gives up the slots it
	// holds (a generation lingering for rotate_wait, say) when another waits for one.
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	allRead, stop := context.WithCancel(ctx)
	defer stop()
	var reading atomic.Int32
	reading.Store(int32(len(tls)))
	got := make([]string, len(tls))
	errs := make([]error, len(tls))
	var wg sync.WaitGroup
	for i, tl := range tls {
		wg.Go(func() {
			var b strings.Builder
			for {
				c, err := tl.Next(allRead, 64<<10)
				if err != nil {
					if b.Len() < len(wants[i]) {
						errs[i] = err
					}
					break
				}
				b.Write(c.Data)
				if b.Len() >= len(wants[i]) && b.Len()-len(c.Data) < len(wants[i]) && reading.Add(-1) == 0 {
					stop()
				}
			}
			got[i] = b.String()
		})
	}
	wg.Wait()
	for i := range tls {
		if errs[i] != nil {
			t.Errorf("tailer %d: Next: %v after %d of %d bytes (waiting for a slot)", i, errs[i], len(got[i]), len(wants[i]))
			continue
		}
		if got[i] != wants[i] {
			t.Errorf("tailer %d read %q, want %q", i, got[i], wants[i])
		}
	}
	if held := s.fds.held(); held > cfg.MaxOpenFiles {
		t.Errorf("%d slots held, bound %d", held, cfg.MaxOpenFiles)
	}
}

// failOpens makes opening a name for which fail reports true fail with EMFILE (no
// descriptor free) until the returned function is called.
func failOpens(t *testing.T, fail func(name string) bool) (stop func()) {
	t.Helper()
	h := func(name string) error {
		if fail(name) {
			return syscall.EMFILE
		}
		return nil
	}
	openFault.Store(&h)
	stop = func() { openFault.CompareAndSwap(&h, nil) }
	t.Cleanup(stop)
	return stop
}

// readUntil calls Next until n bytes more were read.
func readUntil(t *testing.T, src Source, n int) string {
	t.Helper()
	var b strings.Builder
	for b.Len() < n {
		b.Write(next(t, src, 64<<10).Data)
	}
	return b.String()
}

// TestTailCopyUntoldWithoutDescriptorWaits: copytruncate's copy whose bytes cannot be
// read for want of a descriptor (EMFILE) is never taken for "not the copy": the file is
// neither taken for truncated in place (the copy's unread lines counted lost, the new
// content read) nor read before the copy is told; it is in a failure state (fd_limit),
// retried, and once descriptors are free the copy is drained first, then the new
// content, every line once, nothing counted lost. Both searches: the copy of a file read
// in part (truncated under the read offset), and the copy of a file empty whenever the
// tailer looked (written and copied away before any byte was read).
func TestTailCopyUntoldWithoutDescriptorWaits(t *testing.T) {
	for _, mode := range []string{"read-in-part", "never-read"} {
		t.Run(mode, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			var got, want string
			if mode == "read-in-part" {
				appendFile(t, path, lines("a", 1, 10))
				tl := openTailer(t, s, path)
				got = readAll(t, w, tl, 64<<10)
				appendFile(t, path, lines("a", 11, 100))
				got += string(next(t, tl, 75*65).Data) // the window fills: reading stops inside the file
				copyTruncate(t, path, path+".1")
				appendFile(t, path, lines("b", 1, 20))
				want = lines("a", 1, 100) + lines("b", 1, 20)
				testCopyUntold(t, s, w, tl, path, got, want)
				return
			}
			appendFile(t, path, "")
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			if got := readAll(t, w, tl, 64<<10); got != "" {
				t.Fatalf("read %q from an empty file", got)
			}
			appendFile(t, path, lines("a", 1, 20))
			stamp(t, path, 1)
			copyTruncate(t, path, path+".1")
			stamp(t, path+".1", 2)
			appendFile(t, path, lines("b", 1, 5))
			stamp(t, path, 3)
			testCopyUntold(t, s, w, tl, path, "", lines("a", 1, 20)+lines("b", 1, 5))
		})
	}
}

func testCopyUntold(t *testing.T, s *Set, w *ManualWaker, tl *Tailer, path, got, want string) {
	t.Helper()
	stop := failOpens(t, func(name string) bool { return name == path+".1" })
	got += readAll(t, w, tl, 64<<10)
	if !strings.HasPrefix(want, got) {
		t.Fatalf("while the copy could not be told: read %d bytes, not a prefix of what is wanted (first difference at %d)", len(got), firstDiff([]byte(got), []byte(want)))
	}
	if strings.Contains(got, "/b/") {
		t.Fatal("the new content was read before the copy was told")
	}
	if v := testutil.ToFloat64(s.m.FileErrors.WithLabelValues(FileErrorLimit)); v != 1 {
		t.Errorf("file_errors_total{reason=fd_limit} %v, want 1", v)
	}
	if v := testutil.ToFloat64(s.m.LostBytes); v != 0 {
		t.Errorf("lost bytes %v while the copy could not be told, want 0", v)
	}
	stop()
	// Retried after the backoff (a second).
	got += readUntil(t, tl, len(want)-len(got))
	wantRead(t, got, want)
	if v := testutil.ToFloat64(s.m.LostBytes); v != 0 {
		t.Errorf("lost bytes %v, want 0", v)
	}
	if v := testutil.ToFloat64(s.m.FilesUnreadable); v != 0 {
		t.Errorf("files_unreadable %v once the copy was drained, want 0", v)
	}
}

// TestTailNextCopyUntoldWithoutDescriptorWaits: copytruncate twice while the tailer is
// behind (logrotate's rotate 2: the first copy renamed to .2, a second copy in .1).
// Once the first copy is drained, the second cannot be opened (EMFILE): it is looked for
// again before the live file is read (a failure state, retried), never skipped (the live
// file was read from its start, the second copy's lines lost without a count).
func TestTailNextCopyUntoldWithoutDescriptorWaits(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	got := readAll(t, w, tl, 64<<10)
	appendFile(t, path, lines("a", 11, 100))
	got += string(next(t, tl, 75*65).Data) // the window fills: reading stops inside the file
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("b", 1, 20))
	if err := os.Rename(path+".1", path+".2"); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 2)
	appendFile(t, path, lines("c", 1, 5))
	stamp(t, path, 3)
	want := lines("a", 1, 100) + lines("b", 1, 20) + lines("c", 1, 5)
	stop := failOpens(t, func(name string) bool { return name == path+".1" })
	got += readAll(t, w, tl, 64<<10)
	if !strings.HasPrefix(want, got) || strings.Contains(got, "/b/") || strings.Contains(got, "/c/") {
		t.Fatalf("while the second copy could not be opened: read %d bytes, want a prefix of the first copy's lines (first difference at %d)", len(got), firstDiff([]byte(got), []byte(want)))
	}
	if v := testutil.ToFloat64(s.m.FileErrors.WithLabelValues(FileErrorLimit)); v != 1 {
		t.Errorf("file_errors_total{reason=fd_limit} %v, want 1", v)
	}
	stop()
	got += readUntil(t, tl, len(want)-len(got))
	wantRead(t, got, want)
	if v := testutil.ToFloat64(s.m.LostBytes); v != 0 {
		t.Errorf("lost bytes %v, want 0", v)
	}
}

// TestTailAheadNotToldWithoutDescriptorKept: a newer generation seen ahead without a
// descriptor (no slot free) whose head cannot be read at the next look (EMFILE) is not
// taken for another file that reused its inode: it was counted lost with its size (the
// stream jumping past it) though it was there and read in its turn (t10c under ulimit -n
// 64: 1 to 7 false losses per run, more once waiting tailers give up their generations
// ahead). Every line arrives, nothing is counted lost.
func TestTailAheadNotToldWithoutDescriptorKept(t *testing.T) {
	cfg, w := modelConfig(t)
	cfg.MaxOpenFiles = 4
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	tl := openTailer(t, s, path)
	got := readAll(t, w, tl, 64<<10)
	release := holdSlots(t, s)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", lines("a", 4, 4))
	appendFile(t, path, lines("b", 1, 2))
	look := func() {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		tl.look(true)
	}
	look()
	if n := len(tl.ahead); n != 1 || tl.ahead[0].f != nil || tl.ahead[0].fpLen == 0 {
		t.Fatalf("%d generations ahead (%+v), want the new file, without a descriptor, its head known", n, tl.ahead)
	}
	stop := failOpens(t, func(name string) bool { return name == path })
	look()
	stop()
	release()
	got += readAll(t, w, tl, 64<<10)
	wantRead(t, got, lines("a", 1, 4)+lines("b", 1, 2))
	if v := testutil.ToFloat64(s.m.LostBytes); v != 0 {
		t.Errorf("lost bytes %v, want 0", v)
	}
}

// contend makes a tailer wait for a descriptor slot (as one opening another file would)
// until it gets one, which it gives back at once: idle holders close their files.
func contend(t *testing.T, s *Set) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		err := s.fds.acquire(context.Background())
		if err == nil {
			s.fds.release()
		}
		got <- err
	}()
	testsupport.Eventually(t, s.fds.contended, "no tailer waits for a slot")
	t.Cleanup(func() {
		if err := <-got; err != nil {
			t.Errorf("acquire: %v", err)
		}
	})
}

// TestTailIdleClosedPartialLineDeleted: a file closed while idle (another tailer waits
// for a descriptor) whose last line has no '\n' yet (a writer mid-line, a job log
// without a final newline) and that is deleted (replaced) before the tailer looks again: its last
// line is shipped, terminated, before the file is left, as when a followed file is left
// at its end, and the next file at the path is shipped after it, at the offsets after
// it. Before, the line's bytes were thrown away and their offsets given to the next
// file's bytes (silent loss, a garbled line at a collector that had its first piece).
func TestTailIdleClosedPartialLineDeleted(t *testing.T) {
	for _, tc := range []struct {
		name, last string
		max        int // chunk bound: below the last line's length, part of it is sent
	}{
		{name: "buffered", last: "partial", max: 64 << 10},
		{name: "half-sent", last: "a long last line with no newline", max: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.MaxOpenFiles = 4
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "x.log")
			appendFile(t, path, "full\n"+tc.last)
			tl := openTailer(t, s, path)
			holdSlots(t, s) // other tailers hold the rest
			cs := readChunks(t, w, tl, tc.max)
			if !tl.c.pending() {
				t.Fatal("the last line is not pending")
			}
			contend(t, s)
			w.Tick()
			cs = append(cs, readChunks(t, w, tl, tc.max)...)
			if tl.g.f != nil {
				t.Fatal("the tailer kept its file open while another waited for a slot")
			}
			// A new file replaces it (written first, so that it cannot reuse the
			// deleted file's inode, which would be told by its head instead).
			appendFile(t, path+".new", "next\n")
			mustRename(t, path+".new", path)
			w.Tick()
			cs = append(cs, readChunks(t, w, tl, tc.max)...)
			var off uint64
			for _, c := range cs {
				if c.Offset != off {
					t.Errorf("chunk %q at offset %d, want %d (offsets reused or skipped)", c.Data, c.Offset, off)
				}
				off = c.Offset + c.Span
			}
			if got, want := chunkData(cs), "full\n"+tc.last+"\nnext\n"; got != want {
				t.Errorf("read %q, want %q", got, want)
			}
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0 (every byte was read)", n)
			}
		})
	}
}
