package source

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/btree"
)

// Directory listings shared by the tailers of a Set.
//
// A tailer looks for the rotated generations of its file (Config.RotatedNames) in its
// directory whenever it leaves a file, loses it, or suspects a copy. Listing the directory
// each time costs every drained file the size of the directory: many short-lived files in
// a busy directory cost more each the more files it holds. Instead the Watcher keeps, for
// each directory it watches, the names in it (sorted), kept current by the events of those
// names it gets anyway; a tailer looks up only the names that can be its rotated
// generations (those starting with the file's name, for the default patterns) and stats
// those.
//
// A listing is only as current as the events read so far: the kernel queues an event
// when a name changes, and the Watcher reads it a little later. A tailer that just saw a
// rotation (its path names another file) must find the renamed file in the listing, so a
// lookup first syncs with the event queue: it creates (and removes) a file in a private
// directory of the state directory, watched by the same fsnotify watcher, and waits until
// the Watcher has read that file's event. Every event queued before it (the rotation the
// tailer saw) has been applied to the listings by then. The lookup costs a few system
// calls whatever the size of the directory.
//
// Where events may have been lost the listing is read again from the directory: after an
// fsnotify queue overflow or error (every listing is dropped), when the directory's watch
// is added again or the directory replaced, when the directory changed (its modification
// time) while no event of it came (a file system whose changes do not all make events),
// and at the latest once per Config.PollInterval (the backstop). Without fsnotify, or
// when the sync directory cannot be used, every lookup lists the directory.

// syncTimeout bounds how long a lookup waits for its sync event; past it the directory
// is listed instead.
const syncTimeout = time.Second

// syncDirName is the private directory, in the state directory, of the sync files.
const syncDirName = "watch.sync"

// enableListings makes the Watcher keep listings of the directories it watches, synced
// through files created in dir (created; emptied first), and read again from the
// directory at the latest every ttl.
func (w *Watcher) enableListings(dir string, ttl time.Duration) error {
	dir = absClean(dir)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fsw.Add(dir); err != nil {
		os.Remove(dir)
		return err
	}
	w.syncDir, w.listTTL, w.syncC = dir, ttl, make(chan struct{})
	return nil
}

// disableListings stops the listings: every lookup lists the directory (the Set's Close,
// and benchmarks measuring the difference). w.mu is held.
func (w *Watcher) disableListings() {
	if w.syncDir == "" {
		return
	}
	if !w.done {
		w.fsw.Remove(w.syncDir)
	}
	os.RemoveAll(w.syncDir)
	w.syncDir = ""
	for _, n := range w.nodes {
		n.names = nil
	}
	w.syncReleased()
}

// syncReleased wakes the lookups waiting for their sync event. w.mu is held.
func (w *Watcher) syncReleased() {
	if w.syncC != nil {
		close(w.syncC)
		w.syncC = make(chan struct{})
	}
}

// syncEvent handles an event in the sync directory. w.mu is held.
func (w *Watcher) syncEvent(ev fsnotify.Event, name string) {
	if name == w.syncDir {
		if !ev.Op.Has(fsnotify.Remove) && !ev.Op.Has(fsnotify.Rename) {
			return
		}
		// The sync directory itself went away: no lookup can sync any more.
		w.log.Warn("watch sync directory removed; tailers list their directories from now on", "dir", name)
		w.disableListings()
		return
	}
	if !ev.Op.Has(fsnotify.Create) {
		return
	}
	if seq, err := strconv.ParseUint(filepath.Base(name), 10, 64); err == nil && seq > w.synced {
		w.synced = seq
		w.syncReleased()
	}
}

// eventsLost drops every listing (read again from their directories at the next lookup)
// and releases the lookups waiting for a sync event that may have been lost. w.mu is held.
func (w *Watcher) eventsLost() {
	for _, n := range w.nodes {
		n.names = nil
	}
	w.synced = w.syncSeq
	w.syncReleased()
}

// nameEvent applies an event of name in n's directory to n's listing. w.mu is held.
func (n *node) nameEvent(ev fsnotify.Event, name string) {
	n.events++
	if n.names == nil {
		return
	}
	switch {
	case ev.Op.Has(fsnotify.Create):
		n.names.ReplaceOrInsert(name)
	case ev.Op.Has(fsnotify.Remove), ev.Op.Has(fsnotify.Rename):
		n.names.Delete(name)
	}
}

// sync waits until every event queued before it was called has been read and applied.
// It reports false when it cannot tell (listings disabled, the watcher closed, or no
// event within syncTimeout).
func (w *Watcher) sync() bool {
	w.mu.Lock()
	if w.syncDir == "" || w.done {
		w.mu.Unlock()
		return false
	}
	w.syncSeq++
	seq, dir := w.syncSeq, w.syncDir
	w.mu.Unlock()
	name := filepath.Join(dir, strconv.FormatUint(seq, 10))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(name)
	var timeout <-chan time.Time
	for {
		w.mu.Lock()
		if w.synced >= seq {
			w.mu.Unlock()
			return true
		}
		if w.syncDir == "" || w.done {
			w.mu.Unlock()
			return false
		}
		c := w.syncC
		w.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(syncTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c:
		case <-timeout:
			return false
		}
	}
}

// listed returns the names in dir that start with one of prefixes ("": every name), as
// the directory holds them now: names created, renamed into it or deleted before listed
// was called are known. A name may be gone again (stat it). It reports false when dir has
// no listing it can trust: list the directory instead.
func (w *Watcher) listed(dir string, prefixes []string) (names []string, ok bool) {
	dir = absClean(dir)
	w.mu.Lock()
	n := w.nodes[dir]
	ok = w.syncDir != "" && n != nil && n.watched
	w.mu.Unlock()
	if !ok || !w.sync() {
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n = w.nodes[dir]; n == nil || !n.watched || w.syncDir == "" {
		return nil, false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, false
	}
	if dev, ino, _ := fileID(fi); [2]uint64{dev, ino} != n.id {
		return nil, false // replaced; the parent's event renews the watch
	}
	now := time.Now()
	if n.names == nil || now.Sub(n.listedAt) >= w.listTTL || (!fi.ModTime().Equal(n.dirMTime) && n.events == n.eventsSeen) {
		// Events applied after this listing and queued before it are applied again in
		// their order: the last event of a name decides, as it does in the directory.
		ents, err := os.ReadDir(dir)
		if err != nil {
			n.names = nil
			return nil, false
		}
		t := btree.NewOrderedG[string](16)
		for _, e := range ents {
			t.ReplaceOrInsert(e.Name())
		}
		n.names, n.listedAt = t, now
		w.listings++
	}
	n.dirMTime, n.eventsSeen = fi.ModTime(), n.events
	for i, p := range prefixes {
		if p == "" {
			n.names.Ascend(func(name string) bool { names = append(names, name); return true })
			return names, true
		}
		n.names.AscendGreaterOrEqual(p, func(name string) bool {
			if !strings.HasPrefix(name, p) {
				return false
			}
			// A name under two prefixes (one the prefix of another) is given once.
			for _, q := range prefixes[:i] {
				if strings.HasPrefix(name, q) {
					return true
				}
			}
			names = append(names, name)
			return true
		})
	}
	return names, true
}

// listed returns how many directories the Set's tailers listed so far to find rotated
// generations (for tests): each listing read from a directory, shared or not.
func (s *Set) listed() uint64 {
	n := s.dirListings.Load()
	if s.watcher != nil {
		s.watcher.mu.Lock()
		n += s.watcher.listings
		s.watcher.mu.Unlock()
	}
	return n
}
