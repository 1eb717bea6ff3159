package source

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailCase20ListedGenerationGoneUncounted (bench case 20, ROTATE=5: the silent part
// of the loss): run 1 reads a in the file at the path and is killed. While it is down,
// logrotate copytruncates three times: A (a and a2) at .3, B at .2, C at .1, d in the
// file at the path. Run 2 resumes in A's copy (its checkpointed content), so the
// generations it must drain after A are B, then C, then the file at the path; it is
// killed after step chunks, before it enters B. The rotate count deletes B. No run
// entered B, but run 2 listed it: run 3 must count B's bytes lost, exactly its size,
// in its turn (after A, before C), and read C and d once each.
func TestTailCase20ListedGenerationGoneUncounted(t *testing.T) {
	for step := range 3 {
		t.Run(strconv.Itoa(step), func(t *testing.T) { listedGenerationGone(t, step) })
	}
}

func listedGenerationGone(t *testing.T, step int) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	r.write(f, case20Lines("a", 5))
	r.start()
	r.read(false)
	r.kill()

	// Down: a2 written, then three copytruncates (rotate 5: nothing deleted yet).
	r.write(f, case20Lines("a2", 3))
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("b", 5))
	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("c", 4))
	mustRename(t, r.path+".2", r.path+".3")
	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("d", 2))
	bSize := int64(len(case20Lines("b", 5)))

	r.start()
	var cs2 []Chunk
	for range step {
		ch, ok := nextChunk(t, r.w, r.tl, 40)
		if !ok {
			break
		}
		cs2 = append(cs2, ch)
	}
	if strings.Contains(chunkBytes(cs2), "b 0") {
		t.Skip("run 2 entered B by step", step)
	}
	r.kill()
	if err := os.Remove(r.path + ".2"); err != nil { // B, by the rotate count
		t.Fatal(err)
	}

	r.start()
	cs := r.readTicked()
	got := chunkBytes(cs)
	for _, l := range []string{"a2 2 ", "c 0 ", "c 3 ", "d 0 ", "d 1 "} {
		if n := strings.Count(got, l); n != 1 {
			t.Errorf("%q read %d times, want once", l, n)
		}
	}
	if i, j := strings.Index(got, "c 0 "), strings.Index(got, "d 0 "); i < 0 || j < i {
		t.Errorf("C not read before d: %q", got)
	}
	// B's bytes are counted lost, exactly, between A's last line and C's first.
	_, aEnd := linesAt(t, cs, "a2 0 ", "a2 2 ")
	cFrom, _ := linesAt(t, cs, "c 0 ", "c 3 ")
	if gap := countedGap(cs); gap != uint64(bSize) {
		t.Errorf("counted gap %d bytes, want B's %d", gap, bSize)
	}
	if cFrom-aEnd < uint64(bSize) {
		t.Errorf("C begins %d bytes after A's end, want at least B's %d", cFrom-aEnd, bSize)
	}
	wantCounted(t, cs, cFrom-uint64(bSize), cFrom, "B, listed by run 2 and deleted before any run read it,")
	if lost := testutil.ToFloat64(r.s.m.LostBytes); lost != float64(bSize) {
		t.Errorf("lost_bytes %v, want B's %d", lost, bSize)
	}

	// Run 3 killed with nothing acknowledged: run 4 walks again from the same
	// checkpoint, B's loss and C at the offsets they had, B not counted again.
	r.kill()
	r.start()
	cs4 := r.readTicked()
	if c4, _ := linesAt(t, cs4, "c 0 ", "c 3 "); c4 != cFrom {
		t.Errorf("run 4 read C at %d, run 3 at %d", c4, cFrom)
	}
	wantCounted(t, cs4, cFrom-uint64(bSize), cFrom, "B, counted by run 3,")
	if lost := testutil.ToFloat64(r.s.m.LostBytes); lost != float64(bSize) {
		t.Errorf("lost_bytes %v after run 4, want B's %d once", lost, bSize)
	}
}

// TestGenLogDueDurable: the generations due a record holds after a reload are those
// added, less those settled (their lines written with the next synced write: an entry)
// and all of them once cleared; a head seen grown replaces the one seen before; an
// older version's loader (Dev and Ino 0 on the line) would skip them.
func TestGenLogDueDurable(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.gens")
	l, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	headOf := func(s string) []byte { return []byte(s) }
	due := func(ino uint64, head []byte, seen int64) genEntry {
		return genEntry{Dev: 1, Ino: ino, FPLen: len(head), FP: fingerprint(head), Line: true, Ends: lineEnds(head), Seen: seen}
	}
	b1 := headOf(case20Lines("b", 2))
	b2 := headOf(case20Lines("b", 3))
	c := headOf(case20Lines("c", 2))
	d := headOf(case20Lines("d", 2))
	for _, x := range []struct {
		d    genEntry
		head []byte
	}{{due(2, b1, 80), b1}, {due(2, b2, 120), b2}, {due(3, c, 80), c}, {due(4, d, 80), d}} {
		if err := l.addDue(x.d, x.head); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.dueGens(); len(got) != 3 || got[0].Ino != 2 || got[0].Seen != 120 {
		t.Fatalf("due %+v, want b (grown), c and d", got)
	}
	l.settleDue(func(x genEntry) bool { return x.Ino == 3 })
	if err := l.add(genEntry{Stream: 1, Dev: 1, Ino: 3, FPLen: len(c), FP: fingerprint(c), Line: true}, 0); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.Contains(line, `"due"`) && !strings.HasPrefix(line, `{"stream":1,"base":0,"dev":0,"ino":0`) {
			t.Errorf("a due line names a generation itself (an older version takes it for an entry): %s", line)
		}
	}
	l2, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.dueGens(); len(got) != 2 || got[0].Ino != 2 || got[1].Ino != 4 {
		t.Fatalf("due after a reload %+v, want b and d", got)
	}
	if !l2.enteredDue(due(5, c, 80)) || l2.enteredDue(due(5, d, 80)) {
		t.Error("enteredDue: a copy of c (entered) is entered, d is not")
	}
	l2.clearDue()
	if err := l2.save(); err != nil {
		t.Fatal(err)
	}
	l3, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := l3.dueGens(); len(got) != 0 {
		t.Fatalf("due after clearing %+v, want none", got)
	}
}

// TestTailCase20CopySizesEnteredGeneration (bench case 20: the gap of unknown size): run
// 1 reads a (copytruncated to .1), then b in the file at the path, and, with no
// acknowledgment (its size in the record stays the one it was entered at), b' appended
// to it; it is killed. While down, b and b' are copytruncated to .1 (a's copy to .2), c
// written. Run 2 resumes in a's copy and lists b's copy: a copy of a generation a run
// entered and never left, larger than the record says it was; it is killed. The rotate
// count deletes both copies. Run 3 must count all of b and b' as a gap of their size
// (seen, and possibly sent, by run 1), not announce the offsets of b' unused.
func TestTailCase20CopySizesEnteredGeneration(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	r.write(f, case20Lines("a", 5))
	r.start()
	r.read(false)
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("b", 5))
	r.w.Tick()
	cs1 := r.readTicked()
	r.write(f, case20Lines("b'", 6))
	r.w.Tick()
	cs1 = append(cs1, r.readTicked()...)
	bFrom, bTo := linesAt(t, cs1, "b 0 ", "b' 5 ")
	r.kill()

	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("c", 3))
	r.start()
	r.kill()
	for _, n := range []string{".1", ".2"} {
		if err := os.Remove(r.path + n); err != nil {
			t.Fatal(err)
		}
	}

	r.start()
	cs := r.readTicked()
	if got := chunkBytes(cs); strings.Count(got, "c 0 ") != 1 || strings.Count(got, "c 2 ") != 1 {
		t.Fatalf("run 3 read %q, want c's lines once", got)
	}
	wantCounted(t, cs, bFrom, bTo, "b and b', read by run 1, their copy seen by run 2,")
}
