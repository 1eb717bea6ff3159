package source

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// streamBytes rebuilds a stream from chunks as collectors de-duplicate it (by logical
// offset): a chunk at offsets that already hold bytes must carry the same bytes.
type streamBytes map[uint64]byte

func (s streamBytes) add(t *testing.T, cs []Chunk) {
	t.Helper()
	for _, c := range cs {
		for i, b := range c.Data {
			off := c.Offset + uint64(i)
			if old, ok := s[off]; ok && old != b {
				t.Fatalf("chunk at %d (%q) carries other bytes than first sent at offset %d: offsets reused (collectors drop the new lines as duplicates)", c.Offset, c.Data, off)
			}
			s[off] = b
		}
	}
}

// TestTailRestartCheckpointInGenerationLeftThatGrew: the checkpoint (acknowledged
// position) is inside access.log's old generation when the tailer left it for the new
// file, and the old writer appended to the renamed generation (access.log.1) after that
// (an Apache graceful restart's old children). A restart reads the old generation from
// the checkpoint only up to where the run before left it, at the offsets it had then;
// what was appended after is read after the new file's offsets, never at them (issue 10,
// hole (a): collectors dropped those lines as duplicates of the new file's first lines).
func TestTailRestartCheckpointInGenerationLeftThatGrew(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	old := r.create()
	r.write(old, "old 0\nold 1\nold 2\n")
	r.start()
	c1 := next(t, r.tl, 6) // "old 0\n"
	c2 := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c1, c2})
	if err := r.tl.Ack(c1.Pos); err != nil { // the checkpoint inside the old generation
		t.Fatal(err)
	}
	r.rename(".1")
	live := r.create()
	r.write(live, "new 0\nnew 1\n")
	r.readWant(false, "new 0\nnew 1\n", "first run read %q after the rotation, want the new file's lines")
	r.write(old, "old 3\nold 4\n") // the old children, after the tailer left for the new file
	r.restart()
	r.write(live, "new 2\n")
	r.drain(4)
	r.check(map[string]int{"old": 5, "new": 3})
}

// lines returns the stream's lines in offset order.
func (s streamBytes) lines() []string {
	offs := slices.Sorted(maps.Keys(s))
	b := make([]byte, 0, len(offs))
	for _, off := range offs {
		b = append(b, s[off])
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func chunkBytes(cs []Chunk) string {
	var b strings.Builder
	for _, c := range cs {
		b.Write(c.Data)
	}
	return b.String()
}

// TestTailLingeringReadWhileRenamedFollowed: the tailer follows a renamed generation
// (access.log.2: the new access.log is still empty, its writer may not have reopened)
// while an older one it left (access.log.1) lingers; the old writer of access.log.1
// appends. Those lines are read now, not only once the new file has data (or never, when
// the shipper stops before: the next run reads them).
func TestTailLingeringReadWhileRenamedFollowed(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	a := openAppend(t, path)
	writeString(t, a, "a 0\n")
	tl := openTailer(t, s, path)
	r := startReader(t, acking{tl}, 64<<10)
	waitLines(t, r, w, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	b := openAppend(t, path)
	writeString(t, b, "b 0\n")
	waitLines(t, r, w, 2) // a left (lingering), b followed
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	openAppend(t, path) // the new access.log, empty: b is still followed
	writeString(t, b, "b 1\n")
	waitLines(t, r, w, 3)
	writeString(t, a, "a 1\na 2\n") // a's old writer
	got := waitLines(t, r, w, 5)
	checkGenerations(t, got, map[string]int{"a": 3, "b": 2})
}

// TestTailResumedLingeringReadWhileRenamedFollowed: after a restart the tailer drains
// the generation renamed while it was down (access.log.2; the new access.log is still
// empty) while an older one the run before left (access.log.1, grown since: its writer
// still holds it, resumeLinger) lingers, its writer appending still. Its lines are read
// once each, in this run: not only once the new file gets data, and not again by its
// lingering descriptor after a look for rotated generations drained it as one not read
// yet.
func TestTailResumedLingeringReadWhileRenamedFollowed(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	a := openAppend(t, path)
	writeString(t, a, "a 0\n")
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startReader(t, acking{tl}, 64<<10)
	waitLines(t, r, w, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	b := openAppend(t, path)
	writeString(t, b, "b 0\n")
	waitLines(t, r, w, 2) // a left (lingering), b followed
	r.stop()
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	// While the shipper is down.
	writeString(t, a, "a 1\n")
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	c := openAppend(t, path) // the new access.log, empty
	writeString(t, b, "b 1\n")
	tl = openTailer(t, s, path)
	r = startReader(t, acking{tl}, 64<<10)
	waitLines(t, r, w, 2) // a 1, b 1
	writeString(t, a, "a 2\n")
	waitLines(t, r, w, 3)
	// The new children begin; the old ones still write.
	writeString(t, c, "c 0\n")
	waitLines(t, r, w, 4)
	writeString(t, a, "a 3\n")
	waitLines(t, r, w, 5)
	writeString(t, c, "c 1\n")
	got := waitLines(t, r, w, 6)
	// Each line once, a's and c's in order.
	want := []string{"a 1", "a 2", "a 3", "b 1", "c 0", "c 1"}
	if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("after the restart read %q, want each of %q once", got, want)
	}
	for _, p := range [][2]string{{"a 1", "a 2"}, {"a 2", "a 3"}, {"c 0", "c 1"}} {
		if slices.Index(got, p[0]) > slices.Index(got, p[1]) {
			t.Fatalf("after the restart read %q: %q after %q", got, p[0], p[1])
		}
	}
}

// TestTailRestartWalkedGenerationLeftThatGrew: as TestTailRestartCheckpointInGenerationLeftThatGrew,
// for a generation after the checkpointed one: the checkpoint is in access.log's first
// generation (a crash before any later save); the second was left for the third, and its
// old writer appended after that. The walk from the checkpoint reads the second only up
// to where the run before left it, at the offsets it had; what was appended goes after
// the third's offsets (it went at them, and the third, its recorded offsets taken, was
// taken for destroyed: a jump, its lines sent twice).
func TestTailRestartWalkedGenerationLeftThatGrew(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\na 1\n")
	r.start()
	c1 := next(t, r.tl, 4) // "a 0\n"
	r.stream.add(t, []Chunk{c1})
	if err := r.tl.Ack(c1.Pos); err != nil { // the checkpoint inside the first generation
		t.Fatal(err)
	}
	r.read(false)
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\nb 1\n")
	r.read(false)
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\nc 1\n")
	r.readWant(false, "c 0\nc 1\n", "first run read %q after the second rotation, want the third file's lines")
	r.write(b, "b 2\nb 3\n") // b's old writer, after the tailer left b for c
	r.restart()
	r.write(c, "c 2\n")
	r.drain(4)
	r.check(map[string]int{"a": 2, "b": 4, "c": 3})
}

// TestTailRestartParkedGeneration: the tailer parked access.log (b, everything read of it
// acknowledged) to read what a's old writer appended to access.log.1 after b began, and
// stopped before that was acknowledged. The restart's checkpoint is where b was parked:
// a's lines are read again at the offsets they had, then b on from where it was parked,
// never from its start at other offsets.
func TestTailRestartParkedGeneration(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.read(true)
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(a, "a 1\n")
	r.readWant(false, "a 1\n", "read %q, want a's line appended after b began")
	r.restart()
	r.write(b, "b 1\n")
	for range 4 {
		if r.read(true) == "" {
			break
		}
	}
	r.check(map[string]int{"a": 2, "b": 2})
}
