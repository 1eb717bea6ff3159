package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// readAll reads src until want bytes arrived (or io.EOF) and checks that the offsets are
// contiguous from off.
func readFrom(t *testing.T, src Source, off uint64, want int) (string, []Chunk) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	var b strings.Builder
	var chunks []Chunk
	for b.Len() < want {
		c, err := src.Next(ctx, 1000)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Offset != off {
			t.Fatalf("chunk at offset %d, want %d", c.Offset, off)
		}
		off = c.End()
		b.Write(c.Data)
		chunks = append(chunks, c)
	}
	return b.String(), chunks
}

// TestTailRewind: a tailer reads again, with the same offsets, from a position it
// returned, from where it was opened (nil), and across a rotation since.
func TestTailRewind(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	var content strings.Builder
	for i := range 300 {
		content.WriteString(strings.Repeat("r", i%50) + "\n")
	}
	appendFile(t, path, content.String())
	tl := openTailer(t, s, path)
	got, chunks := readFrom(t, tl, 0, content.Len())
	if got != content.String() {
		t.Fatalf("first read differs")
	}
	mid := chunks[len(chunks)/2]
	if err := tl.Rewind(&mid.Pos); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, tl, mid.End(), content.Len()-int(mid.End())); got != content.String()[mid.End():] {
		t.Fatalf("after rewind to %d: got %d bytes", mid.End(), len(got))
	}
	// Rotate, then rewind to the start: the old file is found by its identity and read
	// from 0, then the new one.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "after rotation\n")
	if err := tl.Rewind(nil); err != nil {
		t.Fatal(err)
	}
	want := content.String() + "after rotation\n"
	if got, _ := readFrom(t, tl, 0, len(want)); got != want {
		t.Fatalf("after rewind to the start: got %d bytes, want %d", len(got), len(want))
	}
	other := Checkpoint{Path: "/elsewhere", Stream: 1}
	if err := tl.Rewind(&other); err == nil {
		t.Fatal("rewind to another source's position accepted")
	}
}

// TestJournalRewind: the journal reads again from a position at or after the last
// acknowledged one; earlier positions are refused.
func TestJournalRewind(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalSegment = 4096
	cfg.JournalMax = 1 << 20
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	var want strings.Builder
	var got string
	var chunks []Chunk
	// Two halves, the second written once the first was read: the first fills (and
	// closes) a segment of its own.
	for half := range 2 {
		var part strings.Builder
		for i := range 150 {
			part.WriteString(strings.Repeat("j", (i+half)%80) + "\n")
		}
		pw.WriteString(part.String())
		g, c := readFrom(t, j, uint64(want.Len()), part.Len())
		want.WriteString(part.String())
		got += g
		chunks = append(chunks, c...)
	}
	pw.Close()
	if got != want.String() {
		t.Fatalf("first read differs")
	}
	if err := j.Rewind(nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, j, 0, want.Len()+1); got != want.String() {
		t.Fatalf("after rewind to the start: %d bytes", len(got))
	}
	acked := chunks[len(chunks)-2]
	if err := j.Ack(acked.Pos); err != nil {
		t.Fatal(err)
	}
	if err := j.Rewind(&acked.Pos); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, j, acked.End(), want.Len()+1); got != want.String()[acked.End():] {
		t.Fatalf("after rewind to %d: %d bytes", acked.End(), len(got))
	}
	if err := j.Rewind(nil); err == nil {
		t.Fatal("rewind before the acknowledged (deleted) segments accepted")
	}
}

// TestJournalRewindAcked: a journal taken over by a new reader (RewindAcked) returns
// again everything after the last acknowledged position, with the same offsets, and an
// older acknowledgement arriving late does not move that position back.
func TestJournalRewindAcked(t *testing.T) {
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	var want strings.Builder
	for i := range 200 {
		want.WriteString(strings.Repeat("k", i%60) + "\n")
	}
	pw.WriteString(want.String())
	defer pw.Close()
	// Nothing acknowledged: from the start.
	readFrom(t, j, 0, want.Len())
	if err := j.RewindAcked(); err != nil {
		t.Fatal(err)
	}
	got, chunks := readFrom(t, j, 0, want.Len())
	if got != want.String() {
		t.Fatalf("after RewindAcked with nothing acknowledged: %d bytes, want %d", len(got), want.Len())
	}
	acked, older := chunks[len(chunks)/2], chunks[len(chunks)/4]
	for _, c := range []Chunk{acked, older} {
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.RewindAcked(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, j, acked.End(), want.Len()-int(acked.End())); got != want.String()[acked.End():] {
		t.Fatalf("after RewindAcked past %d: %d bytes", acked.End(), len(got))
	}
}

// TestGlobRewindStream: a glob reads one match's stream again from a position it
// returned, through its rotated generation, while the other match is not touched; the
// chunks after the rewind carry a higher epoch. When the generation holding the
// position is deleted, the stream continues at the offset the next generation had: the
// gap is exactly what was deleted after the position.
func TestGlobRewindStream(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	lines := func(tag string, n int) string {
		var sb strings.Builder
		for i := range n {
			sb.WriteString(tag + strings.Repeat("x", i%40) + "\n")
		}
		return sb.String()
	}
	a1, a2, a3, b1 := lines("a1", 200), lines("a2", 150), lines("a3", 100), lines("b1", 100)
	appendFile(t, a, a1)
	appendFile(t, b, b1)
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	// read returns the data of stream of path read until it holds n bytes, checking
	// that its offsets are contiguous from off and its epoch is epoch; chunks of the
	// other match are kept in other.
	var other []Chunk
	read := func(path string, off uint64, n int, epoch uint64) (string, []Chunk) {
		t.Helper()
		var sb strings.Builder
		var cs []Chunk
		for sb.Len() < n {
			w.Tick()
			c, err := g.Next(ctx, cfg.ChunkMax)
			if err != nil {
				t.Fatal(err)
			}
			if c.Pos.Path != path {
				other = append(other, c)
				continue
			}
			if c.Epoch < epoch {
				continue // read before the rewind: the caller drops it
			}
			if c.Offset != off || c.Epoch != epoch {
				t.Fatalf("%s: chunk at %d, epoch %d; want %d, epoch %d", path, c.Offset, c.Epoch, off, epoch)
			}
			off = c.End()
			sb.WriteString(string(c.Data))
			cs = append(cs, c)
		}
		return sb.String(), cs
	}
	got, chunks := read(a, 0, len(a1), 0)
	if got != a1 {
		t.Fatal("first read differs")
	}
	// Rotate a (a1 and a2 in a.log.1, a3 in a new a.log) and read it all.
	appendFile(t, a, a2)
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, a, a3)
	if got, _ := read(a, uint64(len(a1)), len(a2)+len(a3), 0); got != a2+a3 {
		t.Fatalf("after the rotation: %q", got)
	}
	mid := chunks[len(chunks)/2]
	stream := mid.Stream
	e1, err := g.RewindStream(stream, &mid.Pos)
	if err != nil || e1 == 0 {
		t.Fatalf("rewind: epoch %d, %v", e1, err)
	}
	all := a1 + a2 + a3
	if got, _ := read(a, mid.End(), len(all)-int(mid.End()), e1); got != all[mid.End():] {
		t.Fatalf("after the rewind to %d: %d bytes", mid.End(), len(got))
	}
	// The generation holding mid is deleted: a rewind to it continues with a3 at the
	// offset it had.
	if err := os.Remove(a + ".1"); err != nil {
		t.Fatal(err)
	}
	e2, err := g.RewindStream(stream, &mid.Pos)
	if err != nil || e2 <= e1 {
		t.Fatalf("second rewind: epoch %d after %d, %v", e2, e1, err)
	}
	if got, _ := read(a, uint64(len(a1)+len(a2)), len(a3), e2); got != a3 {
		t.Fatalf("after the generation was deleted: %q", got)
	}
	// b was read once, untouched by a's rewinds.
	for n := 0; n < len(b1); {
		n = 0
		for _, c := range other {
			n += len(c.Data)
		}
		if n < len(b1) {
			w.Tick()
			c, err := g.Next(ctx, cfg.ChunkMax)
			if err != nil || c.Pos.Path != b {
				t.Fatalf("waiting for b: %s at %d, %v", c.Pos.Path, c.Offset, err)
			}
			other = append(other, c)
		}
	}
	var bs strings.Builder
	for _, c := range other {
		if c.Offset != uint64(bs.Len()) || c.Epoch != 0 {
			t.Fatalf("b: chunk at %d, epoch %d", c.Offset, c.Epoch)
		}
		bs.WriteString(string(c.Data))
	}
	if bs.String() != b1 {
		t.Fatalf("b read %d bytes, want %d once", bs.Len(), len(b1))
	}
	if _, err := g.RewindStream(12345, nil); !errors.Is(err, ErrNotFollowed) {
		t.Fatalf("rewind of a stream not followed: %v", err)
	}
}
