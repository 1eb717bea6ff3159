package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestTailSymlinkSwitchedWhileLingeringRead: a deployment's "current" link switched
// r1 -> r2 -> r3 -> r1 while every release's server appends to its own log (the
// breaker's case 06), the link switched again while the tailer is not at the file the
// path names: it reads on a lingering old target (r1, r2 parked for it), or it has just
// gone back to the parked one. Every line of every release is read once, in order
// within its file:
//   - back to r1 while r1 itself is read on as a lingering generation, r3 parked: r1 is
//     the path's file again, and r3, parked, is left in turn (drained, then lingering);
//     r2, lingering, is read on. (Before: r1 was taken as the path's file, r3 stayed
//     parked for good and r2 was never read on again: lines lost without a count.)
//   - back to r1 while r2, parked for r1, is read on, r3 seen at the path meanwhile and
//     held ahead: r3, an old target now (no rotated name, still linked), is drained in
//     its turn and lingers. (Before: a generation seen ahead and still linked was left
//     to be found by a rotated name, which an old target has not: never read.)
//   - r2 -> r3 -> r2 while r2 is read, behind (r3 seen at the path by a look), or
//     while its reader is held (the looker's looks see r3): r2 is left at its end as
//     an old target, r3 drained, and r2 read on where it was left. (Before: r2 was the
//     path's file again at its end, and r3 was never read.)
func TestTailSymlinkSwitchedWhileLingeringRead(t *testing.T) {
	for _, tc := range []string{"back while the old target is read", "back while the parked one is read",
		"away and back while behind", "away and back while held"} {
		for _, how := range []string{"running", "restarted", "killed"} {
			t.Run(tc+"/"+how, func(t *testing.T) { testTailSymlinkSwitchedWhileLingeringRead(t, tc, how) })
		}
	}
}

// testTailSymlinkSwitchedWhileLingeringRead is one case of
// TestTailSymlinkSwitchedWhileLingeringRead; the shipper is restarted (how: closed, or
// killed) once every release was read, before their writers append once more.
func testTailSymlinkSwitchedWhileLingeringRead(t *testing.T, tc, how string) {
	r, a, b, rel, current := newReleasesRig(t)
	mkdirAll(t, rel("r3"))
	c := openAppend(t, filepath.Join(rel("r3"), "access.log"))
	r.write(b, "b 0\n")
	symlinkOver(t, rel("r2"), current)
	r.readAll() // b 0; r1 lingers
	switch tc {
	case "back while the old target is read":
		r.write(c, "c 0\n")
		symlinkOver(t, rel("r3"), current)
		r.readHold("c 0\n") // r2 left (lingering), r3 followed
		r.ackHeld()
		r.write(a, "a 1\n")
		r.readHold("a 1\n") // r1 read on, r3 parked for it
		symlinkOver(t, rel("r1"), current)
		r.ackHeld()
	case "back while the parked one is read":
		r.write(a, "a 1\n")
		r.readHold("a 1\n") // r1 read on, r2 parked for it
		r.write(c, "c 0\n")
		symlinkOver(t, rel("r3"), current)
		r.write(b, "b 1\n")
		r.readHold("") // r3 seen at the path (held ahead); a 1 not acknowledged
		r.ackHeld()
		ch, ok := nextChunk(t, r.w, r.tl, 64<<10) // r1 left, r2 entered again
		if !ok || string(ch.Data) != "b 1\n" {
			t.Fatalf("read %q, want b 1 (r2, parked, entered again)", ch.Data)
		}
		r.stream.add(t, []Chunk{ch})
		r.held = append(r.held, ch)
		symlinkOver(t, rel("r1"), current)
		r.ackHeld()
	case "away and back while behind":
		r.write(b, "b 1\nb 2\n")
		r.write(c, "c 0\n")
		symlinkOver(t, rel("r3"), current)
		ch, ok := nextChunk(t, r.w, r.tl, 5) // b 1 only; r3 seen at the path
		if !ok || string(ch.Data) != "b 1\n" {
			t.Fatalf("read %q, want b 1", ch.Data)
		}
		r.stream.add(t, []Chunk{ch})
		r.held = append(r.held, ch)
		symlinkOver(t, rel("r2"), current)
		r.ackHeld()
	case "away and back while held":
		r.write(c, "c 0\n")
		symlinkOver(t, rel("r3"), current)
		testsupport.Eventually(t, func() bool { // the looker's look, the reader held
			r.w.Tick()
			return r.aheadCount() == 1
		}, "r3 not seen at the path")
		r.write(b, "b 1\n")
		symlinkOver(t, rel("r2"), current)
	}
	r.readAll()
	switch how {
	case "restarted":
		r.restart()
	case "killed":
		r.kill()
		r.start()
	}
	want := map[string]int{"a": 2, "b": 1, "c": 1}
	switch tc {
	case "back while the parked one is read":
		want["b"] = 2
	case "away and back while behind":
		want["a"], want["b"] = 1, 3
	case "away and back while held":
		want["a"], want["b"] = 1, 2
	}
	// Every release's server appends once more.
	for tag, f := range map[string]*os.File{"a": a, "b": b, "c": c} {
		r.write(f, fmt.Sprintf("%s %d\n", tag, want[tag]))
		want[tag]++
	}
	r.readAll()
	r.readAll()
	r.check(want)
}

// aheadCount returns how many generations the tailer holds ahead.
func (r *restartRig) aheadCount() int {
	r.tl.mu.Lock()
	defer r.tl.unlockLooks()
	return len(r.tl.ahead)
}

// TestTailSymlinkSwitchedAwayAndBackEvents: with file system events (no backstop tick),
// a link switched to a release whose log is not written after the switch, while the
// reader is held (the window full), is looked at by the looker: the directory the path
// goes through was replaced, or the link at the path itself. Switched back before the
// reader comes back, the release left is drained, an old target, and every line read
// once; nothing is counted lost or missed. (Before: a replaced directory woke the tailer
// but asked the looker for no look; only a write to the new target, or the poll
// interval's tick, made one, and r2's lines were never read.)
func TestTailSymlinkSwitchedAwayAndBackEvents(t *testing.T) {
	for _, fileLink := range []bool{false, true} {
		t.Run(map[bool]string{false: "directory link", true: "file link"}[fileLink], func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.RotateWait = time.Hour
			root := t.TempDir()
			r := &restartRig{t: t, w: w, s: newSources(t, cfg), stream: streamBytes{}}
			t.Cleanup(func() {
				if r.tl != nil {
					r.tl.Close()
				}
			})
			rel := func(n string) string { return filepath.Join(root, "releases", n) }
			var files []*os.File
			for _, n := range []string{"r1", "r2"} {
				mkdirAll(t, filepath.Join(rel(n), "logs"))
				files = append(files, openAppend(t, filepath.Join(rel(n), "logs", "access.log")))
			}
			a, b := files[0], files[1]
			link, target := filepath.Join(root, "current"), rel
			r.path = filepath.Join(link, "logs", "access.log")
			if fileLink {
				mkdirAll(t, filepath.Join(root, "logs"))
				link, target = filepath.Join(root, "logs", "access.log"), func(n string) string { return filepath.Join(rel(n), "logs", "access.log") }
				r.path = link
			}
			if err := os.Symlink(target("r1"), link); err != nil {
				t.Fatal(err)
			}
			r.write(a, "a 0\n")
			r.start()
			r.readAll() // the looker has the tailer from now on: its reader is held
			r.write(b, "b 0\n")
			symlinkOver(t, target("r2"), link)
			testsupport.Eventually(t, func() bool { return r.aheadCount() == 1 }, "r2 not seen at the path by a look")
			symlinkOver(t, target("r1"), link)
			r.write(a, "a 1\n")
			r.readAll()
			r.write(a, "a 2\n")
			r.write(b, "b 1\n")
			r.readAll()
			r.readAll()
			r.check(map[string]int{"a": 3, "b": 2})
			wantLostMissed(t, r.s, 0)
		})
	}
}
