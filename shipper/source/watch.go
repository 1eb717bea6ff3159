package source

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/btree"
)

// A Watcher shares one fsnotify watcher among many sources. It watches directories (one
// watch per directory, however many subscribers) and wakes the subscribers whose names
// an event concerns; on fsnotify.ErrEventOverflow it watches everything again and wakes
// everyone, so that they rescan.
//
// A directory is followed by its path, not by the directory first found there: every
// ancestor of a subscribed directory is watched too, and an event in an ancestor for the
// name of the next component (created, deleted, renamed away or over, a symlink replaced)
// drops the watches from that component down and adds them again by path, waking the
// subscribers below. So a directory that does not exist yet, or that is deleted, renamed or
// recreated at any level, is event-driven again as soon as it (re)appears. The parent's
// event is what counts: the kernel keeps the watch of a deleted directory alive, and
// silent, for as long as something in it is still open (a deleted log that a writer holds
// open, drained during Config.RotateWait), so a new directory at the same path would
// otherwise never be watched.
//
// fsnotify is given each directory by its real path (symlinks resolved), one watch for
// all the nodes that lead to it (a symlinked directory and its target, current/log and
// r1/log): fsnotify keeps one inotify watch per directory, under the first path it was
// added by, so a second path's watch would be that one, dropped with it. An event is
// delivered to every node of its directory's real path.
//
// Its methods are safe for concurrent use. It owns one goroutine, stopped by Close.
type Watcher struct {
	log *slog.Logger
	fsw *fsnotify.Watcher
	m   *Metrics // WatchErrors; nil: not counted
	wg  sync.WaitGroup

	mu    sync.Mutex // Guards the fields below and every node.
	nodes map[string]*node
	reals map[string]*realWatch // the watches added to fsnotify, by real path
	done  bool

	// Listings (listing.go): the sync directory ("" without listings), the last sync
	// file created and the last one whose event was read, the channel closed when
	// synced moves, and how long a listing is trusted.
	syncDir         string
	syncSeq, synced uint64
	syncC           chan struct{}
	listTTL         time.Duration
	listings        uint64 // directories listed for listings (tests)
}

// realWatch is a directory watched through fsnotify, by its real path: the watched nodes
// that lead to it.
type realWatch struct {
	nodes []*node
}

// node is a directory of interest, by clean absolute path: subscribed, or an ancestor of
// one. A node lives while it has subscribers or nodes below it.
type node struct {
	path   string
	parent *node            // nil at the root
	kids   map[string]*node // by name
	subs   map[*Subscription]struct{}
	// The subscriptions again, so that an event costs the subscriptions it concerns, not
	// all of them (a directory of a thousand followed files): those of one name, by name,
	// and those that match names by a function or wake on every name (SetAll).
	named   map[string]map[*Subscription]struct{}
	wide    map[*Subscription]struct{}
	watched bool      // an fsnotify watch of path is held
	id      [2]uint64 // device and inode of the directory watched (as seen just before)
	real    string    // the real path of the watch held (in Watcher.reals), "" without
	// werr: why the directory at path, which exists, could not be watched at the last
	// try (no read permission on it, no search permission on the way, the watch limit);
	// nil while watched or missing.
	werr error

	// The listing of the directory (listing.go), nil until a lookup asks for it or after
	// events may have been lost: its names, when it was read from the directory, the
	// events of the directory so far and as of the last lookup, and its modification
	// time then.
	names      *btree.BTreeG[string]
	listedAt   time.Time
	events     uint64
	eventsSeen uint64
	dirMTime   time.Time
}

// A Subscription receives the wake-ups of one name, or of a whole directory.
type Subscription struct {
	w     *Watcher
	dir   string
	match func(name string) bool
	name  string      // the one name it matches (subscribeName), "" when match decides
	all   atomic.Bool // wake on any name in the directory (changed under w.mu)
	c     chan struct{}
	// hook, if set, is called with the name and operation of each event delivered to
	// the subscription, and at each rescan (a rename of its name), in the Watcher's
	// goroutine (it must not block or call the Watcher).
	hook atomic.Pointer[func(name string, op fsnotify.Op)]
	// rescans counts the rescans (rescan): a subscriber that sees it change knows that
	// events of its names may have been lost (a queue overflow, a watch added again),
	// and accounts by listing what it would have counted by events.
	rescans atomic.Uint64

	// With names (SubscribeNames): the names of the events since the last Take.
	names bool
	ready *Ready          // nil, or where the subscription is listed when an event comes
	nmu   sync.Mutex      // Guards the fields below.
	seen  map[string]bool // name -> an event of it created it (IN_CREATE, IN_MOVED_TO)
	whole bool            // everything may have changed: rescan the directory
	queue bool            // listed in ready since the last Take
}

// A Ready lists the subscriptions (with names) that had events since their last Take,
// so that a subscriber with many of them looks only at those. Its methods are safe for
// concurrent use.
type Ready struct {
	c    chan struct{} // capacity 1
	mu   sync.Mutex    // Guards the field below.
	subs []*Subscription
}

// NewReady returns an empty Ready.
func NewReady() *Ready { return &Ready{c: make(chan struct{}, 1)} }

// C receives a value (coalesced) after a subscription was listed.
func (r *Ready) C() <-chan struct{} { return r.c }

// Take returns the subscriptions listed since the last Take; call their Take next.
func (r *Ready) Take() []*Subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	subs := r.subs
	r.subs = nil
	return subs
}

func (r *Ready) add(s *Subscription) {
	r.mu.Lock()
	r.subs = append(r.subs, s)
	r.mu.Unlock()
}

// maxNames bounds the names a subscription gathers between two Takes; beyond it the
// subscriber rescans the directory instead.
const maxNames = 4096

// Take returns the names (in the subscribed directory) of the events since the last
// Take, each true when one of its events created it there (a new file, or one renamed
// into the directory), or whole: the directory's watch was (re)added or events were
// lost, or too many names came at once, and the subscriber must look at the whole
// directory.
func (s *Subscription) Take() (names map[string]bool, whole bool) {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	s.queue = false
	whole, s.whole = s.whole, false
	if !whole && len(s.seen) > 0 {
		names = maps.Clone(s.seen)
	}
	clear(s.seen)
	return names, whole
}

// event wakes the subscription for an event of name; created: the event created it.
func (s *Subscription) event(name string, created bool) {
	if s.names {
		s.nmu.Lock()
		if !s.whole {
			if len(s.seen) >= maxNames {
				s.whole = true
				clear(s.seen)
			} else {
				s.seen[name] = s.seen[name] || created
			}
		}
		s.queued()
	}
	s.notify()
}

// rescan wakes the subscription for a change of the whole directory. Its hook is called
// as for a rename of its name (of "" when match decides): the directory was replaced
// (a symlinked release directory switched) or its events may be lost, so the name may
// name another file now, and a tailer's looker looks (a reader held while the link
// was switched away and back never saw the release in between).
func (s *Subscription) rescan() {
	s.rescans.Add(1)
	if s.names {
		s.nmu.Lock()
		s.whole = true
		clear(s.seen)
		s.queued()
	}
	s.notify()
	if h := s.hook.Load(); h != nil {
		(*h)(s.name, fsnotify.Rename)
	}
}

// queued lists s in its Ready, once until the next Take, and unlocks s.nmu.
func (s *Subscription) queued() {
	first := s.ready != nil && !s.queue
	s.queue = true
	s.nmu.Unlock()
	if first {
		s.ready.add(s)
	}
}

// C returns the channel that receives a value (coalesced, capacity 1) after events.
func (s *Subscription) C() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.c
}

// rescanCount returns how many times s was rescanned (0 for nil: no watch).
func (s *Subscription) rescanCount() uint64 {
	if s == nil {
		return 0
	}
	return s.rescans.Load()
}

// onEvent sets the hook called with each event delivered to s (see Subscription.hook).
func (s *Subscription) onEvent(h func(name string, op fsnotify.Op)) {
	if s != nil {
		s.hook.Store(&h)
	}
}

// SetAll makes the subscription wake on every event of its directory (a tailer draining a
// file that was renamed away), or only on its own names again.
func (s *Subscription) SetAll(all bool) {
	if s == nil || s.all.Load() == all {
		return
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	s.all.Store(all)
	if n := w.nodes[s.dir]; n != nil && s.name != "" {
		if _, ok := n.subs[s]; !ok {
			return
		}
		if all {
			n.wide[s] = struct{}{}
		} else {
			delete(n.wide, s)
		}
	}
}

func (s *Subscription) notify() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Cancel ends the subscription and drops the watches no other subscription needs.
func (s *Subscription) Cancel() {
	if s == nil {
		return
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.nodes[s.dir]
	if n == nil {
		return
	}
	if _, ok := n.subs[s]; !ok {
		return
	}
	delete(n.subs, s)
	delete(n.wide, s)
	if s.name != "" {
		delete(n.named[s.name], s)
		if len(n.named[s.name]) == 0 {
			delete(n.named, s.name)
		}
	}
	w.prune(n)
}

// NewWatcher starts a Watcher.
func NewWatcher(log *slog.Logger) (*Watcher, error) { return newWatcher(log, nil) }

// newWatcher starts a Watcher that counts the directories it cannot watch in m (nil:
// not counted).
func newWatcher(log *slog.Logger, m *Metrics) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start fsnotify: %w", err)
	}
	w := &Watcher{log: log, fsw: fsw, m: m, nodes: map[string]*node{}, reals: map[string]*realWatch{}}
	w.wg.Go(w.run)
	return w, nil
}

// Subscribe wakes the returned subscription on events for the names in dir that match
// accepts, and whenever dir's watch is dropped or added again. A directory that does not
// exist yet is watched for as described on Watcher.
func (w *Watcher) Subscribe(dir string, match func(name string) bool) (*Subscription, error) {
	return w.subscribe(dir, match, make(chan struct{}, 1))
}

// SubscribeNames is Subscribe for a subscriber that wants the names of the events
// (Subscription.Take), so that an event costs it one name, not a rescan of dir. With a
// Ready, the subscription is listed there and signals its channel instead of its own.
func (w *Watcher) SubscribeNames(dir string, match func(name string) bool, ready *Ready) (*Subscription, error) {
	s := &Subscription{dir: dir, match: match, names: true, seen: map[string]bool{}, ready: ready}
	if ready != nil {
		s.c = ready.c
	} else {
		s.c = make(chan struct{}, 1)
	}
	return w.add(s)
}

// subscribe is Subscribe with the channel to signal (shared by several subscriptions).
func (w *Watcher) subscribe(dir string, match func(name string) bool, c chan struct{}) (*Subscription, error) {
	return w.add(&Subscription{dir: dir, match: match, c: c})
}

// subscribeName is subscribe for the one name in dir: an event of another name does not
// look at it (unless SetAll).
func (w *Watcher) subscribeName(dir, name string, c chan struct{}) (*Subscription, error) {
	return w.add(&Subscription{dir: dir, name: name, match: func(n string) bool { return n == name }, c: c})
}

// add starts subscription s.
func (w *Watcher) add(s *Subscription) (*Subscription, error) {
	s.w, s.dir = w, absClean(s.dir)
	dir := s.dir
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, ErrClosed
	}
	n := w.node(dir)
	if len(n.subs) == 0 && !n.watched {
		if n.werr != nil {
			w.cannotWatch(n)
		} else {
			w.log.Info("directory missing; watching its parents for it to appear", "dir", dir, "watching", w.anchor(n))
		}
	}
	n.subs[s] = struct{}{}
	if s.name == "" || s.all.Load() {
		n.wide[s] = struct{}{}
	}
	if s.name != "" {
		if n.named[s.name] == nil {
			n.named[s.name] = map[*Subscription]struct{}{}
		}
		n.named[s.name][s] = struct{}{}
	}
	return s, nil
}

// Watching reports whether dir itself is watched now (false while it is missing and its
// ancestors are watched for it). For tests and logs.
func (w *Watcher) Watching(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.nodes[absClean(dir)]
	return n != nil && n.watched
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// node returns the node of path, creating it and its ancestors, each watched if it can be
// (top-down, so that a directory created after its parent's watch was added is seen in
// the parent's events). w.mu is held.
func (w *Watcher) node(path string) *node {
	if n := w.nodes[path]; n != nil {
		return n
	}
	n := &node{path: path, kids: map[string]*node{}, subs: map[*Subscription]struct{}{},
		named: map[string]map[*Subscription]struct{}{}, wide: map[*Subscription]struct{}{}}
	if d := filepath.Dir(path); d != path {
		n.parent = w.node(d)
		n.parent.kids[filepath.Base(path)] = n
	}
	w.nodes[path] = n
	w.watch(n)
	return n
}

// prune removes n and its ancestors while nothing needs them. w.mu is held.
func (w *Watcher) prune(n *node) {
	for n != nil && len(n.subs) == 0 && len(n.kids) == 0 {
		if !w.done {
			w.unwatch(n)
		}
		delete(w.nodes, n.path)
		if n.parent != nil {
			delete(n.parent.kids, filepath.Base(n.path))
		}
		n = n.parent
	}
}

// anchor returns the nearest watched ancestor of n, for logs. w.mu is held.
func (w *Watcher) anchor(n *node) string {
	for a := n.parent; a != nil; a = a.parent {
		if a.watched {
			return a.path
		}
	}
	return ""
}

// watch adds the watch of n's directory if it exists now, by its real path (shared with
// the other nodes that lead there); n.werr says why one that exists could not be
// watched. w.mu is held.
func (w *Watcher) watch(n *node) {
	if n.watched {
		return
	}
	n.werr = nil
	fi, err := os.Stat(n.path)
	if err != nil || !fi.IsDir() {
		n.werr = notMissing(err)
		return
	}
	real, err := filepath.EvalSymlinks(n.path)
	if err != nil {
		n.werr = notMissing(err)
		return
	}
	// Added again even when shared: the directory at the real path may be another one
	// since (replaced, the old one's deletion not handled yet); fsnotify then watches the
	// new one, and adding the same one again changes nothing.
	if err := w.fsw.Add(real); err != nil {
		// (inotify_add_watch needs read permission on the directory: mode 0711, or
		// 0700 of another user, is searched, its files read, but not watched.)
		n.werr = &fs.PathError{Op: "watch", Path: real, Err: err}
		return
	}
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	rw := w.reals[real]
	if rw == nil {
		rw = &realWatch{}
		w.reals[real] = rw
	}
	rw.nodes = append(rw.nodes, n)
	n.watched, n.id, n.real = true, id, real
}

// notMissing returns err unless it says that the directory is not there (or not a
// directory): a directory that exists and cannot be reached (EACCES on the way, ELOOP)
// is no missing one.
func notMissing(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	return err
}

// cannotWatch logs, and counts, why n's directory, which subscribers wait on, exists and
// cannot be watched (n.werr): not as a missing directory (which it was logged as, with
// no word of the permission it lacks), but with the reason, the error and what to do.
// Its files are still read, on the poll backstop; a change of its mode or owner (an
// event in its parent) tries again (Watcher.run). w.mu is held.
func (w *Watcher) cannotWatch(n *node) {
	reason, remedy := WatchErrorOther, ""
	switch {
	case errors.Is(n.werr, fs.ErrPermission):
		reason, remedy = WatchErrorPermission, watchRemedy(n.path)
	case errors.Is(n.werr, syscall.ENOSPC):
		reason, remedy = WatchErrorLimit, "raise the inotify watch limit (sysctl fs.inotify.max_user_watches; each directory of followed files, and each of its parents, takes one watch)"
	}
	if w.m != nil {
		w.m.WatchErrors.WithLabelValues(reason).Inc()
	}
	attrs := []any{"dir", n.path, "reason", reason, "err", n.werr}
	if remedy != "" {
		attrs = append(attrs, "remedy", remedy)
	}
	w.log.Warn("cannot watch directory; the files followed in it are read on the poll backstop (--poll-interval) only, not at each write, until it can be", attrs...)
}

// release drops n's share of its real path's watch, and the watch with the last share
// (n.watched is left to the caller). w.mu is held.
func (w *Watcher) release(n *node) {
	rw := w.reals[n.real]
	if rw == nil {
		return
	}
	rw.nodes = slices.DeleteFunc(rw.nodes, func(o *node) bool { return o == n })
	if len(rw.nodes) == 0 {
		w.fsw.Remove(n.real) // fsnotify may have dropped it already (the directory is gone)
		delete(w.reals, n.real)
	}
	n.real = ""
}

// unwatch drops the watch of n's directory. w.mu is held.
func (w *Watcher) unwatch(n *node) {
	if n.watched {
		w.release(n)
		n.watched = false
	}
	n.names = nil
}

// renew drops the watches of n and of every node below it, then watches them again by
// path, top-down, waking their subscribers: a directory was created, deleted, renamed or
// replaced at n's path. w.mu is held.
func (w *Watcher) renew(n *node) {
	w.drop(n)
	w.rewatch(n)
}

func (w *Watcher) drop(n *node) {
	for _, k := range n.kids {
		w.drop(k)
	}
	// The subscribers' flag is kept in watched until rewatch compares: drop only the watch.
	if n.watched {
		w.release(n)
	}
	n.names = nil // listed again once watched again
}

func (w *Watcher) rewatch(n *node) {
	was, id, werr := n.watched, n.id, n.werr
	n.watched = false
	w.watch(n)
	if len(n.subs) > 0 {
		switch {
		case !n.watched && n.werr != nil && (was || werr == nil):
			w.cannotWatch(n) // (told once until it was watched, or missing, again)
		case was && !n.watched:
			w.log.Info("watched directory went away; waiting for it to come back", "dir", n.path, "watching", w.anchor(n))
		case !was && n.watched:
			w.log.Info("watching directory again", "dir", n.path)
		case was && n.watched && n.id != id:
			w.log.Info("watched directory was replaced; watching the new one", "dir", n.path)
		}
		for s := range n.subs {
			s.rescan()
		}
	}
	for _, k := range n.kids {
		w.rewatch(k)
	}
}

// structural is what an event in a parent means for the directory it names.
const structural = fsnotify.Create | fsnotify.Remove | fsnotify.Rename

func (w *Watcher) run() {
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			dir, base := filepath.Dir(name), filepath.Base(name)
			w.mu.Lock()
			if w.syncDir != "" && (dir == w.syncDir || name == w.syncDir) {
				w.syncEvent(ev, name)
				w.mu.Unlock()
				continue
			}
			var at []*node // the nodes of the event's directory; of the directory itself
			if rw := w.reals[dir]; rw != nil && dir != name {
				at = slices.Clone(rw.nodes)
			}
			for _, n := range at {
				if !n.watched {
					continue // dropped by the event of an alias
				}
				n.nameEvent(ev, base)
				deliver := func(s *Subscription) {
					s.event(base, ev.Op.Has(fsnotify.Create))
					if h := s.hook.Load(); h != nil {
						(*h)(base, ev.Op)
					}
				}
				for s := range n.named[base] {
					if !s.all.Load() { // else in wide
						deliver(s)
					}
				}
				for s := range n.wide {
					if s.all.Load() || s.match(base) {
						deliver(s)
					}
				}
				// A directory that exists but could not be watched (n.werr) is tried
				// again when its mode or owner changes (IN_ATTRIB): chmod o+r on it, or
				// on the directory above it, makes it watchable without a new name.
				if k := n.kids[base]; k != nil && (ev.Op&structural != 0 || ev.Op.Has(fsnotify.Chmod) && !k.watched && k.werr != nil) {
					w.renew(k)
				}
			}
			// A watched directory itself went away (IN_DELETE_SELF, IN_MOVE_SELF) where its
			// parent's event is not seen (the root, or a parent that cannot be watched).
			if rw := w.reals[name]; rw != nil && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
				for _, n := range slices.Clone(rw.nodes) {
					if n.parent == nil || !n.parent.watched {
						w.renew(n)
					}
				}
			}
			w.mu.Unlock()
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("fsnotify queue overflow, watching again and rescanning all sources")
			} else {
				w.log.Warn("fsnotify error; watching again and rescanning all sources", "err", err)
			}
			w.mu.Lock()
			for _, n := range w.nodes {
				if n.parent == nil {
					w.renew(n)
				}
			}
			w.eventsLost()
			w.mu.Unlock()
		}
	}
}

// Close stops the watcher and waits for its goroutine.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	w.done = true
	w.mu.Unlock()
	err := w.fsw.Close()
	w.wg.Wait()
	w.mu.Lock()
	w.disableListings()
	w.mu.Unlock()
	return err
}
