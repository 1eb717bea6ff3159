package source

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// case20Lines returns n lines "<g> i\n", i from 0, each padded to 40 bytes.
func case20Lines(g string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%-39s\n", fmt.Sprintf("%s %d", g, i))
	}
	return b.String()
}

// countedGap returns the bytes chunks announce lost (Chunk.Lost) that are not announced
// unused: what a collector lacking them counts as a gap of known size.
func countedGap(cs []Chunk) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.Lost
		for _, u := range c.Unused {
			n -= u.To - u.From
		}
	}
	return n
}

// linesAt returns the offsets in the stream of the lines from first up to and including
// last (40 bytes each, case20Lines) as the chunks cs returned them.
func linesAt(t *testing.T, cs []Chunk, first, last string) (from, to uint64) {
	t.Helper()
	for _, ch := range cs {
		if i := strings.Index(string(ch.Data), first); i >= 0 && to == 0 {
			from = ch.Offset + uint64(i)
		}
		if i := strings.Index(string(ch.Data), last); i >= 0 {
			to = ch.Offset + uint64(i) + 40
		}
	}
	if to == 0 {
		t.Fatalf("no line %q returned: %q", last, chunkBytes(cs))
	}
	return from, to
}

// readTicked reads until the tailer sleeps, ticks, and reads again.
func (r *restartRig) readTicked() []Chunk {
	r.t.Helper()
	cs := readChunks(r.t, r.w, r.tl, 64<<10)
	r.w.Tick()
	return append(cs, readChunks(r.t, r.w, r.tl, 64<<10)...)
}

// case20Run1 runs run 1 of bench case 20 on f, the file at r's path: it writes a's
// lines (returned), reads them, copytruncates them to .1, writes b's lines, reads them
// (returned, nothing acknowledged), and kills the tailer. It returns a's lines.
func case20Run1(r *restartRig, f *os.File) string {
	t := r.t
	t.Helper()
	a := case20Lines("a", 5)
	r.write(f, a)
	r.start()
	r.read(false)
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("b", 5))
	r.w.Tick()
	r.read(false)
	r.kill()
	return a
}

// rotateCopy does what logrotate copytruncate with rotate count does to path: its
// rotated copy .count deleted, the others renamed one up (.1 to .2 ...), path copied to
// .1 and truncated.
func rotateCopy(t *testing.T, path string, count int) {
	t.Helper()
	if err := os.Remove(path + "." + strconv.Itoa(count)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for i := count - 1; i >= 1; i-- {
		if _, err := os.Stat(path + "." + strconv.Itoa(i)); err == nil {
			mustRename(t, path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1))
		}
	}
	copyTruncate(t, path, path+".1")
}

// readRotatingAtLook starts r's tailer again and reads until it sleeps, while at its nth
// decided look (lookHook "decided": the rotated names listed) rotate runs and during is
// written to f; then it writes after to f and reads on. It returns the chunks read, and
// skips the test when the tailer looked fewer than nth times.
func (r *restartRig) readRotatingAtLook(f *os.File, nth int, rotate func(), during, after string) []Chunk {
	t := r.t
	t.Helper()
	r.start()
	n, done := 0, false
	r.tl.lookHook = func(stage string, prev bool) {
		if stage != "decided" || done {
			return
		}
		if n++; n == nth {
			done = true
			rotate()
			r.write(f, during)
		}
	}
	cs := r.readTicked()
	r.tl.lookHook = nil
	r.write(f, after)
	r.w.Tick()
	cs = append(cs, r.readTicked()...)
	logChunks(t, cs)
	if !done {
		t.Skip("fewer looks than", nth)
	}
	return cs
}

// logChunks logs the chunks cs, each with its first line.
func logChunks(t *testing.T, cs []Chunk) {
	t.Helper()
	for _, c := range cs {
		t.Logf("chunk offset=%d span=%d lost=%d unused=%v data=%q", c.Offset, c.Span, c.Lost, c.Unused, firstLine(c.Data))
	}
}

// wantOnce fails for each of lines that got does not hold exactly once.
func wantOnce(t *testing.T, got string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if n := strings.Count(got, l); n != 1 {
			t.Errorf("%q read %d times", l, n)
		}
	}
}

// wantBefore fails unless got holds line a before line b.
func wantBefore(t *testing.T, got, a, b string) {
	t.Helper()
	if i, j := strings.Index(got, a), strings.Index(got, b); i < 0 || j < i {
		t.Errorf("%q not read before %q: %q", a, b, got)
	}
}

// case20Runs runs runs 1 and 2 of bench case 20 (copytruncate, a rotate count, a SIGKILL
// loop, nothing acknowledged): run 1 reads a (then copytruncated to .1) and b in the file
// at the path, and is killed. While down, copytruncate again (b to .1, a deleted by the
// rotate count), and c is written. Run 2 walks from its checkpoint: a is gone (counted),
// it reads b's copy again and c's lines in the file at the path (returned, not
// acknowledged: the collector may never get them), and is killed. It returns run 2's
// chunks.
func case20Runs(r *restartRig, f *os.File) []Chunk {
	t := r.t
	t.Helper()
	case20Run1(r, f)

	// Down: logrotate copytruncate, rotate 1 (a's copy deleted), c written.
	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	if err := os.Remove(r.path + ".2"); err != nil {
		t.Fatal(err)
	}
	r.write(f, case20Lines("c", 7))
	r.start()
	return r.readTicked()
}

// case20Down makes, while the shipper is down after run 2, b's copy and c gone
// (copytruncated, its copy then deleted by the rotate count), d's copy at .1 and e in
// the file at the path.
func case20Down(r *restartRig, f *os.File) {
	t := r.t
	t.Helper()
	if err := os.Remove(r.path + ".1"); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("d", 3))
	copyTruncate(t, r.path, r.path+".2")
	if err := os.Remove(r.path + ".1"); err != nil {
		t.Fatal(err)
	}
	mustRename(t, r.path+".2", r.path+".1")
	r.write(f, case20Lines("e", 3))
}

// case20Run3 kills run 2, makes the changes of case20Down while down, and runs run 3
// until it sleeps: it returns run 3's chunks, which read d's and e's lines.
func case20Run3(r *restartRig, f *os.File) []Chunk {
	r.t.Helper()
	r.kill()
	case20Down(r, f)
	r.start()
	cs := r.readTicked()
	if !strings.Contains(chunkBytes(cs), "e 2") {
		r.t.Fatalf("run 3 read %q, want d's and e's lines", chunkBytes(cs))
	}
	return cs
}

// wantCounted fails unless the chunks cs cover the offsets [from, to), of a generation
// seen (and perhaps returned) by a run before, destroyed since, with a loss notice, none
// of them announced unused: collectors that lack those bytes count a gap of their size,
// never an unknown one.
func wantCounted(t *testing.T, cs []Chunk, from, to uint64, what string) {
	t.Helper()
	var unused uint64
	covered := false
	logChunks(t, cs)
	for _, ch := range cs {
		if ch.Offset-ch.Lost <= from && ch.Offset >= to {
			covered = true
		}
		for _, u := range ch.Unused {
			unused += u.To - u.From
			if lo, hi := max(u.From, from), min(u.To, to); lo < hi {
				t.Errorf("[%d, %d) announced unused: %d bytes of %s [%d, %d) are not a counted gap", u.From, u.To, hi-lo, what, from, to)
			}
		}
	}
	if !covered {
		t.Errorf("no loss notice covers %s [%d, %d)", what, from, to)
	}
	t.Logf("counted gap %d bytes, unused %d offsets", countedGap(cs), unused)
}

// TestTailCase20GenerationSeenByCrashedRunNotSized (bench case 20, ROTATE=5): after runs
// 1 and 2 (case20Runs), the rotate count deletes every copy holding a, b and c
// (copytruncate twice more, d then e written). Run 3 walks from the checkpoint again:
// c's generation, recorded by run 2 with its head and the size it was seen at, is gone.
// Its bytes existed and were seen; the contract (issue 10) wants them in a counted gap of
// their size, never in offsets announced unused (an unknown gap at collectors).
func TestTailCase20GenerationSeenByCrashedRunNotSized(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	cFrom, cTo := linesAt(t, case20Runs(r, f), "c 0 ", "c 6 ")
	if cTo-cFrom != 7*40 {
		t.Fatalf("run 2 returned c at [%d, %d), want its %d bytes", cFrom, cTo, 7*40)
	}
	cs := case20Run3(r, f)
	wantCounted(t, cs, cFrom, cTo, "c, seen and returned by run 2,")
}

// TestTailCase20GenerationGrownByCrashedRunSized: as TestTailCase20GenerationSeenByCrashedRunNotSized,
// but c grows while run 2 reads it (c' written, read and returned), and a checkpoint is
// saved after that (b's copy acknowledged): the record says how much c was seen to hold
// then (a Grown line, refreshSeen), and run 3 counts all of it (c and c') as possibly
// sent, not only what c held when run 2 entered it.
func TestTailCase20GenerationGrownByCrashedRunSized(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	cs2 := case20Runs(r, f)
	r.write(f, case20Lines("c'", 9))
	r.w.Tick()
	cs2 = append(cs2, r.readTicked()...)
	cFrom, cTo := linesAt(t, cs2, "c 0 ", "c' 8 ")
	if cTo-cFrom != 16*40 {
		t.Fatalf("run 2 returned c and c' at [%d, %d), want their %d bytes", cFrom, cTo, 16*40)
	}
	acked := false
	for _, ch := range cs2 {
		if strings.Contains(string(ch.Data), "b 0 ") {
			if err := r.tl.Ack(ch.Pos); err != nil {
				t.Fatal(err)
			}
			acked = true
		}
	}
	if !acked {
		t.Fatalf("run 2 did not return b's copy again: %q", chunkBytes(cs2))
	}
	r.readTicked() // (the tailer looks again: the checkpoint saved, it records c's size)
	cs := case20Run3(r, f)
	wantCounted(t, cs, cFrom, cTo, "c and c', seen and returned by run 2,")
}

// TestTailCase20JumpRecordsGenerationEntered: run 3 of TestTailCase20GenerationSeenByCrashedRunNotSized
// jumps past the offsets the runs before used to enter d's copy. It is killed right after
// the jump's write (the record is put back as it was then: nothing written after it
// survives), and d's copy is deleted too. The record must hold d's entry, with its size,
// written with the jump: run 4 counts d's bytes (seen, perhaps returned, by run 3) as a
// gap of their size, not as offsets unused. (Written apart, a kill between the jump's
// gap and the entry left the jump with no generation behind it: bench case 20, run 1057.)
func TestTailCase20JumpRecordsGenerationEntered(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	case20Runs(r, f)
	r.kill()
	case20Down(r, f)

	// The record as it is when the first write after the jump's begins: as a kill right
	// after the jump's write leaves it.
	gens := r.s.store.genFile(r.path)
	var atJump []byte
	h := func(name string) error {
		if name == gens && atJump == nil {
			if b, err := os.ReadFile(name); err == nil && bytes.Contains(b, []byte(`"gap":"unused"`)) {
				atJump = b
			}
		}
		return nil
	}
	stateFault.Store(&h)
	t.Cleanup(func() { stateFault.CompareAndSwap(&h, nil) })
	r.start()
	cs3 := r.readTicked()
	dFrom, dTo := linesAt(t, cs3, "d 0 ", "d 2 ")
	r.kill()
	stateFault.CompareAndSwap(&h, nil)
	if atJump == nil {
		b, err := os.ReadFile(gens)
		if err != nil || !bytes.Contains(b, []byte(`"gap":"unused"`)) {
			t.Fatalf("run 3 recorded no jump (%v): %s", err, b)
		}
		atJump = b // (no write after the jump's)
	}
	if err := os.WriteFile(gens, atJump, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.path + ".1"); err != nil { // d's copy
		t.Fatal(err)
	}
	r.write(f, case20Lines("f", 2))

	r.start()
	cs := r.readTicked()
	if !strings.Contains(chunkBytes(cs), "f 1") {
		t.Fatalf("run 4 read %q, want e's and f's lines", chunkBytes(cs))
	}
	wantCounted(t, cs, dFrom, dTo, "d, seen and returned by run 3,")
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
