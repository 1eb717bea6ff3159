package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logspread/logspread/internal/testsupport"
)

// nextWithin returns the data of src's next chunk, failing the test if none comes before
// the test's deadline.
func nextWithin(t *testing.T, src Source) string {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	c, err := src.Next(ctx, 1<<16)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if err := src.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	return string(c.Data)
}

// TestYieldedFileHandedOverWithoutEvent: a tailer that left its path's file to another
// stream (a hard link) takes it over when that stream leaves it, woken by the owner
// itself: no event at its own path need come (none does here, and the waker never
// ticks), and it reads on from where the owner's stream shipped up to, not again from
// the start. (A glob's short-lived match whose inode the file system gave to the next
// match waited for ever: TestGlobReleasesDeletedMatches hung under -race.)
func TestYieldedFileHandedOverWithoutEvent(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "one\ntwo\n")
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	ta, err := s.OpenFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := nextWithin(t, ta); got != "one\ntwo\n" {
		t.Fatalf("a: %q", got)
	}
	tb, err := s.OpenFile(b)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if n := testutil.ToFloat64(s.m.FilesShared); n != 1 {
		t.Fatalf("files_shared_total %v, want 1 (b.log names a.log's file)", n)
	}
	appendFile(t, a, "three\n")
	if got := nextWithin(t, ta); got != "three\n" {
		t.Fatalf("a: %q", got)
	}
	appendFile(t, a, "four\n") // not read by a's stream
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	type result struct {
		c   Chunk
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := tb.Next(ctx, 1<<16)
		got <- result{c, err}
	}()
	ta.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("b never took over the file a's stream left: %v", r.err)
	}
	if g := string(r.c.Data); g != "four\n" {
		t.Fatalf("b after the hand-over: %q, want %q (read on from where a's stream left the file)", g, "four\n")
	}
}

// TestHandOverChecksHead: a hand-over is taken only by the file that was left, still
// holding what was read there: a file that got the left file's inode (the left one
// deleted) but starts otherwise, or that starts the same but no longer holds the last
// bytes read before the offset left (truncated and written again in place with the same
// head), is read from its start.
func TestHandOverChecksHead(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x.log")
	content := "other content\nmore\n"
	appendFile(t, name, content)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mark := func(head, tail string) handOver {
		return handOver{off: 14, mark: leftGen{fpLen: len(head), fp: fingerprint([]byte(head)), left: 14, tailN: len(tail), tailFP: fingerprint([]byte(tail))}}
	}
	for _, tc := range []struct {
		name string
		h    handOver
		size int64
		want int64
	}{
		{"same head and last bytes", mark(content[:8], content[10:14]), 19, 14},
		{"another head", mark("another ", content[10:14]), 19, 0},
		{"same head, other last bytes", mark(content[:8], "ENT\n"), 19, 0},
		{"truncated under the offset", mark(content[:8], content[10:14]), 10, 0},
	} {
		if off := handedAt(f, tc.size, tc.h); off != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, off, tc.want)
		}
	}
}

// TestWriteThroughYieldedNameWakesOwner: a write through the name of a file whose
// tailer yields it (a hard link's other name; fsnotify names the link written to) wakes
// the stream that reads the file, not only the next poll (the waker never ticks here).
func TestWriteThroughYieldedNameWakesOwner(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "one\n")
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	ta, err := s.OpenFile(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	if got := nextWithin(t, ta); got != "one\n" {
		t.Fatalf("a: %q", got)
	}
	tb, err := s.OpenFile(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	type result struct {
		c   Chunk
		err error
	}
	// Both asleep before the write: b (it yields the file, and never returns a chunk
	// of it), then a.
	waits := w.Waits()
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() {
		_, err := tb.Next(bctx, 1<<16)
		bdone <- err
	}()
	defer func() {
		bcancel()
		<-bdone
		tb.Close()
	}()
	testsupport.Eventually(t, func() bool { return w.Waits() > waits }, "b's Next never slept")
	waits = w.Waits()
	got := make(chan result, 1)
	go func() {
		c, err := ta.Next(ctx, 1<<16)
		got <- result{c, err}
	}()
	testsupport.Eventually(t, func() bool { return w.Waits() > waits }, "a's Next never slept")
	appendFile(t, b, "two\n")
	r := <-got
	if r.err != nil {
		t.Fatalf("a was not woken by a write through b.log: %v", r.err)
	}
	if g := string(r.c.Data); g != "two\n" {
		t.Fatalf("a after a write through b.log: %q", g)
	}
}

// TestGlobWriteThroughClaimedNameWakesOwner: a glob matching both names of a file (a hard
// link) reads it by one stream; a write through the name claimed by that stream wakes
// it at once (the waker never ticks here).
func TestGlobWriteThroughClaimedNameWakesOwner(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	a, h := filepath.Join(dir, "a.log"), filepath.Join(dir, "h.log")
	appendFile(t, a, "one\n")
	if err := os.Link(a, h); err != nil {
		t.Fatal(err)
	}
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := nextWithin(t, g); got != "one\n" {
		t.Fatalf("first chunk %q", got)
	}
	// The match's pump reads on after the first chunk and goes to sleep (it is the only
	// source sleeping on w: h.log is claimed, not followed).
	testsupport.Eventually(t, func() bool { return w.Waits() > 0 }, "the glob's stream never slept")
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	type result struct {
		c   Chunk
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := g.Next(ctx, 1<<16)
		got <- result{c, err}
	}()
	appendFile(t, h, "two\n")
	r := <-got
	if r.err != nil {
		t.Fatalf("not woken by a write through h.log: %v", r.err)
	}
	if g := string(r.c.Data); g != "two\n" {
		t.Fatalf("after a write through h.log: %q", g)
	}
	if n := testutil.ToFloat64(s.m.LinesRead); n != 2 {
		t.Errorf("read %v lines, want 2", n)
	}
}

// handOverLines returns n numbered lines tagged tag, about 40 bytes each.
func handOverLines(tag string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s line %04d padding padding padding\n", tag, i)
	}
	return b.String()
}

// TestHandOverRewrittenSameHead: a file handed over between streams (here b.log's stream
// takes a hard link's file a.log's stream read and left; also a stream opened after the
// hand-over, at a rotated name a stream drained) is read on from the offset left only if
// it still holds there what was read: its head and the last bytes read before the
// offset, as every other path that finds a file left again checks. A file truncated and
// written again in place with the same first KiB (a start-up banner) and past the
// offset is not read on from the offset (its new lines before it were never shipped:
// silent loss); it is read from its start, as a file changed under the read offset is
// (the bytes up to the offset counted in file_reread_bytes_total: they may arrive twice).
// A file only appended to is read on from the offset.
func TestHandOverRewrittenSameHead(t *testing.T) {
	banner := handOverLines("banner", 0, 30) // more than FingerprintLen, the same at every start
	if len(banner) <= FingerprintLen {
		t.Fatal("banner too short")
	}
	old := banner + handOverLines("old", 0, 30)
	for _, tc := range []struct {
		name   string
		reread int // bytes read again (file_reread_bytes_total)
		change func(t *testing.T, path string) (want string)
	}{
		{"rewritten", len(old), func(t *testing.T, path string) string {
			neu := banner + handOverLines("new", 0, 60)
			if err := os.WriteFile(path, []byte(neu), 0o644); err != nil { // O_TRUNC: same inode
				t.Fatal(err)
			}
			return neu
		}},
		{"appended", 0, func(t *testing.T, path string) string {
			more := handOverLines("more", 0, 5)
			appendFile(t, path, more)
			return more
		}},
	} {
		t.Run("waiting/"+tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			appendFile(t, a, old)
			if err := os.Link(a, b); err != nil {
				t.Fatal(err)
			}
			ta := openTailer(t, s, a)
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), old)
			tb := openTailer(t, s, b) // yields the file to a's stream
			ta.Close()                // hands it over to b's at len(old)
			want := tc.change(t, b)
			w.Tick()
			wantRead(t, chunkData(readChunks(t, w, tb, 1<<16)), want)
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
			if n, want := testutil.ToFloat64(s.m.RereadBytes), float64(tc.reread); n != want {
				t.Errorf("file_reread_bytes_total %v, want %v (the bytes up to the offset left, which may arrive twice)", n, want)
			}
		})
		t.Run("later/"+tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.FromBeginning = false // a new stream: its file from its end, a file handed over from the offset left
			s := newSources(t, cfg)
			dir := t.TempDir()
			a := filepath.Join(dir, "a.log")
			appendFile(t, a, "")
			ta := openTailer(t, s, a)
			appendFile(t, a, old)
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), old)
			// Rotated: a's stream drains a.log.1, then leaves it for the new a.log,
			// handing it over at len(old) to the next stream that takes it.
			mustRename(t, a, a+".1")
			appendFile(t, a, "next\n")
			w.Tick()
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), "next\n")
			want := tc.change(t, a+".1")
			t1 := openTailer(t, s, a+".1")
			wantRead(t, chunkData(readChunks(t, w, t1, 1<<16)), want)
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
			if n, want := testutil.ToFloat64(s.m.RereadBytes), float64(tc.reread); n != want {
				t.Errorf("file_reread_bytes_total %v, want %v (the bytes up to the offset left, which may arrive twice)", n, want)
			}
		})
	}
}
