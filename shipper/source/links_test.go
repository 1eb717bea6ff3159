package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newEventReleases starts a tailer with file system events (no backstop tick; with poll,
// without events, the test ticks) on a
// deployment's log, current/logs/access.log with current a symlink to releases/r1 (or,
// fileLink, logs/access.log itself a symlink to a release's log), r1, r2 and r3 each
// with a log open for appending; "a 0" is written to r1's and read, so the looker has
// the tailer (its reader held). link names the link, target a release's link target.
func newEventReleases(t *testing.T, fileLink, poll bool) (r *restartRig, files []*os.File, link string, target func(string) string) {
	t.Helper()
	cfg, w := testConfig(t)
	cfg.NoWatch = poll
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	root := t.TempDir()
	r = &restartRig{t: t, w: w, s: newSources(t, cfg), stream: streamBytes{}}
	t.Cleanup(func() {
		if r.tl != nil {
			r.tl.Close()
		}
	})
	rel := func(n string) string { return filepath.Join(root, "releases", n) }
	for _, n := range []string{"r1", "r2", "r3"} {
		mkdirAll(t, filepath.Join(rel(n), "logs"))
		files = append(files, openAppend(t, filepath.Join(rel(n), "logs", "access.log")))
	}
	link, target = filepath.Join(root, "current"), rel
	r.path = filepath.Join(link, "logs", "access.log")
	if fileLink {
		mkdirAll(t, filepath.Join(root, "logs"))
		link, target = filepath.Join(root, "logs", "access.log"), func(n string) string { return filepath.Join(rel(n), "logs", "access.log") }
		r.path = link
	}
	if err := os.Symlink(target("r1"), link); err != nil {
		t.Fatal(err)
	}
	r.write(files[0], "a 0\n")
	r.start()
	r.readAll()
	return r, files, link, target
}

// linkNoted reports whether a link event noted the file name (not looked at yet).
func (r *restartRig) linkNoted(name string) bool {
	r.tl.links.mu.Lock()
	defer r.tl.links.mu.Unlock()
	return slices.ContainsFunc(r.tl.links.seen, func(l linkTarget) bool { return l.name == name })
}

// TestTailSymlinkSwitchedTwiceBetweenLooks: a deployment's link switched r1 -> r3 -> r2
// while no look of the tailer can run (its lock held, as a reader busy in Next holds
// it): no look ever sees r3's log at the path. The event of the link's switch to r3,
// handled at once, noted where the path led; the next look holds it ahead, and it is
// drained in its turn as an old target of the link: every line of every release is read
// once, nothing counted lost or missed. (Before: r3's lines were never read, without a
// count.)
func TestTailSymlinkSwitchedTwiceBetweenLooks(t *testing.T) {
	for _, fileLink := range []bool{false, true} {
		t.Run(map[bool]string{false: "directory link", true: "file link"}[fileLink], func(t *testing.T) {
			r, files, link, target := newEventReleases(t, fileLink, false)
			a, b, c := files[0], files[1], files[2]
			r3 := filepath.Join(target("r3"), "logs", "access.log")
			if fileLink {
				r3 = target("r3")
			}
			r.tl.mu.Lock() // no look until both switches are done
			locked := true
			defer func() {
				if locked { // (a failed wait: Close takes the lock)
					r.tl.unlockLooks()
				}
			}()
			r.write(c, "c 0\n")
			symlinkOver(t, target("r3"), link)
			testsupport.Eventually(t, func() bool { return r.linkNoted(r3) }, "the link's switch to r3 not noted")
			r.write(b, "b 0\n")
			symlinkOver(t, target("r2"), link)
			locked = false
			r.tl.unlockLooks()
			r.readAll()
			r.write(a, "a 1\n")
			r.write(b, "b 1\n")
			r.write(c, "c 1\n")
			r.readAll()
			r.readAll()
			r.check(map[string]int{"a": 2, "b": 2, "c": 2})
			wantLostMissed(t, r.s, 0)
		})
	}
}

// TestTailSymlinkSwitchedBeforeItsEvent: the link is switched again (r3 -> r2) before the
// event of its switch to r3 is handled: nothing ever saw where it led then. That link,
// replaced unseen, is told by the link's own inode (each switch makes a new one) and
// counted in files_missed_total (and logged): r3's lines cannot be read, but they are
// not lost without a count. r2's are read, and the other releases' once.
func TestTailSymlinkSwitchedBeforeItsEvent(t *testing.T) {
	for _, fileLink := range []bool{false, true} {
		t.Run(map[bool]string{false: "directory link", true: "file link"}[fileLink], func(t *testing.T) {
			r, files, link, target := newEventReleases(t, fileLink, false)
			a, b, c := files[0], files[1], files[2]
			done := make(chan error, 1)
			r.tl.links.mu.Lock()
			r.tl.links.hook = func() {
				// (The Watcher's goroutine, at the first event after the switch to r3:
				// switched on before that event is handled.)
				r.tl.links.mu.Lock()
				r.tl.links.hook = nil
				r.tl.links.mu.Unlock()
				tmp := link + ".tmp"
				err := os.Symlink(target("r2"), tmp)
				if err == nil {
					err = os.Rename(tmp, link)
				}
				done <- err
			}
			r.tl.links.mu.Unlock()
			r.tl.mu.Lock() // no look until both switches are done
			locked := true
			defer func() {
				if locked { // (a failed wait: Close takes the lock)
					r.tl.unlockLooks()
				}
			}()
			r.write(c, "c 0\n")
			r.write(b, "b 0\n")
			symlinkOver(t, target("r3"), link)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			told := func() bool {
				if fileLink {
					// (The path itself is the link: its creations are the path's,
					// counted by the looks: Tailer.owed.)
					return r.tl.creates.Load() >= 2
				}
				r.tl.links.mu.Lock()
				defer r.tl.links.mu.Unlock()
				return r.tl.links.missed > 0
			}
			testsupport.Eventually(t, told, "the link replaced before its event was handled not told")
			locked = false
			r.tl.unlockLooks()
			r.readAll()
			r.write(a, "a 1\n")
			r.write(b, "b 1\n")
			r.readAll()
			r.readAll()
			r.check(map[string]int{"a": 2, "b": 2})
			if missed := testutil.ToFloat64(r.s.m.FilesMissed); missed != 1 {
				t.Errorf("files_missed %v, want 1 (the link to r3, replaced unseen)", missed)
			}
		})
	}
}

// TestTailSymlinkSwitchedWhileNextWaits: the tailer waits inside Next (its lock held, so
// the looker cannot look) for the acknowledgement of a lingering release's lines it read
// on (r1, r2 parked for it and grown since: it reads neither further meanwhile), while
// the deployment's link goes to r3, whose server makes its log only then, and back to
// r2. The events of the switch and of r3's log made wake the waiting Next, which looks:
// r3 is held ahead, and drained in its turn once the wait is over; every line is read
// once. (Before: Next woke and slept again without a look, the looker could not take
// the lock, and no look ever saw r3 at the path: its lines were never read, without a
// count. The breaker's case 06, rel3's 1000 lines, 1 run in 10.) So too when polling:
// the poll's tick wakes Next, which looks.
func TestTailSymlinkSwitchedWhileNextWaits(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "polling"}[poll], func(t *testing.T) { testTailSymlinkSwitchedWhileNextWaits(t, poll) })
	}
}

// testTailSymlinkSwitchedWhileNextWaits is TestTailSymlinkSwitchedWhileNextWaits with
// file system events, or polling (the poll's tick wakes Next).
func testTailSymlinkSwitchedWhileNextWaits(t *testing.T, poll bool) {
	r, files, link, target := newEventReleases(t, false, poll)
	a, b := files[0], files[1]
	r3 := filepath.Join(target("r3"), "logs", "access.log")
	files[2].Close()
	if err := os.Remove(r3); err != nil {
		t.Fatal(err)
	}
	r.write(b, "b 0\n")
	symlinkOver(t, target("r2"), link)
	r.readAll() // b 0; r1 lingers
	r.write(a, "a 1\n")
	r.readHold("a 1\n") // r1 read on, r2 parked; not acknowledged
	r.write(b, "b 1\n") // the parked one grew: Next waits for the acknowledgement
	slept := r.w.Slept()
	select {
	case <-slept:
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.tl.Next(ctx, 64<<10)
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	<-slept
	symlinkOver(t, target("r3"), link)
	c := openAppend(t, r3) // r3's server makes its log after the switch
	r.write(c, "c 0\n")
	testsupport.Eventually(t, func() bool {
		if poll {
			r.w.Tick()
		}
		return slices.ContainsFunc(r.tl.gens.aheadsFrom(0), func(e genEntry) bool { return e.Name == r3 })
	}, "r3 never seen at the path while Next waited")
	symlinkOver(t, target("r2"), link)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next returned %v, want context.Canceled (nothing to return before the acknowledgement)", err)
	}
	done <- nil // (for the deferred wait)
	r.ackHeld()
	r.readAll()
	r.write(a, "a 2\n")
	r.write(b, "b 2\n")
	r.write(c, "c 1\n")
	r.readAll()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 3, "c": 2})
	wantLostMissed(t, r.s, 0)
}
