package source

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// The symlinks a followed path goes through (a deployment's "current" link to a release
// directory) are switched by the deployment, not by rotations: each switch may put
// another release's log at the path. The tailer sees where the path leads at its looks
// (Tailer.look); one switched twice between two looks (rel2 -> rel3 -> rel1 while the
// reader is held, or busy) put rel3's log at the path when no look saw it, and nothing
// else leads to it: its lines were lost without a count. So each link on the way is
// watched by its own name in its directory, and each event of it (the link created,
// replaced by a rename over it: ln -sfn, mv -T) is handled at once in the Watcher's
// goroutine: where the path leads then is noted (linkWatch.seen), and so at each
// creation of the path's file (a release's log made after the switch to it); the next
// look holds that file ahead as it holds the path's (lookLinks). A link switched again
// even before its event was handled (the file it led to was never seen by anyone) is
// detected by the link's own identity (each switch makes a new link: linkID): a link
// created whose event finds the link of the event before, or none, was replaced unseen;
// the look counts it in files_missed_total and logs it (what that link led to, and its
// size, are not known).

// maxLinkSeen bounds the files noted at link events and not looked at yet.
const maxLinkSeen = 16

// A linkWatch is what the events of the links on a tailer's path noted for its next look.
// Its methods are safe for concurrent use (the Watcher's goroutine and the tailer's).
type linkWatch struct {
	// active: the path goes through symlinks (watched): a creation at the path is
	// noted too (noteTarget).
	active atomic.Bool

	mu sync.Mutex // Guards the fields below.
	// seen: where the path led at link events (its file's name and identity), oldest
	// first, not looked at yet.
	seen []linkTarget
	// ids: each link as last seen by its events (zero: none there); missed: links
	// created and replaced (or removed) before their event was handled.
	ids    map[string]linkID
	missed int
	// hook, set by tests, runs at the start of each event's handling (event,
	// noteTarget).
	hook func()
}

// A linkTarget is the file a symlinked path led to at a link event.
type linkTarget struct {
	name string
	id   [2]uint64
}

// event handles an event op of the link at link: where path leads now is noted, and a
// creation that finds the link of the event before (or none) counts a link replaced
// unseen. Called in the Watcher's goroutine: a few lstat and readlink calls, no lock of
// the tailer's.
func (w *linkWatch) event(path, link string, op fsnotify.Op) {
	w.mu.Lock()
	hook := w.hook
	w.mu.Unlock()
	if hook != nil {
		hook()
	}
	id := linkIDOf(link)
	t := targetOf(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ids == nil {
		w.ids = map[string]linkID{}
	}
	if op.Has(fsnotify.Create) && link != filepath.Clean(path) {
		// (The path itself a link: its creations are those of the path, each matched
		// by a file seen there or counted missed by the look, Tailer.owed.)
		_, lerr := os.Lstat(link)
		if last, ok := w.ids[link]; id == (linkID{}) && lerr != nil || id != (linkID{}) && ok && last == id {
			w.missed++
		}
	}
	if op.Has(fsnotify.Create) {
		// (Only creations: a removal's event handled after the next link was made, ln
		// -sfn's unlink then symlink, saw that link, which its own creation's event
		// would have taken for one seen before.)
		w.ids[link] = id
	}
	w.noteLocked(t)
}

// targetOf returns the regular file path leads to now (name "" when none).
func targetOf(path string) linkTarget {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		if fi, err := os.Stat(r); err == nil && fi.Mode().IsRegular() {
			dev, ino, _ := fileID(fi)
			return linkTarget{name: r, id: [2]uint64{dev, ino}}
		}
	}
	return linkTarget{}
}

// noteLocked notes t (unless it is none, or the last noted). w.mu is held.
func (w *linkWatch) noteLocked(t linkTarget) {
	if t.name == "" || len(w.seen) > 0 && w.seen[len(w.seen)-1] == t {
		return
	}
	w.seen = append(w.seen, t)
	if len(w.seen) > maxLinkSeen {
		w.seen = slices.Delete(w.seen, 0, len(w.seen)-maxLinkSeen)
	}
}

// noteTarget notes where the symlinked path leads now, at a creation of its file (a
// release's log made after the link was switched to it: the link event found none).
// Called in the Watcher's goroutine.
func (w *linkWatch) noteTarget(path string) {
	if !w.active.Load() {
		return
	}
	w.mu.Lock()
	hook := w.hook
	w.mu.Unlock()
	if hook != nil {
		hook()
	}
	t := targetOf(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noteLocked(t)
}

// noteLink records the link at link as it is now (its watch begins), so that its first
// creation event tells a replacement unseen from the switch it is.
func (w *linkWatch) noteLink(link string) {
	id := linkIDOf(link)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ids == nil {
		w.ids = map[string]linkID{}
	}
	w.ids[link] = id
}

// A linkID tells one symlink from the next made at the same name: its inode, and when it
// was made (its modification time, and its birth time where the file system keeps it).
// The inode alone does not: a link renamed over frees its inode, which the next link
// made is often given at once.
type linkID struct {
	ino         uint64
	mtime, born int64
}

// linkIDOf returns the identity of the symlink at name (the zero linkID when it is not
// one, or not there).
func linkIDOf(name string) linkID {
	li, err := os.Lstat(name)
	if err != nil || li.Mode()&fs.ModeSymlink == 0 {
		return linkID{}
	}
	_, ino, _ := fileID(li)
	return linkID{ino: ino, mtime: li.ModTime().UnixNano(), born: bornAt(name)}
}

// take returns what the events noted since the last take (keep: the files noted are
// kept for a later take) and clears it.
func (w *linkWatch) take(keep bool) (seen []linkTarget, missed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen, missed = w.seen, w.missed
	w.missed = 0
	if !keep {
		w.seen = nil
	}
	return seen, missed
}

// linksOn returns the symlinks path goes through as it resolves now, in the order met
// (each link's own path; a link a link's target leads through too), at most the kernel's
// 40 (ELOOP).
func linksOn(path string) []string {
	p, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	var links []string
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := 0; i < len(rest); i++ {
		if rest[i] == "" {
			continue
		}
		next := filepath.Join(cur, rest[i])
		li, err := os.Lstat(next)
		if err != nil || li.Mode()&fs.ModeSymlink == 0 {
			if err != nil {
				break
			}
			cur = next
			continue
		}
		if len(links) >= 40 {
			break
		}
		links = append(links, next)
		tgt, err := os.Readlink(next)
		if err != nil {
			break
		}
		if !filepath.IsAbs(tgt) {
			tgt = filepath.Join(cur, tgt)
		}
		// Resolve the target from the root again, then the rest of the path.
		rest = append(strings.Split(strings.TrimPrefix(filepath.Clean(tgt), "/"), "/"), rest[i+1:]...)
		cur, i = "/", -1
	}
	return links
}

// watchLinkEvents watches, each by its name in its directory, the symlinks the path goes
// through now (linksOn; none when it is not symlinked): their events are switches of
// where the path leads (linkWatch). Those it no longer goes through are let go.
func (t *Tailer) watchLinkEvents(symlinked bool) {
	var now []string
	if symlinked {
		now = linksOn(t.path)
	}
	for p, s := range t.lsubs {
		if !slices.Contains(now, p) {
			s.Cancel()
			delete(t.lsubs, p)
		}
	}
	for _, p := range now {
		if t.lsubs[p] != nil {
			continue
		}
		s, err := t.s.watcher.subscribeName(filepath.Dir(p), filepath.Base(p), t.tc)
		if err != nil {
			continue
		}
		if t.lsubs == nil {
			t.lsubs = map[string]*Subscription{}
		}
		t.links.noteLink(p)
		s.onEvent(func(_ string, op fsnotify.Op) {
			t.links.event(t.path, p, op)
			t.lookWanted.Store(true)
			t.s.looker.want(t)
		})
		t.lsubs[p] = s
	}
	t.links.active.Store(len(t.lsubs) > 0)
}

// lookLinks holds ahead, at a look, the files the path led to at link events since the
// last look (a file the look may no longer see at the path: the link switched on since)
// that are neither the followed generation nor the path's file now (the look holds
// that one), nor lingered on, nor done (holdAhead): each under the name the path led to
// then, an old target of the link once it leads elsewhere, drained in its turn
// (aheadGone). Links replaced before their event was handled are counted and logged:
// the files they led to were never seen.
func (t *Tailer) lookLinks(pathID [2]uint64) {
	seen, missed := t.links.take(!t.g.has)
	if missed > 0 {
		t.s.m.FilesMissed.Add(float64(missed))
		t.log.Warn("a symlink on the path was switched again before the tailer could see where it led: the file it led to in between (another release's log) was never seen, and its lines were not shipped, unless it led to a release seen otherwise; its size is not known, so it is not in lost_bytes_total",
			"links", missed, "reason", "symlink switched twice before it was looked at")
	}
	if !t.g.has {
		return // (kept for the look that follows a generation)
	}
	pathLink := false
	if li, err := os.Lstat(t.path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		pathLink = true
	}
	for _, l := range seen {
		if l.id == pathID || l.id == [2]uint64{t.g.key.dev, t.g.key.ino} {
			continue
		}
		fi, err := os.Stat(l.name)
		if err != nil || !fi.Mode().IsRegular() || !sameID(fi, l.id) {
			continue
		}
		if pathLink {
			// At the path then: the link made there is a creation of the path, which
			// it matches (Tailer.owed). (A link further up makes no creation event.)
			t.sawFile(l.id, l.name, true, fi)
		}
		t.holdAhead(l.name, fi)
		i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == l.id[0] && a.ino == l.id[1] })
		if i < 0 || t.ahead[i].target != "" {
			continue
		}
		t.ahead[i].target = l.name
		t.recordAhead(&t.ahead[i])
		t.log.Info("the path led to a file between two looks (a symlink on it switched, then switched again); held to be drained in its turn",
			"file", l.name, "size", fi.Size())
	}
}
