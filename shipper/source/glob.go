package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Glob follows every file matching a pattern, one Tailer (one stream) per path, and
// multiplexes their chunks. Matches present at a pattern's first start (from a state
// directory) without a checkpoint follow Config.FromBeginning; later matches, including
// those that appeared while the shipper was down, are read from their beginning (the
// state directory marks the patterns followed, Store.markGlob). Patterns should match
// live names only (access.log, not access.log.*) where they can; rotated names that match
// too are recognised by identity (the stream that reads the file drains it; a file a
// stream read and left is not read again: readBefore). Chunks are cut at Config.ChunkMax,
// since each child reads ahead in its own goroutine.
//
// New matches are found by events: every directory that matches the pattern's directory
// part is watched for the names the last component matches, and each event costs its
// name (a stat, no listing). A pattern with wildcards in directory names
// (/srv/*/logs/*.log) also watches, from its literal root down, the directories that
// match each level for the names of the next one, so that a matching directory that
// appears, is renamed or is recreated is watched (and its files followed) from the event.
// A directory that is a symlink or below one (current/log, current a deployment's link)
// is watched where the link leads too, or where its target will appear while it dangles
// (symlinkChain, as a Tailer watches a symlinked log).
// The pattern is listed in full only at start, on every Waker tick (the backstop), when
// a directory of it changed, and when events were lost.
//
// A match that cannot be read is retried by its tailer and never stops the others. A match
// deleted and drained is dropped (its goroutine, buffer and descriptor released), and its
// checkpoint removed once its last chunk is acknowledged; if the path appears again it
// continues the same stream.
//
// Each match's stream can be read again from an earlier position (RewindStream) for a
// collector that lacks it, as a Tailer can: only that match's reading goes back; its
// chunks read before the rewind are told apart by Chunk.Epoch.
//
// Concurrency: as for Source; RewindStream may be called concurrently with Next. Glob
// owns one goroutine per matched path plus the scanner; Close stops them and waits.
type Glob struct {
	s       *Set
	log     *slog.Logger
	pattern string
	root    string   // the pattern's literal directory: its longest prefix without wildcards
	levels  []string // the directory components after root, with wildcards in some
	ready   *Ready   // lists the subscriptions of dirs that had events; nil without fsnotify
	dirs    map[string]*globDir
	bySub   map[*Subscription]string // the key in dirs of each subscription
	out     chan globResult
	ctx     context.Context // the children's pumps' parent
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	rw      sync.Mutex  // serializes RewindStream
	started atomic.Bool // pumping was set (read without g.mu by Next)

	mu       sync.Mutex // Guards the fields below.
	children map[string]*Tailer
	pumps    map[string]*globPump // the pump of each child
	// pumping: the children are read. No child reads before the first Next (or
	// RewindStream): every source of the Set is opened by then, so that each stream
	// resumed from a checkpoint holds the file its checkpoint names before any other
	// stream reaches that file under another name (see Set.take).
	pumping bool
	epoch   uint64                // the last epoch given to a rewound stream
	closed  bool                  // Close began: no pump is started
	ended   map[string]Checkpoint // matches dropped before their end was acknowledged: the end
	failed  map[string]string     // matches that could not be opened, and why (logged once)
	// seen: the file each match not followed yet was when first listed (or named by an
	// event): opened later (after the matches listed before it, or after a failure), its
	// tailer begins with that file, found by identity if it was rotated meanwhile, not
	// with whatever is at the path then (its lines would be lost, silently).
	seen map[string]seenMatch
	// claimed: matches holding the file of another match's stream (renamed to a name the
	// pattern matches while the shipper was down), drained by that stream: not followed
	// as streams of their own while they hold that file (device and inode).
	claimed map[string][2]uint64
	// read: matches without a stream of their own holding a file a stream of the state
	// directory read and left (renamed again to a name the pattern matches: logrotate's
	// "extension .log", app.1.log -> app.2.log; a renamed directory), wholly read: not
	// followed while they hold no more than was read (past it, read on from there).
	read map[string]readMatch
	// copies: matches without a stream of their own that are copytruncate's copy of
	// the file a child follows (copyOfChild), and that child's path: drained by it.
	copies map[string]string

	// unlisted: the directories of the pattern the shipper may not list (EACCES), logged
	// once each until they can be listed again (owned by the scanner).
	unlisted map[string]bool
	// salt: the salt of the pattern's marker in the state directory (Store.markGlob), 0
	// when it has none (not written yet: the matches of the first start). Set before
	// the scanner starts, then only by it (mark, with mu held; read by follow).
	salt uint64
	// unmarked: the marker could not be written at the pattern's first start (an error
	// other than a full state directory, which the start waits out); the scanner tries
	// again after each scan (mark). Owned by the scanner, as named is.
	unmarked bool
	// named: the marker is an empty file named for the salt (Store.markGlobNamed: the
	// state directory was full); the scanner writes its content once there is space.
	named bool
	// markedFirst: this start was the pattern's first and wrote its marker: withdrawn
	// (Store.unmarkGlob) if the glob is closed before it was read (Close). Set before
	// the scanner starts, or by it (mark); read by Close once it stopped.
	markedFirst bool
}

// record writes the pattern's marker holding salt, or, when the state directory is full,
// an empty marker whose name holds it (Store.markGlobNamed), whose content a later scan
// writes (mark); named says which. A full state directory is counted and logged once
// for all its state (stateHealth). err is the marker's error when neither could be
// written.
func (g *Glob) record(salt uint64) (named bool, err error) {
	pattern := absPath(g.pattern)
	err = g.s.store.markGlob(pattern, salt)
	if err == nil || !stateFull(err) {
		return false, err
	}
	if nerr := g.s.store.markGlobNamed(pattern, salt); nerr != nil {
		g.log.Debug("cannot record the pattern in an empty marker either", "err", nerr)
		return false, err
	}
	g.s.store.health.fail("marker of pattern "+g.pattern, err)
	g.log.Info("state directory full: recorded that the pattern is followed in the name of an empty file (a start from now on reads the files without a checkpoint from their beginning); its content is written once there is space")
	return true, nil
}

// mark writes the pattern's marker if its first start could not, or its content if
// only its empty marker could be (record): from then on a start reads the matches
// without a checkpoint from their beginning. It runs in the scanner.
func (g *Glob) mark() {
	switch {
	case g.unmarked:
		salt := newStreamID()
		named, err := g.record(salt)
		if err != nil {
			return // logged at the first start
		}
		g.mu.Lock()
		g.salt, g.unmarked, g.named = salt, false, named
		g.mu.Unlock()
		g.markedFirst = true // still the pattern's first start
		g.log.Info("recorded in the state directory that the pattern is followed; a start from now on reads the files without a checkpoint from their beginning")
	case g.named:
		pattern := absPath(g.pattern)
		if g.s.store.markGlob(pattern, g.salt) != nil {
			return // the state directory is still full: retried at the next scan
		}
		g.named = false
		if err := g.s.store.dropNamedGlobMarks(pattern); err != nil {
			g.log.Debug("cannot remove the pattern's empty marker (its marker is written)", "err", err)
		}
		g.log.Debug("wrote the pattern's marker in place of its empty marker")
	}
}

// readMatch is the file at a match that a stream read and left, and how far.
type readMatch struct {
	id    [2]uint64
	left  int64
	mtime time.Time // its modification time then: changed, it is looked up again
}

// A globDir is a directory watched for a glob (owned by the scanner goroutine): one
// matching a directory level of the pattern (or its literal root).
type globDir struct {
	sub   *Subscription
	level int // index in levels of the names it holds; len(levels): the matched files
	// links: where the directory's path leads when it goes through symlinks (symlinkChain:
	// each link's target, and where a dangling one's will appear), each watched too and
	// delivering to this directory, so that a "current" link made before its release
	// directory (or retargeted to one not made yet) is followed by events.
	links map[string]*Subscription
}

// cancelDir ends gd's subscriptions.
func (g *Glob) cancelDir(gd *globDir) {
	gd.sub.Cancel()
	delete(g.bySub, gd.sub)
	for p, s := range gd.links {
		s.Cancel()
		delete(g.bySub, s)
		delete(gd.links, p)
	}
}

// globPump is the goroutine reading one child: it stamps the child's chunks with epoch.
// A chunk read but not delivered when the pump is stopped is kept in held for the next
// pump of the same epoch.
type globPump struct {
	epoch  uint64
	cancel context.CancelFunc
	done   chan struct{}
	held   *globResult
}

type globResult struct {
	ch  Chunk
	err error
}

// OpenGlob starts following pattern. A pattern that matches nothing yet is not an error.
func (s *Set) OpenGlob(pattern string) (*Glob, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %w", ErrConfig, pattern, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Glob{
		s: s, log: s.log.With("glob", pattern), pattern: pattern,
		out: make(chan globResult), ctx: ctx, cancel: cancel,
		dirs: map[string]*globDir{}, bySub: map[*Subscription]string{},
		children: map[string]*Tailer{}, pumps: map[string]*globPump{},
		ended: map[string]Checkpoint{}, failed: map[string]string{}, claimed: map[string][2]uint64{},
		read: map[string]readMatch{}, seen: map[string]seenMatch{}, copies: map[string]string{},
		unlisted: map[string]bool{},
	}
	g.root, g.levels = dirLevels(pattern)
	if s.watcher != nil {
		g.ready = NewReady()
	}
	g.watchDirs()
	s.expireCheckpoints(time.Now())
	g.resumeKnown()
	// A pattern followed before from this state directory reads the matches that have
	// no checkpoint from their beginning: they appeared while the shipper was down
	// (only a pattern's first run reads its matches from their end, as tail -F does).
	// The mark is made once the matches there at the first start are opened (from their
	// end): a crash before then does not read them from their beginning.
	mk, ferr := s.store.followedGlob(absPath(pattern))
	if ferr == nil && mk.before && mk.salt == 0 {
		// A marker written before salts were: given one (none if it cannot be written).
		salt := newStreamID()
		if named, err := g.record(salt); err == nil {
			mk.salt, mk.named = salt, named
		}
	}
	g.salt, g.named = mk.salt, mk.named
	if err := g.scan(ctx, s.cfg.FromBeginning || mk.before); err != nil {
		g.Close()
		return nil, err
	}
	if ferr == nil && !mk.before {
		salt := newStreamID()
		named, err := g.record(salt)
		switch {
		case err == nil:
			g.salt, g.named, g.markedFirst = salt, named, true
		case stateFull(err):
			// Not even an empty file fits (no inode left): the start waits for space
			// (a path's start does too), as a restart that found no marker would read
			// the matches from their end and lose the lines written meanwhile.
			g.Close()
			return nil, fmt.Errorf("record that glob %q is followed: %w", pattern, err)
		default:
			g.unmarked, ferr = true, err
		}
	}
	if ferr != nil {
		g.log.Warn("cannot record in the state directory that the pattern is followed (retried at every scan); a start before it is recorded reads the files there from their end: the lines written while the shipper was down are not shipped",
			"err", ferr)
	}
	if ms, _ := filepath.Glob(pattern); len(ms) == 0 {
		g.log.Warn("pattern matches no file yet; files that appear are followed from their beginning")
	}
	g.wg.Go(func() { g.run(ctx) })
	return g, nil
}

// dirLevels splits the directory of pattern into its literal root (no wildcards) and the
// components below it.
func dirLevels(pattern string) (root string, levels []string) {
	root = filepath.Dir(pattern)
	for hasMeta(root) {
		levels = append(levels, filepath.Base(root))
		root = filepath.Dir(root)
	}
	slices.Reverse(levels)
	return root, levels
}

// hasMeta reports whether path holds a character filepath.Match treats specially.
func hasMeta(path string) bool {
	magic := `*?[\`
	if runtime.GOOS == "windows" {
		magic = `*?[`
	}
	return strings.ContainsAny(path, magic)
}

// watchDirs makes the watched directories those matching each level of the pattern now:
// new ones are subscribed, those gone are dropped. It runs in the scanner (or before it
// starts).
func (g *Glob) watchDirs() {
	if g.ready == nil {
		return
	}
	want := map[string]int{g.root: 0}
	for i := range g.levels {
		ms, _ := filepath.Glob(filepath.Join(append([]string{g.root}, g.levels[:i+1]...)...))
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				want[filepath.Clean(m)] = i + 1
			} else if li, err := os.Lstat(m); err == nil && li.Mode()&fs.ModeSymlink != 0 {
				// A dangling link (to a directory not made yet): watched for where
				// its target will appear.
				want[filepath.Clean(m)] = i + 1
			}
		}
	}
	for d, gd := range g.dirs {
		if lvl, ok := want[d]; !ok || lvl != gd.level {
			g.cancelDir(gd)
			delete(g.dirs, d)
		}
	}
	base := filepath.Base(g.pattern)
	for d, lvl := range want {
		pat := base
		if lvl < len(g.levels) {
			pat = g.levels[lvl]
		}
		match := func(name string) bool {
			ok, _ := filepath.Match(pat, name)
			return ok
		}
		gd := g.dirs[d]
		if gd == nil {
			sub, err := g.s.watcher.SubscribeNames(d, match, g.ready)
			if err != nil {
				continue // closed
			}
			if lvl > 0 {
				g.log.Info("watching a matching directory", "dir", d)
			}
			gd = &globDir{sub: sub, level: lvl, links: map[string]*Subscription{}}
			g.dirs[d] = gd
			g.bySub[sub] = d
		}
		g.watchLinks(d, gd, match)
	}
}

// watchLinks makes the directories watched for d (besides d itself) those its path leads
// to now through symlinks (symlinkChain): the target of a link is watched where it is, or
// where it will appear while missing, and its events are d's.
func (g *Glob) watchLinks(d string, gd *globDir, match func(string) bool) {
	chain := symlinkChain(d)
	for p, s := range gd.links {
		if !slices.Contains(chain, p) {
			s.Cancel()
			delete(g.bySub, s)
			delete(gd.links, p)
		}
	}
	for _, p := range chain {
		if gd.links[p] != nil {
			continue
		}
		sub, err := g.s.watcher.SubscribeNames(p, match, g.ready)
		if err != nil {
			return // closed
		}
		g.log.Info("directory is a symlink or below one; watching its target's directory", "dir", d, "target", p)
		gd.links[p] = sub
		g.bySub[sub] = d
	}
}

func (g *Glob) run(ctx context.Context) {
	var ready <-chan struct{}
	if g.ready != nil {
		ready = g.ready.C()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ready:
			// An event costs its name: a new match is opened, others are skipped. The
			// pattern is listed again only when a directory of it changed, its watch was
			// (re)added or events were lost.
			if !g.events(ctx) {
				continue
			}
		case <-g.s.waker.Wake():
		}
		g.watchDirs()
		if err := g.scan(ctx, true); err != nil {
			g.log.Warn("glob rescan failed", "err", err)
		}
		g.mark()
		g.s.expireCheckpoints(time.Now())
	}
}

// events takes the names of the events in the watched directories and follows the new
// matches among them. It reports whether the pattern must be listed again: a directory
// of it appeared or went away, or a directory must be looked at whole.
func (g *Glob) events(ctx context.Context) (relist bool) {
	files := map[string]bool{} // path -> created by one of its events
	for _, sub := range g.ready.Take() {
		d, ok := g.bySub[sub]
		if !ok {
			continue // dropped since
		}
		names, whole := sub.Take()
		if whole {
			relist = true
			continue
		}
		if g.dirs[d].level == len(g.levels) {
			for n, created := range names {
				files[filepath.Join(d, n)] = created
			}
			continue
		}
		for n := range names {
			p := filepath.Join(d, n)
			if g.dirs[p] != nil {
				relist = true // a watched directory was deleted, renamed or replaced
			} else if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				relist = true // a matching directory appeared
			}
		}
	}
	if len(files) > 0 {
		g.mu.Lock()
		for p, created := range files {
			if !g.follow(ctx, p, true) && created {
				// Created and gone again before it could be opened: whatever it held
				// was never read. Its size is unknown; say so rather than lose it
				// silently. (Renamed to a name the glob matches, it is followed there.)
				g.s.m.FilesMissed.Inc()
				g.log.Warn("file created and gone again before it could be opened; its lines were not shipped (size unknown)",
					"path", p)
			}
		}
		g.mu.Unlock()
	}
	return relist
}

// scan starts a tailer for each new match. A match that cannot be opened is logged (once
// per reason) and retried at the next scan; the other matches are not affected.
func (g *Glob) scan(ctx context.Context, fromBeginning bool) error {
	g.s.m.GlobRescans.Inc()
	matches, err := filepath.Glob(g.pattern)
	if err != nil {
		return err
	}
	g.checkListable()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.failed) > 0 || len(g.claimed) > 0 || len(g.seen) > 0 || len(g.read) > 0 || len(g.copies) > 0 {
		// Forget the failures, claims and files of matches that are gone.
		listed := make(map[string]bool, len(matches))
		for _, m := range matches {
			listed[filepath.Clean(m)] = true
		}
		forgetUnlisted(g.failed, listed)
		forgetUnlisted(g.claimed, listed)
		forgetUnlisted(g.read, listed)
		forgetUnlisted(g.copies, listed)
		for m := range g.seen {
			if !listed[m] {
				// Seen, never followed (its open failed), and gone from the path
				// since: its tailer drains it where it is now, or counts it lost.
				matches = append(matches, m)
			}
		}
	}
	// The file of each new match as listed, before any is opened: opening hundreds takes
	// a while, and a match rotated meanwhile is begun with the file listed.
	for _, m := range matches {
		g.see(filepath.Clean(m), fromBeginning)
	}
	for _, m := range matches {
		g.follow(ctx, filepath.Clean(m), fromBeginning)
	}
	return nil
}

// checkListable logs (once until it changes) each directory whose names the pattern
// matches that the shipper may not list: filepath.Glob skips it silently, and the kernel
// refuses its watch, so its files would never be followed and nothing would say why.
func (g *Glob) checkListable() {
	dirs := []string{g.root}
	for i := 0; i <= len(g.levels); i++ {
		next := filepath.Base(g.pattern)
		if i < len(g.levels) {
			next = g.levels[i]
		}
		if hasMeta(next) {
			for _, d := range dirs {
				if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
					continue
				}
				f, err := os.Open(d)
				if err == nil {
					f.Close()
				}
				switch denied := errors.Is(err, fs.ErrPermission); {
				case denied && !g.unlisted[d]:
					g.unlisted[d] = true
					g.s.m.FileErrors.WithLabelValues(FileErrorPermission).Inc()
					g.log.Warn("cannot list a directory of the pattern; the files it holds are not followed until it can be, other files are not affected",
						"dir", d, "reason", FileErrorPermission, "err", err, "remedy", listRemedy(d))
				case !denied && g.unlisted[d]:
					delete(g.unlisted, d)
					g.log.Info("directory of the pattern can be listed again", "dir", d)
				}
			}
		}
		if i == len(g.levels) {
			break
		}
		dirs, _ = filepath.Glob(filepath.Join(append([]string{g.root}, g.levels[:i+1]...)...))
	}
}

// seenMatch is the file at a match not followed yet when it was first seen.
type seenMatch struct {
	fi            fs.FileInfo
	fromBeginning bool // how it was to be read then (from its end at start, unless FromBeginning)
}

// follow starts a tailer for the match m (a clean path) if it is not followed and still
// exists. A match that cannot be opened is logged (once per reason) and retried at the
// next scan or event. It reports false only when m is neither followed nor there. g.mu
// is held.
func (g *Glob) follow(ctx context.Context, m string, fromBeginning bool) bool {
	if _, ok := g.children[m]; ok {
		return true
	}
	g.see(m, fromBeginning)
	seen, wasSeen := g.seen[m]
	if _, err := os.Lstat(m); errors.Is(err, fs.ErrNotExist) && !wasSeen {
		// Listed (or named by an event), then deleted (and its tailer, if it had one,
		// dropped) before g.mu was taken: following it would record state for a file
		// that is gone. (A file seen there, renamed since, is drained by its tailer.)
		delete(g.failed, m)
		delete(g.claimed, m)
		delete(g.read, m)
		delete(g.copies, m)
		return false
	}
	id, wasClaimed := g.claimed[m]
	if wasClaimed {
		// The claim holds while the stream reads the file: once it left it (a new file
		// at its path), the match is followed on from where that stream left it.
		if fi, err := os.Stat(m); err == nil && g.s.owned(id, m) {
			if dev, ino, _ := fileID(fi); id == [2]uint64{dev, ino} {
				// Drained by the stream whose file it is; an event for this name (a
				// write through it) wakes that stream.
				g.s.pokeOwner(id)
				delete(g.seen, m)
				return true
			}
		}
		delete(g.claimed, m)
	}
	if g.holdsFollowed(m, id, wasClaimed) {
		delete(g.seen, m)
		return true
	}
	if g.s.FollowsPath(m) {
		// Another source (a path given to ship, another glob) follows it: one stream.
		delete(g.seen, m)
		if g.failed[m] != errFollowedElsewhere {
			g.failed[m] = errFollowedElsewhere
			g.log.Info("match followed by another source already; not followed twice", "path", m)
		}
		return true
	}
	var cont *Checkpoint
	if cp, ok := g.ended[m]; ok {
		cp := Checkpoint{Path: m, Stream: cp.Stream, Offset: cp.Offset}
		cont = &cp
	}
	how := openHow{fromBeginning: fromBeginning, cont: cont, match: true}
	if wasSeen {
		how.fromBeginning, how.seen = seen.fromBeginning, seen.fi
	}
	if how.fromBeginning {
		how.salt = g.salt
	}
	if cont == nil {
		// A match left by the stream that claimed it is a file a stream read and left,
		// as it is after a restart: not a stream of its own while it holds no more than
		// was read (readBefore).
		var read bool
		if how.readOn, read = g.readBefore(m); read {
			delete(g.seen, m)
			return true
		}
		if how.readOn == nil && g.copyOfChild(m) {
			delete(g.seen, m)
			return true
		}
	}
	delete(g.copies, m)
	t, err := g.s.openFileHow(m, how)
	if err != nil {
		if stateFull(err) {
			// Logged once for the state directory, not once per match and try (the
			// temporary file named in err differs at each).
			g.s.store.health.fail("state of match "+m, err)
			g.failed[m] = errStateFull
			return true
		}
		if msg := err.Error(); g.failed[m] != msg {
			g.failed[m] = msg
			g.log.Warn("cannot follow match; retried at the next scan", "path", m, "err", err)
		}
		return true
	}
	delete(g.failed, m)
	delete(g.ended, m)
	delete(g.seen, m)
	t.endWhenGone = true
	g.log.Debug("following new match", "path", m)
	g.adopt(t)
	return true
}

// errFollowedElsewhere marks, in Glob.failed, a match another source follows.
const errFollowedElsewhere = "followed by another source"

// errStateFull marks, in Glob.failed, a match not followed for want of space in the
// state directory (stateHealth logs it).
const errStateFull = "state directory full"

// see records the file at the match m, not followed yet, unless one was recorded
// already (the first one seen is the one its tailer must begin with). g.mu is held.
func (g *Glob) see(m string, fromBeginning bool) {
	if _, ok := g.children[m]; ok {
		return
	}
	if _, ok := g.seen[m]; ok {
		return
	}
	if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
		g.seen[m] = seenMatch{fi: fi, fromBeginning: fromBeginning}
	}
}

// holdsFollowed reports whether the new match m (no stream of its own) holds the file
// generation another match's stream follows: renamed to a name the pattern matches while
// followed (job-1.log -> job-1-done.log). Identity decides: that stream goes on reading
// it, and m is claimed, not read again as a new stream. A stream whose record still names
// the file but that no longer reads it (it moved on, nothing acknowledged since) holds no
// claim: m is then a file a stream read and left (readBefore). The claim is logged when
// made, not again while it holds (was: m's claim before, if any). g.mu is held.
func (g *Glob) holdsFollowed(m string, was [2]uint64, wasClaimed bool) bool {
	if _, own := g.s.store.followed.get(m); own {
		return false
	}
	fi, err := os.Stat(m)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	dev, ino, _ := fileID(fi)
	rec, ok := g.s.store.followed.holding(dev, ino)
	id := [2]uint64{dev, ino}
	if !ok || rec.Path == m || g.children[rec.Path] == nil || !g.s.owned(id, m) || (rec.FPLen > 0 && !headIs(m, fileKey{dev, ino, rec.FPLen, rec.FP})) {
		return false
	}
	g.claimed[m] = id
	if wasClaimed && was == id {
		return true
	}
	g.log.Info("a new match is the file another match follows (renamed to it, or another name of it: a symlink, a hard link); that stream goes on reading it", "path", m, "stream_path", rec.Path)
	return true
}

// readBefore looks up the new match m (no stream of its own yet) among the file
// generations the streams of the state directory read and left, in this run or a run
// before (their records of generations): a file renamed again to a name the pattern
// matches after its stream went on to the new file at its path (logrotate's "extension
// .log": app.log -> app.1.log, read by app.log's stream, then app.1.log -> app.2.log; a
// renamed directory: site1 -> site1.old1 -> site1.old2) is not a new file. Holding no
// more than was read, it is skipped (read reports true) until it grows; holding more, it
// is followed from where it was left (from). g.mu is held.
func (g *Glob) readBefore(m string) (from *FileMark, read bool) {
	if _, own := g.s.store.followed.get(m); own {
		return nil, false // its own stream: resumed from its checkpoint
	}
	f, err := openName(m)
	if err != nil {
		// Not told for want of a descriptor: skipped until the next scan or event,
		// never taken for a new file read from its start (untold).
		return nil, g.untold(m, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	if r, ok := g.read[m]; ok && r.id == id && fi.Size() <= r.left && fi.ModTime().Equal(r.mtime) {
		return nil, true // logged when first skipped
	}
	delete(g.read, m)
	lg, _, ok, err := g.s.store.left.readToErr(f, fi, 0)
	if err != nil {
		// A read error (EIO): the file's tailer reports it, retried; it is not told.
		g.untoldIO(m, err)
		return nil, true
	}
	if !ok {
		return nil, false
	}
	left, by := lg.left, g.s.store.pathOf(lg.stream)
	if lg.kept {
		g.s.m.FilesTruncated.Inc()
		g.log.Info("a new match is a file another stream read and left, truncated to a smaller size since (its first lines kept); not read again up to where it stops holding what was read",
			"path", m, "stream_path", by, "file_offset", left, "size", fi.Size())
	}
	if fi.Size() <= left {
		g.read[m] = readMatch{id: id, left: left, mtime: fi.ModTime()}
		g.log.Info("a new match is a file another stream read and left (renamed again to a name the pattern matches); not read again",
			"path", m, "stream_path", by, "file_offset", left)
		return nil, true
	}
	mark := FileMark{Dev: dev, Ino: ino, Size: left}
	if n := int(min(fi.Size(), FingerprintLen)); n > 0 {
		if fp, ok, err := fingerprintFile(f, n); err == nil && ok {
			mark.FPLen, mark.FP = n, fp
		}
	}
	g.log.Info("a new match is a file another stream read and left, written to since (renamed again to a name the pattern matches); read on from where it was left",
		"path", m, "stream_path", by, "file_offset", left, "size", fi.Size())
	return &mark, false
}

// copyOfChild reports whether the new match m (no stream of its own, not a file a
// stream read and left) is copytruncate's copy of the file a child follows, made or
// being made: a rotated name of the child's path (Config.RotatedNames) in its
// directory, that the child reads (drains) now, or empty (being copied), or starting
// with the head the child read (at least one whole line of it) and, while the child's
// file is still at its path and at least as long, ending with that file's bytes at the
// same offsets. The child drains the copy from where it read up to (or records it as
// read, copytruncate having copied only lines read) once it sees the truncation; the
// match is then a file a stream read and left (readBefore). It is not followed as a new
// stream from its start: its lines read by the child would be shipped twice. A copy
// that no longer starts with the child's head (the child moved on without taking it) is
// followed as a new match. Reported true, it is skipped until the next scan or event,
// also when it cannot be told for want of a descriptor (EMFILE, ENFILE: logged once,
// retried). g.mu is held.
func (g *Glob) copyOfChild(m string) bool {
	dir, base := filepath.Dir(m), filepath.Base(m)
	var kids []*Tailer
	for p, c := range g.children {
		if filepath.Dir(p) == dir && isRotatedName(g.s.rotLive, filepath.Base(p), base) {
			kids = append(kids, c)
		}
	}
	if len(kids) == 0 {
		return false
	}
	f, err := openName(m)
	if err != nil {
		return g.untold(m, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return g.untold(m, err)
	}
	dev, ino, _ := fileID(fi)
	id, size := [2]uint64{dev, ino}, fi.Size()
	for _, c := range kids {
		pg := c.pub.Load()
		why := ""
		switch {
		case pg == nil:
			continue
		case pg.id == id || g.s.ownedBy(id) == c:
			why = "it drains it now"
		case size == 0:
			why = "empty: being copied"
		default:
			n := min(size, int64(len(pg.head)))
			if n == 0 {
				continue
			}
			b := make([]byte, n)
			if _, err := f.ReadAt(b, 0); err != nil {
				if g.untold(m, err) {
					return true
				}
				continue
			}
			if !bytes.Equal(b, pg.head[:n]) || bytes.IndexByte(b, '\n') < 0 {
				continue
			}
			if live, err := os.Stat(c.path); err == nil && live.Size() >= size {
				if ld, li, _ := fileID(live); [2]uint64{ld, li} == pg.id {
					// Not truncated yet: the copy ends with the file's bytes there.
					if !g.endsLike(f, c.path, size) {
						continue
					}
				}
			}
			why = "it starts with the head that stream read"
		}
		if g.copies[m] != c.path {
			g.copies[m] = c.path
			g.log.Info("a new match is copytruncate's copy of the file another match follows ("+why+"); that stream drains it from where it read up to, it is not read again from its start",
				"path", m, "stream_path", c.path, "size", size)
		}
		return true
	}
	return false
}

// endsLike reports whether f, of size bytes, ends with the bytes the file at name holds
// before size.
func (g *Glob) endsLike(f *os.File, name string, size int64) bool {
	k := min(size, 64)
	a, b := make([]byte, k), make([]byte, k)
	if _, err := f.ReadAt(a, size-k); err != nil {
		return false
	}
	lf, err := openName(name)
	if err != nil {
		return isFDLimit(err) // (not told: the copy is kept waiting)
	}
	defer lf.Close()
	if _, err := lf.ReadAt(b, size-k); err != nil {
		return false
	}
	return bytes.Equal(a, b)
}

// untold handles an error met while telling the new match m apart from the files the
// streams read: a shortage of descriptors (EMFILE, ENFILE) leaves m untold, skipped
// until the next scan or event (true; logged once), never taken for a new file read
// from its start; other errors are the tailer's to report (false).
func (g *Glob) untold(m string, err error) bool {
	if err == nil || !isFDLimit(err) {
		return false
	}
	if msg := "untold: " + err.Error(); g.failed[m] != msg {
		g.failed[m] = msg
		g.s.m.FileErrors.WithLabelValues(errorReason(err)).Inc()
		g.log.Warn("cannot tell whether a new match is a file a stream read, for want of a file descriptor; retried at the next scan (raise ulimit -n, LimitNOFILE=, or lower --max-open-files)",
			"path", m, "err", err)
	}
	return true
}

// untoldIO logs (once per error) a new match that could not be read to tell it apart
// from the files the streams read: skipped until the next scan or event. g.mu is held.
func (g *Glob) untoldIO(m string, err error) {
	if msg := "untold: " + err.Error(); g.failed[m] != msg {
		g.failed[m] = msg
		g.s.m.FileErrors.WithLabelValues(errorReason(err)).Inc()
		g.log.Warn("cannot read a new match to tell whether it is a file a stream read; retried at the next scan", "path", m, "err", err)
	}
}

// adopt makes t a child and starts its pump once the children are read. g.mu is held.
func (g *Glob) adopt(t *Tailer) {
	g.children[t.path] = t
	if g.pumping {
		g.startPump(t, &globPump{epoch: g.epoch})
	}
}

// startPumps starts reading the children, at the first Next or RewindStream.
func (g *Glob) startPumps() {
	if g.started.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pumping {
		return
	}
	g.pumping = true
	g.started.Store(true)
	for _, p := range slices.Sorted(maps.Keys(g.children)) {
		if g.pumps[p] == nil {
			g.startPump(g.children[p], &globPump{epoch: g.epoch})
		}
	}
}

// A knownStream is a stream the state directory knows of a glob (its record), or a file
// new to a reloaded configuration (its mark), whose file is not at its path.
type knownStream struct {
	path string
	gone bool // nothing at the path
	id   fileKey
	size int64     // the least size of the file: its mark's
	mark *FileMark // nil for a stream of the state directory
}

// resumeKnown resumes, before the first scan, every stream the state directory knows of
// the pattern whose file is no longer at its path (renamed or deleted while the shipper
// was down, or while a reload swapped the sources), and every marked file of a reload in
// the same case: the file is found by identity (device, inode and head) wherever it is
// in its directory, and drained from the checkpoint (or mark).
//
//   - Its path gone and its file renamed to a name the pattern matches that no stream
//     has: the stream continues there (the match is not read again as a new stream).
//   - Its path gone otherwise: the stream is followed at its path, which is drained from
//     where the file is now (a rotated name, or any other name), then its rotated
//     generations not read yet; RotateWait after the file's last growth (a writer may
//     still hold it), unless the path came back, it is dropped and its checkpoint removed
//     once acknowledged. A file gone entirely is counted and logged by the tailer.
//   - Its path holding another file: the stream is followed at its path as any match,
//     draining first the file found under another name, which, if the pattern matches
//     it, is not followed as a stream of its own while it holds that file.
//
// The identity is the one the record of followed sources holds (the last generation
// saved; the tailer checks the checkpoint's), so that checkpoints are loaded once, by
// the tailers. Checkpoints of paths gone for longer than Config.CheckpointExpiry are not
// resumed. A stream that cannot be resumed is logged and left to the scan.
func (g *Glob) resumeKnown() {
	match := func(p string) bool {
		ok, _ := filepath.Match(g.pattern, p)
		return ok
	}
	var ks []knownStream
	now := time.Now()
	for _, p := range g.s.store.Known(func(p string) bool { return !strings.HasPrefix(p, stdinPrefix) && match(p) }) {
		rec, ok := g.s.store.followed.get(p)
		if !ok {
			continue
		}
		_, err := os.Lstat(p)
		gone := errors.Is(err, fs.ErrNotExist)
		hasFile := rec.Dev != 0 || rec.Ino != 0
		if !gone && (!hasFile || atPath(p, rec.Dev, rec.Ino)) {
			continue // followed at its path by the scan
		}
		if exp := g.s.cfg.CheckpointExpiry; gone && exp > 0 {
			if at := g.s.store.savedAt(p); !at.IsZero() && now.Sub(at) > exp {
				continue // expired (removed by the next expiry run)
			}
		}
		ks = append(ks, knownStream{path: p, gone: gone, id: fileKey{rec.Dev, rec.Ino, rec.FPLen, rec.FP}})
	}
	if since := g.s.cfg.Since; since != nil {
		for p, m := range since.Files {
			if !match(p) {
				continue
			}
			if _, ok := g.s.store.followed.get(p); ok {
				continue // resumed from its checkpoint
			}
			_, err := os.Lstat(p)
			gone := errors.Is(err, fs.ErrNotExist)
			if !gone && atPath(p, m.Dev, m.Ino) {
				continue
			}
			ks = append(ks, knownStream{path: p, gone: gone, id: fileKey{m.Dev, m.Ino, m.FPLen, m.FP}, size: m.Size, mark: &m})
		}
	}
	if len(ks) == 0 {
		return
	}
	slices.SortFunc(ks, func(a, b knownStream) int { return strings.Compare(a.path, b.path) })
	g.mu.Lock()
	defer g.mu.Unlock()
	byID := map[string]map[[2]uint64]string{} // per directory: the regular files by identity
	var matchByID map[[2]uint64]string        // the pattern's matches by identity, when needed
	var others []string                       // the directories of the state directory's sources, when needed
	for _, k := range ks {
		dir := filepath.Dir(k.path)
		if byID[dir] == nil {
			byID[dir] = filesByID(dir)
		}
		key := k.id
		name, moved := "", false
		if key.dev != 0 || key.ino != 0 {
			name = byID[dir][[2]uint64{key.dev, key.ino}]
			if name == "" && len(g.levels) > 0 {
				// Under a directory the pattern matches that was renamed to another
				// one it matches (srv/site1 -> srv/site1.old1).
				if matchByID == nil {
					matchByID = g.matchesByID()
				}
				name = matchByID[[2]uint64{key.dev, key.ino}]
			}
			if name == "" {
				// Moved while the shipper was down to the directory of another source
				// (mv d1/x.log d2/x.log, both followed): drained from there by this
				// stream, from its checkpoint, then handed over to that source at the
				// offset shipped (not read again on a new stream from its start).
				if others == nil {
					others = g.s.store.sourceDirs(g.s.cfg.Sources)
				}
				name = movedIn(others, dir, [2]uint64{key.dev, key.ino}, byID)
				moved = name != ""
			}
		}
		if name != "" {
			fi, err := os.Stat(name)
			if dev, ino, _ := fileIDOf(fi, err); name == k.path || dev != key.dev || ino != key.ino || fi.Size() < k.size ||
				(key.fpLen > 0 && !headIs(name, key)) {
				name = ""
			}
		}
		if name != "" && moved && k.mark == nil && !g.bornAsCheckpointed(k.path, name) {
			name = ""
		}
		if name != "" && moved && k.gone && k.mark == nil && g.s.ownedBy([2]uint64{key.dev, key.ino}) != nil {
			// Taken already by the source that names it there, opened before this glob:
			// read on from this stream's checkpoint (Set.checkpointed). Not read twice;
			// nothing is left to this stream.
			g.log.Info("match moved while the shipper was down to the directory of another source, which reads it on from this stream's checkpoint; its checkpoint is removed",
				"path", k.path, "file", name)
			g.removeCheckpoint(k.path)
			continue
		}
		free := name != "" && match(name) && g.children[name] == nil
		if free {
			if _, ok := g.s.store.followed.get(name); ok {
				// A stream of its own (a match renamed over another while the shipper
				// was down): k drains the file from there, and the other stream, its
				// file gone, reads it too (twice, in two streams).
				free = false
			}
		}
		if free && k.gone {
			if err := g.continueAt(&k, name); err != nil {
				g.log.Warn("cannot continue a renamed match's stream at its new name; it is followed as a new match", "path", k.path, "file", name, "err", err)
			}
			continue
		}
		t, err := g.s.openFileHow(k.path, openHow{fromBeginning: g.s.cfg.FromBeginning, at: name, mark: k.mark, endWhenGone: true, orphan: k.gone, match: true})
		if err != nil {
			g.log.Warn("cannot resume a match by the identity of its file", "path", k.path, "file", name, "err", err)
			continue
		}
		if k.gone {
			g.log.Info("resuming a match whose path is gone by the identity of its file", "path", k.path, "file", name)
		}
		g.adopt(t)
		if free {
			g.claimed[name] = [2]uint64{key.dev, key.ino}
		}
	}
}

// continueAt continues the stream k, whose path is gone, at the match name holding its
// file: the stream, its checkpoint and its record of generations move there.
func (g *Glob) continueAt(k *knownStream, name string) error {
	how := openHow{mark: k.mark, endWhenGone: true, match: true}
	if k.mark == nil {
		cp, found, err := g.s.store.Load(k.path)
		if err != nil {
			return err
		}
		if !found || !cp.HasFile() {
			return fmt.Errorf("no checkpoint of a file")
		}
		if err := g.s.store.moveGens(k.path, name); err != nil {
			return err
		}
		cp.Path = name
		how.cont = &cp
	}
	t, err := g.s.openFileHow(name, how)
	if err != nil {
		if how.cont != nil {
			_ = g.s.store.moveGens(name, k.path) // the stream stays at its path
		}
		return err
	}
	if how.cont != nil {
		if err := g.s.store.Remove(k.path); err != nil {
			t.Close()
			return err
		}
	}
	g.log.Info("match renamed to another match while not followed; its stream continues there", "path", k.path, "file", name)
	g.adopt(t)
	return nil
}

// movedIn returns the name of the file id in one of the directories dirs other than
// dir (byID caches their listings), "" if none holds it. The caller checks that it is
// the file it looks for (its head, the last bytes read before its checkpoint): ext4
// gives a deleted file's inode number to the next file created, in any directory.
func movedIn(dirs []string, dir string, id [2]uint64, byID map[string]map[[2]uint64]string) string {
	for _, d := range dirs {
		if d == dir {
			continue
		}
		if byID[d] == nil {
			byID[d] = filesByID(d)
		}
		if name := byID[d][id]; name != "" {
			return name
		}
	}
	return ""
}

// bornAsCheckpointed reports whether the file at name, found in another source's
// directory with the device, inode and head the checkpoint of path names, is the file
// checkpointed by its birth time (Checkpoint.Born), when both are known: ext4 gives a
// deleted file's inode number to the next file created, in any directory, and a job
// log's new file may start with the same header line and hold the last line read (the
// header) at the same offset. One born since is another file, read by its own match.
func (g *Glob) bornAsCheckpointed(path, name string) bool {
	cp, found, err := g.s.store.Load(path)
	if err != nil || !found || cp.Born == 0 {
		return true
	}
	f, err := openName(name)
	if err != nil {
		return true // told by the tailer's checks when it opens it
	}
	defer f.Close()
	if b := bornOf(f); b != 0 && b != cp.Born {
		g.log.Info("a file in another source's directory has the device, inode and head of a match's checkpointed file, but was born since (a new file given the deleted one's inode number); not taken for it",
			"path", path, "file", name)
		return false
	}
	return true
}

// matchesByID lists the regular files the pattern matches by device and inode.
func (g *Glob) matchesByID() map[[2]uint64]string {
	ms, _ := filepath.Glob(g.pattern)
	m := make(map[[2]uint64]string, len(ms))
	for _, name := range ms {
		if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
			dev, ino, _ := fileID(fi)
			m[[2]uint64{dev, ino}] = filepath.Clean(name)
		}
	}
	return m
}

// atPath reports whether the file at path is dev, ino.
func atPath(path string, dev, ino uint64) bool {
	fi, err := os.Stat(path)
	d, i, _ := fileIDOf(fi, err)
	return err == nil && d == dev && i == ino
}

// fileIDOf is fileID of a Stat's result; zero on error.
func fileIDOf(fi fs.FileInfo, err error) (dev, ino, nlink uint64) {
	if err != nil {
		return 0, 0, 0
	}
	return fileID(fi)
}

// filesByID lists the regular files of dir by device and inode.
func filesByID(dir string) map[[2]uint64]string {
	ents, err := os.ReadDir(dir)
	m := make(map[[2]uint64]string, len(ents))
	if err != nil {
		return m
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		dev, ino, _ := fileID(fi)
		m[[2]uint64{dev, ino}] = filepath.Join(dir, e.Name())
	}
	return m
}

// startPump starts p reading t. g.mu is held.
func (g *Glob) startPump(t *Tailer, p *globPump) {
	if g.closed {
		return
	}
	ctx, cancel := context.WithCancel(g.ctx)
	if pumpHook != nil {
		pumpHook(ctx)
	}
	p.cancel, p.done = cancel, make(chan struct{})
	g.pumps[t.path] = p
	g.wg.Go(func() {
		defer close(p.done)
		g.pump(ctx, t, p)
	})
}

// pumpHook, when set (by tests, before the glob is opened), is given the context of
// every pump started.
var pumpHook func(ctx context.Context)

func (g *Glob) pump(ctx context.Context, t *Tailer, p *globPump) {
	for {
		var r globResult
		if p.held != nil {
			r, p.held = *p.held, nil
		} else {
			ch, err := t.Next(ctx, g.s.cfg.ChunkMax)
			switch {
			case err == nil: // kept even if ctx just ended: held below
			case ctx.Err() != nil:
				return
			case errors.Is(err, io.EOF):
				g.drop(t)
				return
			}
			ch.Epoch = p.epoch
			r = globResult{ch, err}
		}
		select {
		case g.out <- r:
		case <-ctx.Done():
			p.held = &r // delivered by the next pump, unless the stream is rewound
			return
		}
		if r.err != nil {
			return
		}
	}
}

// RewindStream makes the match whose stream is stream read again from pos, a Chunk.Pos
// of it, or from where it was opened (or continued) when pos is nil, by the rules of
// Tailer.Rewind. Only that match goes back: its reading is stopped, the tailer rewinds,
// and its chunks from then on carry the returned epoch, higher than that of every chunk
// of the stream returned before (which the caller drops, wherever they still are). A
// stream no longer followed (its match deleted and drained) is ErrNotFollowed; on any
// error the match goes on reading where it was.
func (g *Glob) RewindStream(stream uint64, pos *Checkpoint) (uint64, error) {
	g.startPumps()
	g.rw.Lock()
	defer g.rw.Unlock()
	g.mu.Lock()
	t := g.childOf(stream)
	p := (*globPump)(nil)
	if t != nil {
		p = g.pumps[t.path]
	}
	if t == nil || p == nil || g.closed {
		g.mu.Unlock()
		return 0, fmt.Errorf("%w: stream %d of %s", ErrNotFollowed, stream, g.pattern)
	}
	p.cancel()
	g.mu.Unlock()
	<-p.done // (a pump that reached the end of its match takes g.mu to drop it)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pumps, t.path)
	if g.children[t.path] != t {
		return 0, fmt.Errorf("%w: stream %d of %s", ErrNotFollowed, stream, g.pattern)
	}
	if err := t.Rewind(pos); err != nil {
		g.startPump(t, &globPump{epoch: p.epoch, held: p.held})
		return 0, err
	}
	g.epoch++
	g.startPump(t, &globPump{epoch: g.epoch})
	return g.epoch, nil
}

// drop forgets a match whose file was deleted and drained: its checkpoint goes once its
// end is acknowledged.
func (g *Glob) drop(t *Tailer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.children[t.path] != t {
		return
	}
	delete(g.children, t.path)
	if p := g.pumps[t.path]; p != nil {
		p.cancel() // (its pump is returning) releases its context from g.ctx
		delete(g.pumps, t.path)
	}
	end := t.pos()
	t.noStop = true // its checkpoint goes once its end is acknowledged
	t.Close()
	g.log.Debug("match deleted and drained; released", "path", t.path)
	// Nothing read since it was opened: nothing left to acknowledge (a stream resumed
	// after a restart whose file was gone: its offsets jumped past the checkpoint).
	if t.acked.Load() >= end.Offset || end.Offset == t.start.Offset {
		g.removeCheckpoint(t.path)
		return
	}
	g.ended[t.path] = end
}

// removeCheckpoint removes the checkpoint of a dropped match. g.mu is held.
func (g *Glob) removeCheckpoint(path string) {
	if err := g.s.store.Remove(path); err != nil {
		g.log.Warn("cannot remove the checkpoint of a deleted match; it expires later", "path", path, "err", err)
		return
	}
	g.s.m.CheckpointsExpired.Inc()
}

// Pattern returns the glob pattern followed.
func (g *Glob) Pattern() string { return g.pattern }

// Paths returns the paths the glob follows now.
func (g *Glob) Paths() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ps []string
	for p := range g.children {
		ps = append(ps, p)
	}
	return ps
}

// Next implements Source. max must be at least Config.ChunkMax.
func (g *Glob) Next(ctx context.Context, max int) (Chunk, error) {
	if max < g.s.cfg.ChunkMax {
		return Chunk{}, fmt.Errorf("%w: %d below chunk max %d", ErrChunkMax, max, g.s.cfg.ChunkMax)
	}
	g.startPumps()
	select {
	case r := <-g.out:
		return r.ch, r.err
	case <-ctx.Done():
		return Chunk{}, ctx.Err()
	}
}

// Ack implements Source. Only the position of a followed match is saved: an
// acknowledgement that arrives after its match was dropped (deleted and drained, its
// checkpoint removed), or that belongs to a stream the path no longer has, or that does
// not go past where the match was (re)opened, would leave a checkpoint of a file that is
// gone, or take a continued stream back to the file before it.
func (g *Glob) Ack(pos Checkpoint) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if end, ok := g.ended[pos.Path]; ok && end.Stream == pos.Stream {
		if pos.Offset >= end.Offset {
			delete(g.ended, pos.Path)
			g.removeCheckpoint(pos.Path)
		}
		return nil
	}
	t := g.children[pos.Path]
	if t == nil || t.stream != pos.Stream {
		return nil
	}
	t.noteAck(pos.Offset)
	if pos.Offset <= t.start.Offset {
		return nil // the start was saved when the match was opened
	}
	t.lastAck.Store(&pos)
	return g.s.store.Save(pos)
}

// Forgot reports whether the glob, or another source of its state directory, will never
// return chunks of stream again: its match was deleted, drained and acknowledged, and its
// checkpoint removed (see Store.Forgot). A sender drops what it keeps of such a stream.
func (g *Glob) Forgot(stream uint64) bool { return g.s.store.Forgot(stream) }

// UnusedRanges returns the offsets of stream, one of its matches, that a run announced
// unused (see Tailer.UnusedRanges); nil for a stream it does not follow. It may be
// called concurrently with Next.
func (g *Glob) UnusedRanges(stream uint64) []OffsetRange {
	g.mu.Lock()
	t := g.childOf(stream)
	g.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.UnusedRanges(stream)
}

// childOf returns the match's tailer whose stream is stream, nil if none. g.mu is held.
func (g *Glob) childOf(stream uint64) *Tailer {
	for _, c := range g.children {
		if c.stream == stream {
			return c
		}
	}
	return nil
}

// Forgotten receives a value (coalesced) after a source of the state directory was
// forgotten (see Store.Forgotten).
func (g *Glob) Forgotten() <-chan struct{} { return g.s.store.Forgotten() }

// Close implements Source: it stops the scanner and the children and closes their files.
func (g *Glob) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	if g.markedFirst && !g.started.Load() {
		// The pattern's first start, closed before anything was read (another source's
		// start failed, for want of space: it is retried): the next start is its first.
		if err := g.s.store.unmarkGlob(absPath(g.pattern)); err != nil {
			g.log.Warn("cannot withdraw the record that the pattern is followed (closed before it was read); the next start reads the files without a checkpoint from their beginning", "err", err)
		}
	}
	for d, gd := range g.dirs {
		g.cancelDir(gd)
		delete(g.dirs, d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, t := range g.children {
		t.Close()
		delete(g.children, p)
	}
	return nil
}

// forgetUnlisted deletes from m the matches not listed.
func forgetUnlisted[V any](m map[string]V, listed map[string]bool) {
	maps.DeleteFunc(m, func(k string, _ V) bool { return !listed[k] })
}
