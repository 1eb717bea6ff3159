package source

import (
	"context"
	"os"
	"path/filepath"
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

// TestHandOverChecksHead: a hand-over is taken only by the file that was left: a file
// that got the left file's inode (the left one deleted) but starts otherwise is read
// from its start.
func TestHandOverChecksHead(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x.log")
	appendFile(t, name, "other content\nmore\n")
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fp, _, err := fingerprintFile(f, 8)
	if err != nil {
		t.Fatal(err)
	}
	h := handOver{off: 14, key: fileKey{fpLen: 8, fp: fp}}
	if off := handedAt(f, 19, h); off != 14 {
		t.Errorf("same head: %d, want 14", off)
	}
	h.key.fp++
	if off := handedAt(f, 19, h); off != 0 {
		t.Errorf("another head: %d, want 0", off)
	}
	h.key.fp--
	if off := handedAt(f, 10, h); off != 0 {
		t.Errorf("truncated under the offset: %d, want 0", off)
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
