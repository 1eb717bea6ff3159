package source

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The tests below never tick the poll backstop (a ManualWaker) and hold a deleted file's
// rotate wait for an hour: only fsnotify events can move the lines.

func mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// symlinkOver points link at target as ln -sfn does: a new link renamed over the old one.
func symlinkOver(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// currentLink makes root/links and returns the path of a deployment's link there,
// root/links/current (not made), and target, which names release r's directory as that
// link points at it: relative (../r) when rel.
func currentLink(t *testing.T, root string, rel bool) (current string, target func(r string) string) {
	t.Helper()
	mkdirAll(t, filepath.Join(root, "links"))
	target = func(r string) string {
		if rel {
			return filepath.Join("..", r)
		}
		return filepath.Join(root, r)
	}
	return filepath.Join(root, "links", "current"), target
}

func eventsOnlyConfig(t *testing.T) (Config, *ManualWaker) {
	t.Helper()
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	return cfg, w
}

// asleep waits until the one source on w has looked at its file and gone to sleep: a
// write after it can only be seen through an event. (The tick makes a source that was
// already asleep look once more and sleep again.)
func asleep(t *testing.T, w *ManualWaker) {
	t.Helper()
	n := w.Waits()
	w.Tick()
	testsupport.Eventually(t, func() bool { return w.Waits() > n }, "the source did not go to sleep")
}

// TestTailDirectoryRecreatedWhileHeldOpen: the log directory is deleted while a writer
// still holds the log open (the kernel keeps the old directory's watch alive, silent),
// then recreated with a new log: its lines arrive by events.
func TestTailDirectoryRecreatedWhileHeldOpen(t *testing.T) {
	cfg, w := eventsOnlyConfig(t)
	s := newSources(t, cfg)
	dir := filepath.Join(t.TempDir(), "app", "logs")
	mkdirAll(t, dir)
	path := filepath.Join(dir, "access.log")
	writer, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	asleep(t, w)
	if _, err := writer.WriteString("one\n"); err != nil {
		t.Fatal(err)
	}
	want := "one\n"
	r.waitFor([]byte(want), nil)

	for _, line := range []string{"two\n", "three\n"} {
		asleep(t, w)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		mkdirAll(t, dir)
		appendFile(t, path, "")
		asleep(t, w)
		appendFile(t, path, line)
		want += line
		r.waitFor([]byte(want), nil)
	}
	if !s.watcher.Watching(dir) {
		t.Error("the recreated directory is not watched")
	}
}

// TestTailDirectoriesAppearAndMove: the log's directories are missing at start, created
// (several levels at once), then an ancestor is renamed away and created again.
func TestTailDirectoriesAppearAndMove(t *testing.T) {
	cfg, w := eventsOnlyConfig(t)
	s := newSources(t, cfg)
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "logs")
	path := filepath.Join(dir, "access.log")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	if s.watcher.Watching(dir) {
		t.Fatal("a missing directory is reported watched")
	}
	asleep(t, w)
	mkdirAll(t, dir)
	appendFile(t, path, "one\n")
	r.waitFor([]byte("one\n"), nil)

	// An ancestor renamed away, and a new tree at the path.
	asleep(t, w)
	if err := os.Rename(filepath.Join(root, "a"), filepath.Join(root, "a.old")); err != nil {
		t.Fatal(err)
	}
	mkdirAll(t, dir)
	appendFile(t, path, "two\n")
	r.waitFor([]byte("one\ntwo\n"), nil)
	asleep(t, w)
	appendFile(t, path, "three\n")
	r.waitFor([]byte("one\ntwo\nthree\n"), nil)
}

// TestTailSymlinkRetargeted: a symlinked log is followed by events in its target's
// directory, across a retargeted link, a target whose directory appears later, and a
// symlinked directory component retargeted (a deployment's "current" link).
func TestTailSymlinkRetargeted(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		cfg, w := eventsOnlyConfig(t)
		s := newSources(t, cfg)
		root := t.TempDir()
		mkdirAll(t, filepath.Join(root, "links"))
		mkdirAll(t, filepath.Join(root, "t1"))
		t1 := filepath.Join(root, "t1", "a.log")
		appendFile(t, t1, "")
		link := filepath.Join(root, "links", "access.log")
		if err := os.Symlink(t1, link); err != nil {
			t.Fatal(err)
		}
		tl := openTailer(t, s, link)
		r := startReader(t, tl, 64<<10)
		asleep(t, w)
		appendFile(t, t1, "a1\n")
		r.waitFor([]byte("a1\n"), nil)

		// Retargeted (a relative link) to a file in a directory that does not exist yet.
		asleep(t, w)
		symlinkOver(t, "../t2/b.log", link)
		asleep(t, w)
		t2 := filepath.Join(root, "t2", "b.log")
		mkdirAll(t, filepath.Dir(t2))
		appendFile(t, t2, "b1\n")
		r.waitFor([]byte("a1\nb1\n"), nil)
		asleep(t, w)
		appendFile(t, t2, "b2\n")
		r.waitFor([]byte("a1\nb1\nb2\n"), nil)
	})
	t.Run("directory", func(t *testing.T) {
		cfg, w := eventsOnlyConfig(t)
		s := newSources(t, cfg)
		root := t.TempDir()
		mkdirAll(t, filepath.Join(root, "r1", "log"))
		mkdirAll(t, filepath.Join(root, "r2", "log"))
		current := filepath.Join(root, "current")
		if err := os.Symlink(filepath.Join(root, "r1"), current); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(current, "log", "access.log")
		appendFile(t, path, "")
		tl := openTailer(t, s, path)
		r := startReader(t, tl, 64<<10)
		asleep(t, w)
		appendFile(t, path, "r1\n")
		r.waitFor([]byte("r1\n"), nil)

		asleep(t, w)
		symlinkOver(t, filepath.Join(root, "r2"), current)
		asleep(t, w)
		appendFile(t, filepath.Join(root, "r2", "log", "access.log"), "r2\n")
		r.waitFor([]byte("r1\nr2\n"), nil)

		// The release directory replaced under the unchanged link.
		asleep(t, w)
		if err := os.RemoveAll(filepath.Join(root, "r2")); err != nil {
			t.Fatal(err)
		}
		mkdirAll(t, filepath.Join(root, "r2", "log"))
		appendFile(t, path, "")
		asleep(t, w)
		appendFile(t, path, "r2 again\n")
		r.waitFor([]byte("r1\nr2\nr2 again\n"), nil)
	})
}

// TestGlobEventCostsItsName: a new match named by an event is followed without listing
// the directory (no poll: the waker never ticks); a burst of more names than a
// subscription gathers falls back to one rescan, and every match is still followed.
func TestGlobEventCostsItsName(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	cfg.MaxOpenFiles = 64
	s := newSources(t, cfg)
	dir := t.TempDir()
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	read := func(n int) {
		t.Helper()
		for range n {
			c, err := g.Next(ctx, cfg.ChunkMax)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if err := g.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
	rescans := testutil.ToFloat64(s.m.GlobRescans) // the one at start
	for i := range 50 {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("job-%d.log", i)), "line\n")
	}
	read(50)
	if got := testutil.ToFloat64(s.m.GlobRescans); got != rescans {
		t.Errorf("%v directory rescans for 50 files named by events, want 0", got-rescans)
	}
}

// TestSubscriptionNames: a subscription with names returns the names of the events
// since the last Take, once each; beyond maxNames, or when its directory is watched
// again, it says to look at the whole directory instead.
func TestSubscriptionNames(t *testing.T) {
	w, err := NewWatcher(testsupport.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sub, err := w.SubscribeNames(t.TempDir(), func(string) bool { return true }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	sub.event("a.log", false)
	sub.event("b.log", true)
	sub.event("a.log", true)
	sub.event("b.log", false)
	sub.event("c.log", false)
	names, whole := sub.Take()
	if want := map[string]bool{"a.log": true, "b.log": true, "c.log": false}; whole || !maps.Equal(names, want) {
		t.Fatalf("Take: %v, %v; want %v, false", names, whole, want)
	}
	for i := range maxNames + 1 {
		sub.event(fmt.Sprintf("n%d.log", i), true)
	}
	if names, whole := sub.Take(); !whole || len(names) != 0 {
		t.Fatalf("Take after %d names: %d names, whole %v; want the whole directory", maxNames+1, len(names), whole)
	}
	sub.event("c.log", true)
	sub.rescan()
	sub.event("d.log", true)
	if _, whole := sub.Take(); !whole {
		t.Fatal("Take after the directory was watched again: not whole")
	}
	if names, whole := sub.Take(); whole || len(names) != 0 {
		t.Fatalf("Take with no event since: %v, %v", names, whole)
	}
}

// TestGlobWildcardDirectories: a pattern with wildcards in directory names follows, by
// events alone (the poll never ticks), files in matching directories that appear (one
// level or two at once, or a level created after its parent), that are recreated after
// being deleted, and below a literal root missing at start.
func TestGlobWildcardDirectories(t *testing.T) {
	cfg, _ := eventsOnlyConfig(t)
	cfg.RotateWait = 0
	s := newSources(t, cfg)
	root := filepath.Join(t.TempDir(), "srv")
	mkdirAll(t, filepath.Join(root, "a", "logs"))
	appendFile(t, filepath.Join(root, "a", "logs", "x.log"), "a x\n")
	g, err := s.OpenGlob(filepath.Join(root, "*", "logs", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()
	expect := func(lines ...string) {
		t.Helper()
		want := map[string]bool{}
		for _, l := range lines {
			want[l] = true
		}
		for len(want) > 0 {
			c, err := g.Next(ctx, cfg.ChunkMax)
			if err != nil {
				t.Fatalf("Next: %v; still waiting for %v", err, want)
			}
			for _, l := range strings.SplitAfter(string(c.Data), "\n") {
				delete(want, l)
			}
			if err := g.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect("a x\n")

	// Two levels at once.
	mkdirAll(t, filepath.Join(root, "b", "logs"))
	appendFile(t, filepath.Join(root, "b", "logs", "y.log"), "b y\n")
	expect("b y\n")
	// A level created after its parent is watched.
	mkdirAll(t, filepath.Join(root, "c"))
	testsupport.Eventually(t, func() bool { return s.watcher.Watching(filepath.Join(root, "c")) }, "the new directory c is not watched")
	mkdirAll(t, filepath.Join(root, "c", "logs"))
	appendFile(t, filepath.Join(root, "c", "logs", "z.log"), "c z\n")
	expect("c z\n")
	// More files in a directory found by an event.
	appendFile(t, filepath.Join(root, "c", "logs", "w.log"), "c w\n")
	expect("c w\n")
	// A matching directory deleted and created again.
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	mkdirAll(t, filepath.Join(root, "a", "logs"))
	appendFile(t, filepath.Join(root, "a", "logs", "v.log"), "a v\n")
	expect("a v\n")
	// A file that does not match, in a directory level, is not a directory event.
	appendFile(t, filepath.Join(root, "README"), "not a log\n")

	// The literal root missing at start.
	root2 := filepath.Join(t.TempDir(), "later", "srv")
	g2, err := s.OpenGlob(filepath.Join(root2, "*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	mkdirAll(t, filepath.Join(root2, "d"))
	appendFile(t, filepath.Join(root2, "d", "u.log"), "d u\n")
	c, err := g2.Next(ctx, cfg.ChunkMax)
	if err != nil || string(c.Data) != "d u\n" {
		t.Fatalf("Next: %q, %v; want the line of a file below a root created later", c.Data, err)
	}
}

// TestGlobMissedFileCounted: a file the glob saw created and that was deleted before it
// could be opened is counted and logged (its lines were never read), while a file renamed
// into a matching name is followed there and not counted.
func TestGlobMissedFileCounted(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(testsupport.Deadline(t)))
	defer cancel()

	// Holding the glob's lock keeps it from opening anything until both are done.
	g.mu.Lock()
	appendFile(t, filepath.Join(dir, "job-a.log"), "a\n")
	appendFile(t, filepath.Join(dir, "job-b.tmp"), "b\n")
	if err := os.Rename(filepath.Join(dir, "job-b.tmp"), filepath.Join(dir, "job-b.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "job-a.log")); err != nil {
		t.Fatal(err)
	}
	g.mu.Unlock()

	c, err := g.Next(ctx, cfg.ChunkMax)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if string(c.Data) != "b\n" {
		t.Fatalf("Next: %q, want the renamed file's line", c.Data)
	}
	testsupport.Eventually(t, func() bool { return testutil.ToFloat64(s.m.FilesMissed) >= 1 },
		"the file deleted before it was opened is not counted")
	if got := testutil.ToFloat64(s.m.FilesMissed); got != 1 {
		t.Errorf("files_missed_total %v, want 1 (the renamed file is followed, not missed)", got)
	}
}

// TestWatcherNamedSubscriptions: a subscription of one name is woken by the events of
// that name only, however many other subscriptions of other names the directory has
// (they are not looked at), and by every name while SetAll.
func TestWatcherNamedSubscriptions(t *testing.T) {
	w, err := NewWatcher(testsupport.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir, src := t.TempDir(), t.TempDir()
	var others []*Subscription
	for i := range 100 {
		s, err := w.subscribeName(dir, fmt.Sprintf("other-%d.log", i), make(chan struct{}, 1))
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, s)
	}
	a, err := w.subscribeName(dir, "a.log", make(chan struct{}, 1))
	if err != nil {
		t.Fatal(err)
	}
	all, err := w.SubscribeNames(dir, func(string) bool { return true }, nil)
	if err != nil {
		t.Fatal(err)
	}
	woken := func(s *Subscription) bool {
		select {
		case <-s.C():
			return true
		default:
			return false
		}
	}
	// One event of name (a file renamed into dir, from a directory not watched), seen by
	// the subscription of every name: wait for it there, then look at the others.
	event := func(name string) {
		t.Helper()
		appendFile(t, filepath.Join(src, name), "x\n")
		if err := os.Rename(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case <-all.C():
			case <-time.After(time.Until(testsupport.Deadline(t))):
				t.Fatalf("no event of %s", name)
			}
			if names, _ := all.Take(); names[name] {
				break
			}
		}
		// A barrier: the event's delivery (under w.mu) is complete once w.mu is taken.
		w.mu.Lock()
		//lint:ignore SA2001 the empty critical section waits for the delivery
		w.mu.Unlock()
	}
	event("b.log")
	if woken(a) {
		t.Error("a.log's subscription woken by b.log")
	}
	event("a.log")
	if !woken(a) {
		t.Error("a.log's subscription not woken by a.log")
	}
	a.SetAll(true)
	event("c.log")
	if !woken(a) {
		t.Error("a.log's subscription not woken by c.log with SetAll(true)")
	}
	a.SetAll(false)
	event("d.log")
	if woken(a) {
		t.Error("a.log's subscription woken by d.log after SetAll(false)")
	}
	for i, s := range others {
		if woken(s) {
			t.Errorf("other-%d.log's subscription woken", i)
		}
	}
	for _, s := range others {
		s.Cancel()
	}
	a.Cancel()
	w.mu.Lock()
	n := w.nodes[absClean(dir)]
	left := len(n.named) + len(n.wide)
	w.mu.Unlock()
	if left != 1 { // all's
		t.Errorf("%d subscriptions left after Cancel, want 1", left)
	}
	all.Cancel()
}

// TestTailSymlinkedDirectoryDangling: a directory component of the followed path is a
// symlink whose target does not exist yet (a deployment's "current" link made before its
// release directory, at start or retargeted while running): the target's directory is
// watched for, so the first lines written there arrive by events, not at the poll.
func TestTailSymlinkedDirectoryDangling(t *testing.T) {
	for _, rel := range []bool{false, true} {
		t.Run(fmt.Sprintf("relative=%v", rel), func(t *testing.T) {
			cfg, w := eventsOnlyConfig(t)
			s := newSources(t, cfg)
			root := t.TempDir()
			current, target := currentLink(t, root, rel)
			if err := os.Symlink(target("r1"), current); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(current, "log", "access.log")
			tl := openTailer(t, s, path)
			r := startReader(t, tl, 64<<10)
			asleep(t, w)
			mkdirAll(t, filepath.Join(root, "r1", "log"))
			appendFile(t, filepath.Join(root, "r1", "log", "access.log"), "r1\n")
			r.waitFor([]byte("r1\n"), nil)

			// Retargeted to a release directory that does not exist yet.
			asleep(t, w)
			symlinkOver(t, target("r2"), current)
			asleep(t, w)
			mkdirAll(t, filepath.Join(root, "r2", "log"))
			appendFile(t, filepath.Join(root, "r2", "log", "access.log"), "r2\n")
			r.waitFor([]byte("r1\nr2\n"), nil)
			asleep(t, w)
			appendFile(t, path, "r2 again\n")
			r.waitFor([]byte("r1\nr2\nr2 again\n"), nil)
		})
	}
}

// TestGlobSymlinkedDirectoryDangling: the pattern's directory is below a symlink whose
// target does not exist yet (current/log/*.log, current a deployment's link made before
// its release directory, at start or retargeted while running): the target's directory is
// watched for, so a new match there is followed, and its first lines read, by events, not
// at the poll (no tick here).
func TestGlobSymlinkedDirectoryDangling(t *testing.T) {
	for _, rel := range []bool{false, true} {
		for _, retarget := range []bool{false, true} {
			t.Run(fmt.Sprintf("relative=%v/retargeted=%v", rel, retarget), func(t *testing.T) {
				cfg, _ := eventsOnlyConfig(t)
				s := newSources(t, cfg)
				root := t.TempDir()
				current, target := currentLink(t, root, rel)
				release := "r1"
				if retarget {
					release = "r0"
					mkdirAll(t, filepath.Join(root, "r0", "log"))
					appendFile(t, filepath.Join(root, "r0", "log", "a.log"), "r0\n")
				}
				if err := os.Symlink(target(release), current); err != nil {
					t.Fatal(err)
				}
				g, err := s.OpenGlob(filepath.Join(current, "log", "*.log"))
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
				defer cancel()
				expect := func(want string) {
					t.Helper()
					c, err := g.Next(ctx, cfg.ChunkMax)
					if err != nil {
						t.Fatalf("Next: %v; still waiting for %q", err, want)
					}
					if string(c.Data) != want {
						t.Fatalf("Next: %q, want %q", c.Data, want)
					}
					if err := g.Ack(c.Pos); err != nil {
						t.Fatal(err)
					}
				}
				if retarget {
					expect("r0\n")
					// Retargeted to a release directory that does not exist yet.
					symlinkOver(t, target("r1"), current)
				}
				mkdirAll(t, filepath.Join(root, "r1", "log"))
				appendFile(t, filepath.Join(root, "r1", "log", "b.log"), "r1\n")
				expect("r1\n")
				// A second match there, by its own event.
				appendFile(t, filepath.Join(current, "log", "c.log"), "r1 c\n")
				expect("r1 c\n")
			})
		}
	}
}

// TestTailSymlinkRetargetKeepsOldTargetWatched: a followed path below a symlinked
// directory (current/log/access.log, current -> r1) is retargeted (current -> r2) while
// the old release's writer still appends to r1's log: the old file, drained for
// RotateWait, is woken by its events. fsnotify gives a directory reached by two paths (the
// link's and the target's) one inotify watch, registered under the first path: dropping
// the link's path on the retarget removed the watch the target's path still needed,
// silently, and the old file's lines waited for the poll.
func TestTailSymlinkRetargetKeepsOldTargetWatched(t *testing.T) {
	cfg, w := eventsOnlyConfig(t)
	s := newSources(t, cfg)
	root := t.TempDir()
	for _, r := range []string{"r1", "r2"} {
		mkdirAll(t, filepath.Join(root, r, "log"))
	}
	appendFile(t, filepath.Join(root, "r1", "log", "access.log"), "r1 a\n")
	current := filepath.Join(root, "current")
	if err := os.Symlink(filepath.Join(root, "r1"), current); err != nil {
		t.Fatal(err)
	}
	tl := openTailer(t, s, filepath.Join(current, "log", "access.log"))
	r := startReader(t, tl, 64<<10)
	r.waitFor([]byte("r1 a\n"), nil)
	asleep(t, w)
	symlinkOver(t, filepath.Join(root, "r2"), current)
	// The old release's writer goes on: the old file is drained by events.
	appendFile(t, filepath.Join(root, "r1", "log", "access.log"), "r1 b\n")
	r.waitFor([]byte("r1 a\nr1 b\n"), nil)
	asleep(t, w)
	appendFile(t, filepath.Join(root, "r1", "log", "access.log"), "r1 c\n")
	r.waitFor([]byte("r1 a\nr1 b\nr1 c\n"), nil)
}
