package source

import (
	"strconv"
	"testing"
	"time"
)

// TestTailCase20ShiftBetweenListingAndOpen (bench case 20, duplicates: v38 of run 7): a
// restart walks from its checkpoint through rotated generations that the run before
// read (copytruncate, rotate 5). logrotate shifts the numbered names (.3 to .4, .2 to
// .3, ...) right after the walk listed them and chose the next generation to drain (the
// nth lookHook "decided"), before the walk looked at that generation by its name, which
// then names the next newer generation. The generation chosen is not destroyed: it is
// under the next name, and read there once, at its offsets; no line arrives twice, none
// is skipped.
func TestTailCase20ShiftBetweenListingAndOpen(t *testing.T) {
	for n := 1; n <= 6; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) { shiftBetweenListingAndOpen(t, n) })
	}
}

func shiftBetweenListingAndOpen(t *testing.T, nth int) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	rotate := func() { rotateCopy(t, r.path, 5) }
	// Run 1 reads a, b, c (each copytruncated to .1 once read) and d at the path, and
	// is killed: nothing acknowledged.
	r.write(f, case20Lines("a", 5))
	r.start()
	r.read(false)
	for _, g := range []string{"b", "c", "d"} {
		rotate()
		r.write(f, case20Lines(g, 5))
		r.w.Tick()
		r.read(false)
	}
	r.kill()
	// While it is down: d copytruncated too (a's copy at .4 ... d's at .1), e written.
	rotate()
	r.write(f, case20Lines("e", 3))

	cs := r.readRotatingAtLook(f, nth, rotate, case20Lines("f", 2), case20Lines("g", 1))
	got := chunkBytes(cs)
	wantOnce(t, got, "a 0 ", "a 4 ", "b 0 ", "b 4 ", "c 0 ", "c 4 ", "d 0 ", "d 4 ", "e 0 ", "e 2 ", "f 1 ", "g 0 ")
	wantBefore(t, got, "e 2 ", "f 0 ")
	if lost := countedGap(cs); lost != 0 {
		t.Errorf("%d bytes counted lost", lost)
	}
}
