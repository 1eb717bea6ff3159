package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailTruncatedWhileLinePendingRefilled: a file truncated while part of a line of it
// was read (pending) is read from its start once that part is shipped terminated, even
// when it was written again before the tailer looked once more, as long as the read
// offset and starting with the same bytes (the head known was only that part). The new
// content's first bytes were taken for bytes read and skipped, silently
// (TestTailModel -model.watch, seed 1796300000000000884 at 60 operations: "g" of a line
// read, the file truncated, "g8-l51-..." shipped as "8-l51-...").
func TestTailTruncatedWhileLinePendingRefilled(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.NoWatch = true
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "")
	tl := openTailer(t, s, path)
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q from an empty file", got)
	}
	appendFile(t, path, "line-")
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q, want nothing yet (part of a line)", got)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// One chunk: the part read, terminated; the reader stops there (its window full).
	c, err := tl.Next(context.Background(), 64<<10)
	if err != nil || string(c.Data) != "line-\n" {
		t.Fatalf("Next after the truncation: %q, %v; want the part read, terminated", c.Data, err)
	}
	want := "line-new-1\nline-new-2\n"
	appendFile(t, path, want)
	if got := readAll(t, w, tl, 64<<10); got != want {
		t.Fatalf("read %q from the truncated file written again, want %q", got, want)
	}
	if n := testutil.ToFloat64(s.m.FilesTruncated); n != 1 {
		t.Errorf("files_truncated_total %v, want 1", n)
	}
}
