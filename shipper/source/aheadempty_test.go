package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailEmptyDeletedAheadWrittenAfterLeft (model seed 1796070000000000086, both modes):
// the shipper restarts at a checkpoint inside a file copytruncated while it was down (a
// line written in the window), drains the copy from the checkpoint while the truncated
// file at the path is held open as a newer generation seen ahead; that file is deleted
// while still empty, the copy is left (a copy ends where it ends), and only then does the
// writer, which still holds the deleted file open, append to it; then a new file is
// created at the path. The deleted file's lines must be shipped (the tailer holds its
// descriptor), before the new file's. They were lost without a count: a deleted file seen
// ahead was taken in its turn only if it had data when the followed generation was left,
// and while no file was followed only rotated names and the path were looked at.
func TestTailEmptyDeletedAheadWrittenAfterLeft(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writer, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	write := func(data string) {
		t.Helper()
		if _, err := writer.WriteString(data); err != nil {
			t.Fatal(err)
		}
	}
	a := lines("a", 1, 10)
	write(a)
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	first := readChunks(t, w, tl, 300) // a few chunks: the checkpoint is inside the file
	st := newStream(t)
	st.add(first...)
	wantRead(t, chunkData(first), a)
	if err := tl.Ack(first[len(first)-2].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()

	// While down: copytruncate to access.log.2, a line written in its window (lost).
	copyOnly(t, path, path+".2")
	stamp(t, path+".2", 1)
	write(lines("w", 1, 1))
	if err := writer.Truncate(0); err != nil {
		t.Fatal(err)
	}
	stamp(t, path, 2)

	tl = openTailer(t, s, path)
	if !strings.HasSuffix(tl.g.name, ".2") || tl.g.copyOf == 0 {
		t.Fatalf("resumed in %s, want the copy access.log.2", tl.g.name)
	}
	rest := next(t, tl, 64<<10) // the copy's rest; the empty file at the path is seen ahead
	st.add(rest)
	if !strings.HasSuffix(a, string(rest.Data)) {
		t.Fatalf("read %q after the restart, want the copy's rest from the checkpoint", rest.Data)
	}
	if aheadOf(t, tl, path) == nil {
		t.Fatal("the truncated file at the path is not held as a generation seen ahead")
	}
	mustRemove(t, path)                     // deleted while empty; the writer keeps it open
	st.add(readChunks(t, w, tl, 64<<10)...) // the copy is left

	b := lines("b", 1, 5)
	write(b) // to the deleted file the tailer holds
	st.readAll(w, tl, 64<<10, b)

	appendFile(t, path, lines("c", 1, 3)) // recreated
	st.readAll(w, tl, 64<<10, lines("c", 1, 3))
	// The window's line was written and truncated while the shipper was down: never
	// seen, so not counted (the resume logs that such lines, if any, are lost).
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost bytes %v, want 0: every byte the tailer saw was read", lost)
	}
	if gens := testutil.ToFloat64(s.m.GenerationsFound); gens == 0 {
		t.Error("generations_found_total is 0: the deleted file was not drained as a generation seen ahead")
	}
}
