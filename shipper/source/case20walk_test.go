package source

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestTailCase20CopyTruncateDuringWalk (bench case 20, duplicates; study): a restart
// walks from its checkpoint through the generations read before (a's copy at .1, then b
// in the file at the path). logrotate copytruncates while the walk drains a's copy: b
// (and b' written since) go to a new copy at .1, a's copy to .2, and the path holds c.
// Every line must arrive once, in order: b's copy is drained before c.
func TestTailCase20CopyTruncateDuringWalk(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	a := case20Run1(r, f)

	r.start()
	// One chunk of a's copy, the walk still in it.
	ch, err := r.tl.Next(context.Background(), len(a))
	if err != nil {
		t.Fatal(err)
	}
	cs := []Chunk{ch}
	r.write(f, case20Lines("b'", 3))
	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("c", 4))
	cs = append(cs, r.readTicked()...)
	got := chunkBytes(cs)
	want := a + case20Lines("b", 5) + case20Lines("b'", 3) + case20Lines("c", 4)
	logChunks(t, cs)
	if got != want {
		t.Errorf("the walk read\n%s\nwant\n%s", got, want)
	}
	wantOnce(t, got, "b 0 ")
}

// TestTailCase20CopyTruncateDuringGoneWalk (bench case 20, duplicates; study): as bench
// run 6 of v30: a restart finds its checkpointed generation gone and walks the rotated
// generations; logrotate copytruncates (rotate 3) after the walk took its history and
// before it drained them. The copy made then (d) must be drained before the file at the
// path (e), each line once.
func TestTailCase20CopyTruncateDuringGoneWalk(t *testing.T) {
	for at := range 14 {
		t.Run(strconv.Itoa(at), func(t *testing.T) { copyTruncateDuringGoneWalk(t, at) })
	}
}

func copyTruncateDuringGoneWalk(t *testing.T, caseAt int) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	case20Run1(r, f)

	rotate := func() { rotateCopy(t, r.path, 3) }
	rotate() // b's copy at .1
	r.write(f, case20Lines("c", 4))
	rotate() // c's at .1
	r.write(f, case20Lines("d", 6))
	if err := os.Remove(r.path + ".3"); err != nil { // a's copy
		t.Fatal(err)
	}
	r.start()
	var cs []Chunk
	for range caseAt {
		ch, ok := nextChunk(t, r.w, r.tl, 40)
		if !ok {
			t.Skip("the walk is over before step", caseAt)
		}
		cs = append(cs, ch)
	}
	rotate() // d's at .1, b's at .3
	r.write(f, case20Lines("e", 2))
	cs = append(cs, r.readTicked()...)
	logChunks(t, cs)
	got := chunkBytes(cs)
	wantOnce(t, got, "b 0 ", "c 0 ", "d 0 ", "d 5 ", "e 1 ")
	wantBefore(t, got, "d 0 ", "e 0 ")
}

// TestTailCase20CopyTruncateDuringWalkAgain (study): run 1 reads a (copytruncated to .1)
// and b at the path, and is killed; while down, b is copytruncated to .1 (a's copy to .2)
// and c written. Run 2 walks again a's copy and b's copy at their offsets; logrotate
// copytruncates again at step at of the walk (c to .1, d written). Each line once.
func TestTailCase20CopyTruncateDuringWalkAgain(t *testing.T) {
	for at := range 16 {
		t.Run(strconv.Itoa(at), func(t *testing.T) { copyTruncateDuringWalkAgain(t, at) })
	}
}

func copyTruncateDuringWalkAgain(t *testing.T, at int) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	case20Run1(r, f)
	rotate := func() { rotateCopy(t, r.path, 5) }
	rotate()
	r.write(f, case20Lines("c", 4))
	r.start()
	var cs []Chunk
	for range at {
		ch, ok := nextChunk(t, r.w, r.tl, 40)
		if !ok {
			t.Skip("the walk is over before step", at)
		}
		cs = append(cs, ch)
	}
	rotate()
	r.write(f, case20Lines("d", 2))
	cs = append(cs, r.readTicked()...)
	got := chunkBytes(cs)
	logChunks(t, cs)
	wantOnce(t, got, "a 0 ", "b 0 ", "b 4 ", "c 0 ", "c 3 ", "d 1 ")
	wantBefore(t, got, "c 0 ", "d 0 ")
}

// TestTailCase20CopyTruncateAtLeave (study, bench case 20 run 2's v20): as
// TestTailCase20CopyTruncateDuringWalkAgain, the rotation made right after the walk,
// leaving the last copy, listed the rotated names (lookHook "decided" of the n-th look),
// and lines written to the truncated file before the tailer opens it.
func TestTailCase20CopyTruncateAtLeave(t *testing.T) {
	for n := 1; n <= 6; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) { copyTruncateAtLeave(t, n) })
	}
}

func copyTruncateAtLeave(t *testing.T, nth int) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	case20Run1(r, f)
	rotate := func() { rotateCopy(t, r.path, 5) }
	rotate()
	r.write(f, case20Lines("c", 4))
	cs := r.readRotatingAtLook(f, nth, rotate, case20Lines("d", 2), case20Lines("e", 1))
	got := chunkBytes(cs)
	wantOnce(t, got, "a 0 ", "b 0 ", "b 4 ", "c 0 ", "c 3 ", "d 1 ", "e 0 ")
	wantBefore(t, got, "c 0 ", "d 0 ")
}
