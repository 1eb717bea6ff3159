package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailSymlinkSeenAheadRestart: a deployment's "current" link switched r1 -> r2 ->
// r3 -> r1 (the breaker's case 06) while the tailer is behind in r2: a look sees r3 at
// the path (held ahead, the file the path led to then) before the link goes back to r1,
// and the tailer is then restarted (closed, or killed) or rewound before it got to r3.
// r3 is an old target by then: at no rotated name of the path, not at the path, so
// nothing but what the tailer saw tells it is there. Every line of every release is
// read once, in order within its file, r3's included, and nothing is counted lost:
//   - running: no restart (as before);
//   - restarted, killed, rewound: r3 is drained after r2 all the same. (Before: the
//     releases seen ahead were held in memory only; a restart or a rewind forgot r3,
//     and its lines were never read, without a count.)
//   - rewound after r3 was drained (the position in r2 before it): r3 is read again at
//     the offsets it had (the walk from the position reads every generation entered
//     after it), never at others;
//   - back to r3 after the restart: r3, followed again as seen ahead, is read at the path
//     once, not also drained as an old target;
//   - r3's release deleted while the shipper is down: its lines are counted lost with
//     the size recorded when it was seen (a gap of the right size, logged), not lost
//     without a count; running, the descriptor held drains it.
func TestTailSymlinkSeenAheadRestart(t *testing.T) {
	for _, tc := range []string{"", "drained", "back to r3", "deleted"} {
		for _, how := range []string{"running", "restarted", "killed", "rewound"} {
			name := how
			if tc != "" {
				name = tc + "/" + how
			}
			t.Run(name, func(t *testing.T) { testTailSymlinkSeenAheadRestart(t, tc, how) })
		}
	}
}

func testTailSymlinkSeenAheadRestart(t *testing.T, tc, how string) {
	r, a, b, rel, current := newReleasesRig(t)
	mkdirAll(t, rel("r3"))
	c := openAppend(t, filepath.Join(rel("r3"), "access.log"))
	r.write(b, "b 0\n")
	symlinkOver(t, rel("r2"), current)
	r.readAll() // b 0; r1 lingers
	r.write(b, "b 1\nb 2\n")
	r.write(c, "c 0\n")
	symlinkOver(t, rel("r3"), current)
	ch, ok := nextChunk(t, r.w, r.tl, 5) // b 1 only; r3 seen at the path, held ahead
	if !ok || string(ch.Data) != "b 1\n" {
		t.Fatalf("read %q, want b 1", ch.Data)
	}
	r.stream.add(t, []Chunk{ch})
	if n := r.aheadCount(); n != 1 {
		t.Fatalf("%d generations held ahead, want r3", n)
	}
	if err := r.tl.Ack(ch.Pos); err != nil {
		t.Fatal(err)
	}
	r.write(a, "a 1\n")
	symlinkOver(t, rel("r1"), current) // back: r3 is an old target now
	if tc == "drained" {
		r.read(false) // b 2, r3's c 0, a 1: none acknowledged
	}
	if tc == "deleted" {
		if err := os.RemoveAll(rel("r3")); err != nil {
			t.Fatal(err)
		}
	}
	switch how {
	case "restarted":
		r.restart()
	case "killed":
		r.kill()
		r.start()
	case "rewound":
		if err := r.tl.Rewind(&ch.Pos); err != nil {
			t.Fatal(err)
		}
	}
	if tc == "back to r3" {
		symlinkOver(t, rel("r3"), current)
	}
	r.readAll()
	want := map[string]int{"a": 2, "b": 3, "c": 1}
	gone := tc == "deleted" && how != "running" && how != "rewound"
	if gone {
		want["c"] = 0
	}
	// Every release's server appends once more.
	for tag, f := range map[string]*os.File{"a": a, "b": b, "c": c} {
		if tag == "c" && tc == "deleted" {
			continue // (its file deleted: nothing appended is read)
		}
		r.write(f, fmt.Sprintf("%s %d\n", tag, want[tag]))
		want[tag]++
	}
	r.readAll()
	r.readAll()
	r.check(want)
	wantLost := 0.0
	if gone {
		wantLost = float64(len("c 0\n"))
	}
	wantLostMissed(t, r.s, wantLost)
}

// TestTailSymlinkSwitchedAtOpen: the link is switched on (r3 -> r1, back to a release
// lingered on) between the tailer's open of the path's file (r3's log) and its
// resolution of where the path led. r3 is still its file: left once the path names r1,
// it lingers as the link's old target, and what its server appends after is read.
// (Before: the path was resolved after the switch, r3 taken for no old target of the
// link, left at once, and its writer's later lines never read, without a count: the
// breaker's case 06, 261 lines of rel3 missing.)
func TestTailSymlinkSwitchedAtOpen(t *testing.T) {
	r, a, b, rel, current := newReleasesRig(t)
	mkdirAll(t, rel("r3"))
	c := openAppend(t, filepath.Join(rel("r3"), "access.log"))
	r.write(b, "b 0\n")
	symlinkOver(t, rel("r2"), current)
	r.readAll() // b 0; r1 lingers
	r.write(c, "c 0\n")
	symlinkOver(t, rel("r3"), current)
	switched := false
	r.tl.mu.Lock()
	r.tl.openHook = func() {
		if !switched {
			switched = true
			r.write(a, "a 1\n")
			symlinkOver(t, rel("r1"), current)
		}
	}
	r.tl.unlockLooks()
	r.readAll() // c 0 (r3 opened at the path), then a 1 (r1 at the path again)
	if !switched {
		t.Fatal("the path was never opened")
	}
	r.write(c, "c 1\n") // r3's server, after the switch
	r.write(a, "a 2\n")
	r.write(b, "b 1\n")
	r.readAll()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 2, "c": 2})
	wantLostMissed(t, r.s, 0)
}

// TestTailSymlinkSeenAheadDeleted: r2 -> r3 -> r2 while the tailer is behind in r2 (r3
// seen at the path, held ahead), and r3's release directory deleted before the tailer
// gets to it (a deployment's cleanup), its server still appending through its
// descriptor: r2, the path's file again, is left at its end for r3 all the same (drained
// through the descriptor held), then read on where it was left. (Before: r2 was left
// only for an old target still there; r3's lines were never read, and its descriptor
// closed at Close without a count.)
func TestTailSymlinkSeenAheadDeleted(t *testing.T) {
	r, _, b, rel, current := newReleasesRig(t)
	mkdirAll(t, rel("r3"))
	c := openAppend(t, filepath.Join(rel("r3"), "access.log"))
	r.write(b, "b 0\n")
	symlinkOver(t, rel("r2"), current)
	r.readAll() // b 0; r1 lingers
	r.write(b, "b 1\nb 2\n")
	r.write(c, "c 0\n")
	symlinkOver(t, rel("r3"), current)
	ch, ok := nextChunk(t, r.w, r.tl, 5) // b 1 only; r3 seen at the path
	if !ok || string(ch.Data) != "b 1\n" {
		t.Fatalf("read %q, want b 1", ch.Data)
	}
	r.stream.add(t, []Chunk{ch})
	if err := r.tl.Ack(ch.Pos); err != nil {
		t.Fatal(err)
	}
	symlinkOver(t, rel("r2"), current)
	if err := os.RemoveAll(rel("r3")); err != nil {
		t.Fatal(err)
	}
	r.write(c, "c 1\n") // r3's server, through its descriptor
	r.readAll()
	r.write(b, "b 3\n")
	r.readAll()
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 4, "c": 2})
	wantLostMissed(t, r.s, 0)
}

// wantLostMissed fails unless s counted lost bytes lost (logspread_shipper_lost_bytes_total)
// and no file missed (files_missed_total).
func wantLostMissed(t *testing.T, s *Set, lost float64) {
	t.Helper()
	if l, m := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesMissed); l != lost || m != 0 {
		t.Errorf("lost_bytes %v, files_missed %v; want %v and 0", l, m, lost)
	}
}

// TestGenLogAheads: the files seen ahead that a record keeps (genEntry.Wait ahead,
// ahead_over) survive a reload and a rewrite of the record (one grown past
// maxGenEntries), at most maxAheads of them, the latest line of a file winning; a resume
// at an offset gets those still ahead and those entered at or after it.
func TestGenLogAheads(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.gens")
	l, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(maxAheads + 3) {
		if err := l.addAhead(genEntry{Dev: 1, Ino: 100 + i, Name: fmt.Sprintf("/srv/r%d/access.log", i), Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	last := uint64(100 + maxAheads + 2)
	if err := l.growAhead(1, last, 50); err != nil {
		t.Fatal(err)
	}
	if err := l.endAhead(1, last-1, 500); err != nil { // entered at 500
		t.Fatal(err)
	}
	if err := l.endAhead(1, last-2, 300); err != nil { // entered at 300
		t.Fatal(err)
	}
	check := func(l *genLog, what string) {
		t.Helper()
		got := l.aheadsFrom(400)
		if len(got) != maxAheads-1 {
			t.Fatalf("%s: %d files ahead from offset 400, want %d (the oldest 3 dropped, one entered before 400)", what, len(got), maxAheads-1)
		}
		byIno := map[uint64]genEntry{}
		for _, e := range got {
			byIno[e.Ino] = e
		}
		if e, ok := byIno[last]; !ok || e.Wait != waitAhead || e.Size != 50 || e.Name != fmt.Sprintf("/srv/r%d/access.log", maxAheads+2) {
			t.Errorf("%s: the last file seen ahead is %+v, want ahead, size 50", what, e)
		}
		if e, ok := byIno[last-1]; !ok || e.Wait != waitAheadOver || e.Base != 500 {
			t.Errorf("%s: the file entered at 500 is %+v, want over at 500", what, e)
		}
		if _, ok := byIno[last-2]; ok {
			t.Errorf("%s: the file entered at 300 is returned for a resume at 400", what)
		}
		if _, ok := byIno[100]; ok {
			t.Errorf("%s: the oldest file seen ahead is kept past maxAheads", what)
		}
	}
	check(l, "written")
	l2, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	check(l2, "reloaded")
	for i := range uint64(maxGenEntries + 1) {
		if err := l2.add(genEntry{Stream: 1, Base: i * 10, Dev: 2, Ino: 1000 + i, FPLen: 4, FP: i + 1, End: i*10 + 10}, i*10+10); err != nil {
			t.Fatal(err)
		}
	}
	l3, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	check(l3, "rewritten")
}
