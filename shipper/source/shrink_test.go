package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailShrunkThenWritten: a file truncated to a smaller size (truncate -s N at a line
// end) and written to before the tailer looked again is read again from its start: its
// first N bytes cannot be told from the same bytes written again (a rewrite with the
// same banner), so none is skipped (before, it was read on from N). The lines written
// after the truncation arrive once, the N bytes again, counted in file_reread_bytes_total.
// Within the head the head read tells the change; past it, the size; a file written
// past the read offset again is told by its last bytes read.
func TestTailShrunkThenWritten(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first       string
		keep        int64
		after, want string
	}{
		{"within the head", lines("a", 1, 10), int64(len(lines("a", 1, 4))), lines("n", 1, 2), lines("n", 1, 2)},
		{"past the head", lines("a", 1, 200), int64(len(lines("a", 1, 100))), lines("n", 1, 3), lines("n", 1, 3)},
		{"past the read offset", lines("a", 1, 200), int64(len(lines("a", 1, 150))), lines("n", 1, 80), lines("n", 1, 80)},
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
			appendFile(t, path, tc.after) // before the tailer looks
			wantRead(t, readOn(t, w, tl, &off), tc.first[:tc.keep]+tc.want)
			if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(min(tc.keep+int64(len(tc.after)), int64(len(tc.first)))); got != want {
				t.Errorf("reread bytes %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(s.m.FilesTruncated); got != 1 {
				t.Errorf("truncations %v, want 1", got)
			}
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
		})
	}
}

// TestTailShrunkWhileDown: a file truncated to a smaller size while the tailer was
// closed (and written to before it opened again) is read again from its start (before,
// it was read on from where it stops holding what was read): the new lines once, the
// bytes kept again (counted in file_reread_bytes_total), nothing lost, no jump.
func TestTailShrunkWhileDown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string
		keep  int64
		after string
	}{
		{"to the head's size", lines("a", 1, 10), int64(len(lines("a", 1, 4))), ""},
		{"then written", lines("a", 1, 10), int64(len(lines("a", 1, 4))), lines("n", 1, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, tc.first)
			tl := openTailer(t, s, path)
			cs := readChunks(t, w, tl, 4096)
			wantRead(t, chunkData(cs), tc.first)
			last := cs[len(cs)-1]
			off := last.Offset + uint64(len(last.Data))
			if err := tl.Ack(last.Pos); err != nil {
				t.Fatal(err)
			}
			tl.Close()
			if err := os.Truncate(path, tc.keep); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, tc.after)
			tl = openTailer(t, s, path)
			wantRead(t, readOn(t, w, tl, &off), tc.first[:tc.keep]+tc.after)
			if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(min(tc.keep+int64(len(tc.after)), int64(len(tc.first)))); got != want {
				t.Errorf("reread bytes %v, want %v", got, want)
			}
			appendFile(t, path, lines("m", 1, 2))
			wantRead(t, readOn(t, w, tl, &off), lines("m", 1, 2))
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
			if got := testutil.ToFloat64(s.m.StreamJumps); got != 0 {
				t.Errorf("stream jumps %v, want 0", got)
			}
		})
	}
}

// TestTailComeBackRenamedAwayAgain: a file drained and left comes back to the path, is
// written to, and is renamed away again (a new file at the path) before the tailer
// looked: it is not taken for a generation read whole, its new lines are drained from
// where it was left, once.
func TestTailComeBackRenamedAwayAgain(t *testing.T) {
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
	rename(t, path, path+".green")
	rename(t, path+".blue", path)
	appendFile(t, path, lines("a", 51, 60))
	rename(t, path, path+".1") // a rotated name
	appendFile(t, path, lines("c", 1, 5))
	wantRead(t, readOn(t, w, tl, &off), lines("a", 51, 60)+lines("c", 1, 5))
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}

// TestTailShrunkWrittenAndCopied: a file truncated to a smaller size, written to, then
// copied and truncated (copytruncate), all before the tailer looked: the copy is drained
// from its start (before, from where it stops holding what was read: its first bytes
// may be the same bytes written again), then the file from its start: the new lines
// once, the kept ones again, counted in file_reread_bytes_total. So too when what was
// kept and the copy go past the head (the first KiB): the copy, shorter than the read
// offset and starting with the head, was taken for a copy of bytes read only
// (findReadCopy) and the new lines in it never shipped, uncounted.
func TestTailShrunkWrittenAndCopied(t *testing.T) {
	for _, c := range []struct{ read, kept, written int }{{10, 4, 3}, {30, 20, 3}, {30, 20, 1}} {
		t.Run(fmt.Sprintf("read=%d-kept=%d-written=%d", c.read, c.kept, c.written), func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, lines("a", 1, c.read))
			tl := openTailer(t, s, path)
			var off uint64
			wantRead(t, readOn(t, w, tl, &off), lines("a", 1, c.read))
			if err := os.Truncate(path, int64(len(lines("a", 1, c.kept)))); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines("n", 1, c.written))
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
			appendFile(t, path, lines("m", 1, 2))
			wantRead(t, readOn(t, w, tl, &off), lines("a", 1, c.kept)+lines("n", 1, c.written)+lines("m", 1, 2))
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
			if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(len(lines("a", 1, c.kept))); got != want {
				t.Errorf("reread bytes %v, want %v", got, want)
			}
		})
	}
}

// TestTailShrunkAfterCheckpoint: a file read past its checkpoint and truncated to a
// smaller size (still past the checkpoint) while the tailer is closed: after the restart
// what it holds past the checkpoint is sent again at its offsets, and the lines written
// after the truncation go after the offsets the old content used: no offset carries other
// bytes than first sent there, each line once. With runs between that stopped before
// they read up to where the file stops holding the old content (seed 658 of TestTailModel
// -model.shrink), their checkpoints keep the skip they had yet to make (Checkpoint.Skip),
// so the next run skips the same offsets. Before, such a run's stop checkpoint held the
// shrunk size only, and the next run read the new lines at the offsets of the old
// content the first run had sent: collectors would have dropped them as duplicates.
func TestTailShrunkAfterCheckpoint(t *testing.T) {
	for _, between := range []int{0, 2} {
		t.Run(fmt.Sprintf("runs_between=%d", between), func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, lines("a", 1, 10))
			tl := openTailer(t, s, path)
			cs := readChunks(t, w, tl, 100) // a line a chunk
			wantRead(t, chunkData(cs), lines("a", 1, 10))
			if err := tl.Ack(cs[1].Pos); err != nil { // after line 2
				t.Fatal(err)
			}
			tl.Close()
			sent := map[uint64][]byte{}
			for _, c := range cs {
				sent[c.Offset] = c.Data
			}
			if err := os.Truncate(path, int64(len(lines("a", 1, 6)))); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines("n", 1, 3))
			for range between { // each reads one kept line, not acknowledged
				tl = openTailer(t, s, path)
				c, err := tl.Next(context.Background(), 100)
				if err != nil {
					t.Fatal(err)
				}
				if d, ok := sent[c.Offset]; !ok || string(d) != string(c.Data) {
					t.Fatalf("offset %d: %q, first sent %q", c.Offset, c.Data, d)
				}
				tl.Close()
			}
			tl = openTailer(t, s, path)
			var got string
			for _, c := range readChunks(t, w, tl, 100) {
				if d, ok := sent[c.Offset]; ok && string(d) != string(c.Data) {
					t.Fatalf("offset %d sent again with other bytes: %q, first %q", c.Offset, c.Data, d)
				} else if !ok {
					got += string(c.Data)
				}
			}
			wantRead(t, got, lines("n", 1, 3))
		})
	}
}

// TestTailShrunkReadOnThenRestart: a file shrunk while followed is read again from its
// start (before, it was read on from N); a restart from a checkpoint before the shrink
// walks as that run went: the old content's offsets after the checkpoint are skipped
// (destroyed), the file read again at the offsets that run gave it (the same bytes),
// and the lines written since sent once: no offset carries other bytes than first sent
// there.
func TestTailShrunkReadOnThenRestart(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	cs := readChunks(t, w, tl, 100) // a line a chunk
	wantRead(t, chunkData(cs), lines("a", 1, 10))
	if err := os.Truncate(path, int64(len(lines("a", 1, 6)))); err != nil {
		t.Fatal(err)
	}
	again := readChunks(t, w, tl, 100)
	wantRead(t, chunkData(again), lines("a", 1, 6))
	appendFile(t, path, lines("n", 1, 3))
	more := readChunks(t, w, tl, 100)
	wantRead(t, chunkData(more), lines("n", 1, 3))
	if err := tl.Ack(cs[1].Pos); err != nil { // after line 2, before the shrink
		t.Fatal(err)
	}
	tl.Close()
	sent := map[uint64][]byte{}
	for _, c := range append(append(cs, again...), more...) {
		sent[c.Offset] = c.Data
	}
	appendFile(t, path, lines("n", 4, 5))
	tl = openTailer(t, s, path)
	var got string
	for _, c := range readChunks(t, w, tl, 100) {
		if d, ok := sent[c.Offset]; ok && string(d) != string(c.Data) {
			t.Fatalf("offset %d sent again with other bytes: %q, first %q", c.Offset, c.Data, d)
		} else if !ok {
			got += string(c.Data)
		}
	}
	wantRead(t, got, lines("n", 4, 5))
}

// TestTailShrunkAndRotatedWhileDown: the checkpointed file, truncated to a smaller size,
// written to and rotated (renamed) while the tailer was closed, is drained from its start
// (before, from where it stops holding what was read), then the new file at the path:
// each new line once, the kept ones again.
func TestTailShrunkAndRotatedWhileDown(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	cs := readChunks(t, w, tl, 4096)
	wantRead(t, chunkData(cs), lines("a", 1, 10))
	last := cs[len(cs)-1]
	off := last.Offset + uint64(len(last.Data))
	if err := tl.Ack(last.Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	if err := os.Truncate(path, int64(len(lines("a", 1, 4)))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("n", 1, 2))
	rename(t, path, path+".1")
	appendFile(t, path, lines("m", 1, 2))
	tl = openTailer(t, s, path)
	wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 4)+lines("n", 1, 2)+lines("m", 1, 2))
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}
