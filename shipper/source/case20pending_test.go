package source

import (
	"os"
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
		ch, ok := r.nextOne(40)
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
