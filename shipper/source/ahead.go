package source

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxAhead bounds the newer generations a tailer keeps track of while it drains an older
// one (an entry without a descriptor is a few words; descriptors are bounded by
// MaxOpenFiles). It is far above logrotate's usual rotate counts.
const maxAhead = 1024

// unclaimedFor is how long a new rotated file seen before its creation's event was
// counted may match that event (the Watcher's goroutine lags behind the kernel's queue by
// far less).
const unclaimedFor = time.Minute

// maxKnown bounds the identities of files a tailer remembers having seen (lookState.known).
const maxKnown = 256

// lookState is what a tailer knows of the generations ahead of the one it reads, and of
// the creations of its path it has accounted for (see look).
type lookState struct {
	// mu is held by Next while it runs and by the looker's looks (looker.go); Rewind
	// and Close take it too.
	mu sync.Mutex
	// ahead: newer generations seen while an older one is drained; gone: those of
	// them seen deleted without a descriptor (their loss is counted in turn).
	ahead []aheadFile
	gone  []aheadFile
	// looks counts the looks (aheadOrder).
	looks uint64
	// creates counts the files created at (or renamed to) the path, by events, not
	// taken into owed yet; lookWanted: an event asked for a look not done yet.
	creates    atomic.Int64
	lookWanted atomic.Bool
	// nexts counts the calls of Next (the looker skips a look asked for by a write that
	// a Next came after).
	nexts atomic.Uint64
	// owed is the number of creations of the path not matched yet by a new file seen
	// (at the path, or rotated); below 0 when files were seen before their event came.
	owed int64
	// known: the files seen (device, inode -> where and how large last seen), oldest
	// first in knownOrder.
	known      map[[2]uint64]seenFile
	knownOrder [][2]uint64
	// unclaimed: when rotated files were seen new while no creation was owed (their
	// events still to come), for unclaimedFor.
	unclaimed []time.Time
	// openedAt: rotated files modified before it are older generations (in file time),
	// when their birth times are not known (olderFile).
	openedAt time.Time
	// startRotated: the rotated files there when the tailer began (device, inode -> birth
	// time, statx's btime), when every one's birth time was known (startListed): a
	// rotated file seen later that is none of them (another inode, or the same inode
	// number born since) was created since, whatever its times say (olderFile).
	startRotated map[[2]uint64]int64
	startListed  bool
	// looked: the looker has the tailer (from the end of its first Next on).
	looked     bool
	fullLogged bool
	// copy: copytruncate's copy of the followed generation, seen by a look while the
	// tailer was behind (holdCopy).
	copy heldCopy
	// later: copies of the periods of the live file after the followed generation's
	// truncation (watchTruncation), oldest first; period: the one at the path now.
	later  []heldCopy
	period livePeriod
	// pathSize: the largest size the looker's looks saw the followed file at its path with
	// the head it had when read (watchTruncation), for the generation at base
	// pathSizeOf-1 (0: none); pathTruncOf: the truncation of the one at base
	// pathTruncOf-1 was seen.
	pathSize                int64
	pathSizeOf, pathTruncOf uint64
	// compressedLooked: the compressed rotated files compressedMissed looked at (device,
	// inode), not to take one twice.
	compressedLooked map[[2]uint64]bool
	// followedKeys: the generations followed at the last looks (the latest
	// maxFollowedKeys), to tell them compressed, and when the oldest began
	// (compressedMissed).
	followedKeys  []fileKey
	followedSince []time.Time
	// byListing: creations of the path may have gone unseen by events (the
	// subscription was rescanned: an fsnotify queue overflow, a watch added again; or
	// there are no events, polling, and a new file was seen at the path): the next looks
	// account by listing, not by owed, for the compressed generations created and
	// rotated away unseen (compressedMissed), until one lists them all.
	// rescansSeen: the subscription's rescans when last looked at.
	byListing   bool
	rescansSeen uint64
}

// maxFollowedKeys bounds lookState.followedKeys.
const maxFollowedKeys = 16

// A heldCopy is a rotated file that starts with the head of the followed generation,
// seen while the tailer had not read all of that generation: copytruncate's copy of it,
// which holds the bytes not read yet once the file is truncated. It is held open, within
// the descriptor bound, so that a rotate count that deletes it (logrotate copytruncate
// with rotate 1, rotated again before the tailer gets to it) does not destroy them: the
// truncation drains it from the read offset (takeCopy). A copy of a later period of the
// live file (later, nextCopy) is one too.
type heldCopy struct {
	f    *os.File
	name string // where it was last seen
	// cdev, cino: the copy's file; dev, ino, base: the followed generation it is a
	// copy of (its file and base offset; none for a copy in later).
	cdev, cino     uint64
	dev, ino, base uint64
	size           int64 // largest size seen
}

// seenFile is how a file was last seen by a look.
type seenFile struct {
	atPath bool
	size   int64
	// early: at the path when the tailer began (watchLooks), and ever since: the event
	// of its own creation may still come (the Watcher's goroutine lags behind the
	// kernel's queue), and is no file to find.
	early bool
}

// An aheadFile is a newer generation the tailer saw (at its path, or rotated from it)
// while it was draining an older one (behind, held or paused across rotations). It is
// held open, within the descriptor bound, so that a file deleted before the tailer gets
// to it (by logrotate's rotate count, or a writer still appending to it) is still read in
// its turn. Without a free descriptor slot only its name and size are known: if it is
// deleted before the tailer gets to it, that many bytes are counted and logged as lost
// (at least: what was written to it after the last look is unknown).
type aheadFile struct {
	f        *os.File // nil: no descriptor slot was free when it was seen
	name     string   // where it was last seen
	dev, ino uint64
	size     int64 // largest size seen
	mtime    time.Time
	// fpLen, fp: the head fingerprint of what it held when last seen (to tell it
	// from a new file that reuses its inode once it is deleted).
	fpLen int
	fp    uint64
	// compressed: a generation never seen, created and compressed between two looks,
	// known by its compressed file (name) only (compressedMissed).
	compressed bool
	// seenAt: when it was first held (aheadOrder), to tell which of those seen ahead
	// came before the followed generation, itself taken from them.
	seenAt aheadOrder
	// counted: counted lost as a generation due (Tailer.loseDueGen): not again.
	counted bool
	// target: for a path that leads through symlinks, the name the path resolved to
	// when the file was seen at it (its release's log). Once the link is switched
	// again (to a third release, or back to one left before), the file is at no
	// rotated name and not at the path, still linked: an old target, drained in its
	// turn under that name (aheadGone, toAhead), then lingering as the old target of a
	// retargeted link does.
	target string
	// recorded: the record of generations says it was seen ahead (recordAhead), with
	// size recSize; no longer once it is over (aheadOver).
	recorded bool
	recSize  int64
}

// aheadOrder is where a generation seen ahead was first held: at which look (counted
// from 1), and whether at the path or under a rotated name. A file first held at an
// earlier look, or at the same look under a rotated name while the other was at the
// path (a rotation renames the file at the path before the next one is created), came
// before the other. The zero value is no generation seen ahead.
type aheadOrder struct {
	look   uint64
	atPath bool
}

// before reports whether a generation first held at o is known to have come before one
// first held at p (both seen ahead).
func (o aheadOrder) before(p aheadOrder) bool {
	if o.look == 0 || p.look == 0 {
		return false
	}
	return o.look < p.look || o.look == p.look && !o.atPath && p.atPath
}

// lookAhead runs whenever the tailer is asked for a chunk, and at the end of a file the
// path no longer names.
func (t *Tailer) lookAhead() { t.look(t.lookWanted.Load()) }

// look looks at the path, and at its rotated names when needed, on behalf of the
// generation followed: it runs inside Next (lookAhead), and for the looker while the
// reader does not call Next (the window is full, no collector, a pump waiting). A file
// at the path other than the followed generation is a newer one, held open from now on
// (holdAhead); so are, found by name, the rotated ones held before (renamed since) and
// those created at the path and rotated away between two looks. The creations of the
// path (fsnotify events) are matched with the new files seen: those that match none were
// created and deleted (or renamed to a name that is not a rotated one) between two looks:
// counted in logspread_shipper_files_missed_total and logged (their size was never
// known).
//
// With list (the looker's looks, and Next's after an event asked for one), the rotated
// names are also listed while a generation ahead has no descriptor, so that its name and
// size are those of the last look.
func (t *Tailer) look(list bool) {
	t.lookWanted.Store(false)
	t.looks++
	// The creations counted before the look began: their files are there now, at the
	// path or rotated, unless deleted (those counted later are the next look's).
	t.owed += t.creates.Swap(0)
	t.noteFollowed()
	if n := t.sub.rescanCount(); n != t.rescansSeen {
		t.rescansSeen, t.byListing = n, true // events may have been lost
	}
	var pathID [2]uint64
	pi, perr := os.Stat(t.path)
	if perr == nil && pi.Mode().IsRegular() {
		dev, ino, _ := fileID(pi)
		pathID = [2]uint64{dev, ino}
	}
	if t.lsubs != nil {
		t.lookLinks(pathID)
	}
	if perr == nil && pi.Mode().IsRegular() {
		if t.sawFile(pathID, t.path, true, pi) && t.sub == nil {
			// Polling, a new file at the path: a rotation, and no event tells how many
			// generations were created and rotated away since the last look.
			t.byListing = true
		}
		if t.g.has {
			t.holdAhead(t.path, pi)
			t.aheadTarget(pathID)
		}
	}
	t.checkCopy()
	if t.owed > 0 || (list && t.aheadUnheld()) {
		names, infos := t.candidates()
		t.goneAhead(pathID, infos)
		for i, fi := range infos {
			dev, ino, _ := fileID(fi)
			id := [2]uint64{dev, ino}
			if id == pathID {
				continue
			}
			if j := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino }); j >= 0 && t.reused(j, names[i], fi) {
				delete(t.known, id) // a new file: it may match a creation
			}
			fresh := t.sawFile(id, names[i], false, fi)
			if !t.g.has || (dev == t.g.key.dev && ino == t.g.key.ino) {
				continue
			}
			held := slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
			if held || (fresh && fi.Size() > 0 && !t.copyOfFollowed(names[i], fi)) {
				t.holdAhead(names[i], fi)
			}
		}
	}
	now := time.Now()
	t.unclaimed = slices.DeleteFunc(t.unclaimed, func(at time.Time) bool { return now.Sub(at) > unclaimedFor })
	if n := min(t.owed, int64(len(t.unclaimed))); n > 0 {
		t.owed -= n
		t.unclaimed = t.unclaimed[n:]
	}
	if t.owed > 0 || t.byListing {
		// Created and rotated away unseen, then compressed (logrotate's compress): their
		// uncompressed sizes are known.
		t.compressedMissed()
	}
	if t.owed > 0 {
		t.s.m.FilesMissed.Add(float64(t.owed))
		t.log.Warn("files were created at the path and deleted (or renamed to a name that is not a rotated one) between two looks of the tailer, while it was behind: their lines were not shipped; their size was never seen, so it is not in lost_bytes_total",
			"files", t.owed, "reason", "rotated and deleted before the tailer looked")
		t.owed = 0
	}
}

// sawFile records that the file id (seen as fi) is at the path or at a rotated name now,
// and reports whether it is a new one that matched a creation of the path (or, at the
// path, will match one whose event is still to come). An inode seen rotated before and at
// the path now was reused by a new file. A file smaller than its inode was seen is
// another file on a reused inode, or was truncated (no creation): it matches a creation
// only while one is owed. So does a rotated file never seen before, and not when it was
// modified before the tailer began or is one it resumed with as an older generation
// (Tailer.older: whatever its modification time says; a copy stamped in the same clock
// tick as the last write the run before saw is not modified before openedAt).
func (t *Tailer) sawFile(id [2]uint64, name string, atPath bool, fi fs.FileInfo) bool {
	if t.known == nil {
		t.known = map[[2]uint64]seenFile{}
	}
	was, ok := t.known[id]
	shrank := ok && fi.Size() < was.size
	early := was.early && atPath && !shrank
	if early && t.owed > 0 {
		// The event of its creation, before the tailer began, came late.
		t.owed--
		early = false
	}
	t.known[id] = seenFile{atPath: atPath, size: fi.Size(), early: early}
	if ok && !shrank && (was.atPath || !atPath) {
		return false
	}
	if !ok {
		t.knownOrder = append(t.knownOrder, id)
		if len(t.knownOrder) > maxKnown {
			delete(t.known, t.knownOrder[0])
			t.knownOrder = slices.Delete(t.knownOrder, 0, 1)
		}
	}
	switch {
	case atPath && !shrank:
		t.owed--
	case !shrank && (t.olderFile(id, name, fi) || !atPath && t.resumedOlder(id, name)):
		return false
	case t.owed > 0:
		t.owed--
	default:
		// Created and rotated away before the look, its creation's event not counted
		// yet (the Watcher's goroutine lags): it matches that event when it comes.
		t.unclaimed = append(t.unclaimed, time.Now())
		if len(t.unclaimed) > maxKnown {
			t.unclaimed = slices.Delete(t.unclaimed, 0, 1)
		}
		return false
	}
	return true
}

// olderFile reports whether the rotated file name (id, seen as fi), never seen by a look
// before, is an older generation, there when the tailer began, rather than one created
// at the path since (which matches a creation). By identity where the file system keeps
// birth times (statx's btime, which touch, a restore of times or a step of the clock
// after the file's creation cannot change): one of the rotated files listed when the
// tailer began, born when it was then (startRotated; an inode number given to a new
// file since has another birth time). Only without birth times by its modification
// time: modified before the tailer began (openedAt). A rotated generation created since
// and given an older time (touch -d, a clock stepped back) was otherwise taken for an
// older one: its creation matched nothing, and was counted and logged as a file missed,
// though the walk drained it.
func (t *Tailer) olderFile(id [2]uint64, name string, fi fs.FileInfo) bool {
	if t.startListed {
		if b := bornAt(name); b != 0 {
			sb, ok := t.startRotated[id]
			return ok && sb == b
		}
	}
	return fi.ModTime().Before(t.openedAt)
}

// noteStartRotated lists the rotated files there when the tailer begins, with their
// birth times (startRotated), for olderFile; when one's birth time is not known (the
// file system does not keep it), the modification time rule stays (startListed false).
// Called once the path's symlinks are watched (watchLinks: a symlinked log's rotated
// files are in its target's directory).
func (t *Tailer) noteStartRotated() {
	names, infos := t.candidates()
	m := make(map[[2]uint64]int64, len(infos))
	for i, fi := range infos {
		b := bornAt(names[i])
		if b == 0 {
			return
		}
		dev, ino, _ := fileID(fi)
		m[[2]uint64{dev, ino}] = b
	}
	if len(infos) == 0 && bornAt(t.dir) == 0 {
		return // no file to tell whether birth times are kept: the directory tells
	}
	t.startRotated, t.startListed = m, true
}

// forgetIfDeleted forgets the file f, about to be closed, if it was deleted: once closed,
// its inode may be reused by a new file at the path, which must not be taken for it. One
// still linked but no longer at the path is noted as rotated (its inode at the path again
// is a new file, once it is deleted).
func (t *Tailer) forgetIfDeleted(f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	dev, ino, nlink := fileID(fi)
	id := [2]uint64{dev, ino}
	if nlink == 0 {
		delete(t.known, id)
		return
	}
	if k, ok := t.known[id]; ok && k.atPath && !t.isAtPath(fi) {
		k.atPath = false
		t.known[id] = k
	}
}

// copyOfFollowed reports whether the rotated file name (seen as fi) starts with the head
// of the followed generation and holds no more than was read of it (copytruncate's copy).
func (t *Tailer) copyOfFollowed(name string, fi fs.FileInfo) bool {
	k := t.g.key
	return k.fpLen > 0 && fi.Size() <= t.g.maxSize && headIs(name, k)
}

// watchTruncation is the looker's look at the followed file while the reader is held
// (the window full, no collector): a file at the path shorter than a look saw it, or no
// longer starting with the head read, was truncated (copytruncate). Its copy, made just
// before, is held (holdCopy) and the size it was last seen at is a size the generation
// had (counted lost past the read offset if the copy is gone before the reader comes
// back and could not be held).
//
// What is written at the path after that (a period of the live file, none of it read)
// is watched too: when it is truncated again, its copy (a rotated file starting with the
// bytes the looks saw it start with) is held as well, queued in order (queueCopy), so
// that a rotate count deleting it before the reader comes back (logrotate copytruncate,
// rotate 1, rotated twice or more while held) does not destroy its lines: they are
// drained in their turn (nextCopy).
func (t *Tailer) watchTruncation() {
	if !t.behindFile() || !t.g.atPath {
		return
	}
	pi, err := os.Stat(t.path)
	if err != nil || !pi.Mode().IsRegular() {
		return
	}
	if dev, ino, _ := fileID(pi); dev != t.g.key.dev || ino != t.g.key.ino {
		return
	}
	if t.pathSizeOf != t.g.base+1 {
		t.pathSize, t.pathSizeOf, t.pathTruncOf = t.g.readOff, t.g.base+1, 0
	}
	size := pi.Size()
	if t.pathTruncOf == t.g.base+1 {
		t.watchPeriod(size)
		return
	}
	if size == t.pathSize {
		return
	}
	if size > t.pathSize && size >= t.g.readOff && headIs(t.path, t.g.key) {
		t.pathSize = size
		return
	}
	t.g.maxSize = max(t.g.maxSize, t.pathSize)
	t.holdCopy(t.candidates())
	// The generation is no longer at the path (the reader's Next handles the
	// truncation; the held copy is followed by its descriptor): what the path holds now
	// is the next period.
	t.pathTruncOf = t.g.base + 1
	t.period = livePeriod{since: time.Now()}
	t.watchPeriod(size)
}

// A livePeriod is what the followed file's path held since its last truncation seen by
// watchTruncation: written while the reader was held, none of it read.
type livePeriod struct {
	head  []byte // its first bytes (up to FingerprintLen) as last read
	size  int64  // largest size seen
	since time.Time
}

// watchPeriod looks at the period at the path, now size bytes: grown with the same first
// bytes, or truncated again (queueCopy, and a new period begins).
func (t *Tailer) watchPeriod(size int64) {
	p := &t.period
	if size == p.size && len(p.head) == int(min(size, FingerprintLen)) {
		return
	}
	h := readHead(t.path)
	if size >= p.size && len(h) >= len(p.head) && bytes.HasPrefix(h, p.head) {
		p.head, p.size = h, max(size, int64(len(h)))
		return
	}
	t.queueCopy(*p)
	t.period = livePeriod{head: h, size: max(size, int64(len(h))), since: time.Now()}
}

// maxLater bounds the copies of later periods held at once (queueCopy).
const maxLater = 16

// queueCopy holds the copy of period p (truncated again: copytruncate copied it first),
// a rotated file that starts with p's first bytes and was modified since it began, if a
// descriptor is free; it is drained after the copies before it (nextCopy).
func (t *Tailer) queueCopy(p livePeriod) {
	if len(p.head) == 0 || len(t.later) >= maxLater {
		return
	}
	names, infos := t.candidates()
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		if (dev == t.g.key.dev && ino == t.g.key.ino) || fi.Size() < int64(len(p.head)) || modifiedBefore(fi, p.since) ||
			(t.copy.f != nil && t.copy.cdev == dev && t.copy.cino == ino) ||
			slices.ContainsFunc(t.later, func(c heldCopy) bool { return c.cdev == dev && c.cino == ino }) {
			continue
		}
		if h := readHead(names[i]); len(h) < len(p.head) || !bytes.Equal(h[:len(p.head)], p.head) {
			continue
		}
		if f := t.holdFile(names[i], dev, ino); f != nil {
			t.later = append(t.later, heldCopy{f: f, name: names[i], cdev: dev, cino: ino, size: fi.Size()})
		}
		return
	}
}

// holdFile opens name, the file dev/ino, within the descriptor bound (nil: no slot
// free, or another file there now). It is counted open, not opened (toCopy counts it
// opened when it is drained).
func (t *Tailer) holdFile(name string, dev, ino uint64) *os.File {
	if !t.s.fds.tryAcquire() {
		return nil
	}
	f, ofi, err := openStat(name)
	if err != nil || f == nil {
		t.s.fds.release()
		return nil
	}
	if fdev, fino, _ := fileID(ofi); fdev != dev || fino != ino {
		f.Close()
		t.s.fds.release()
		return nil
	}
	t.s.m.FilesOpen.Inc()
	return f
}

// nextCopy returns the copy to drain next when a listing found name (seen as ci; ""
// for none) to be the oldest copy not read: the oldest one held in later, unless name
// is an older one (modified before it) that was not held. f is the held descriptor
// (still counted open, its slot taken), nil when name is to be opened.
func (t *Tailer) nextCopy(name string, ci fs.FileInfo) (f *os.File, cname string, cfi fs.FileInfo) {
	for len(t.later) > 0 {
		q := t.later[0]
		qi, err := q.f.Stat()
		if err != nil {
			t.closeHeld(q.f)
			t.later = t.later[1:]
			continue
		}
		if name != "" {
			if dev, ino, _ := fileID(ci); (dev != q.cdev || ino != q.cino) && ci.ModTime().Before(qi.ModTime()) {
				return nil, name, ci
			}
		}
		t.later = t.later[1:]
		return q.f, q.name, qi
	}
	return nil, name, ci
}

// behindFile reports whether the tailer follows a file (not a copy of one) whose head
// it knows: its copytruncate copies are held by holdCopy.
func (t *Tailer) behindFile() bool {
	return t.g.has && t.g.copyOf == 0 && t.g.key.fpLen > 0 && len(t.g.headB) == t.g.key.fpLen
}

// holdCopy holds open the largest of the rotated files names (seen as infos) that start
// with the followed generation's head and hold more than was read of it, modified since
// the generation began: copytruncate's copy, made while the tailer is behind (the look of
// watchTruncation that saw the truncation). The size it is seen at is a size the generation had:
// the bytes past the read offset are counted lost by that size if the copy is gone
// before they are read and could not be held.
func (t *Tailer) holdCopy(names []string, infos []fs.FileInfo) {
	k := t.g.key
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		if (dev == k.dev && ino == k.ino) || fi.Size() <= t.g.readOff || modifiedBefore(fi, t.g.began) {
			continue
		}
		c := &t.copy
		if c.f != nil && c.cdev == dev && c.cino == ino {
			c.name, c.size = names[i], max(c.size, fi.Size())
			t.g.maxSize = max(t.g.maxSize, c.size)
			continue
		}
		if c.f != nil && c.size >= fi.Size() {
			continue
		}
		if ok, _ := holdsRead(names[i], fi, k, t.g.headB, t.g.readOff, t.g.tail[:t.g.tailN]); !ok {
			continue
		}
		t.g.maxSize = max(t.g.maxSize, fi.Size())
		f := t.holdFile(names[i], dev, ino)
		if f == nil {
			continue
		}
		t.dropCopy()
		t.copy = heldCopy{f: f, name: names[i], cdev: dev, cino: ino, dev: k.dev, ino: k.ino, base: t.g.base, size: fi.Size()}
	}
}

// checkCopy drops the held copy once it is no copy of unread bytes of the followed
// generation (another generation is followed, or its bytes were read).
func (t *Tailer) checkCopy() {
	c := t.copy
	if c.f != nil && (!t.behindFile() || c.dev != t.g.key.dev || c.ino != t.g.key.ino || c.base != t.g.base || c.size <= t.g.readOff) {
		t.dropCopy()
	}
}

// dropCopy closes the held copy, if any.
func (t *Tailer) dropCopy() {
	if t.copy.f != nil {
		t.closeHeld(t.copy.f)
	}
	t.copy = heldCopy{}
}

// takeCopy returns the held copy of the followed generation if it holds what was read
// of it and more (gi: as it is now), and forgets it; its descriptor is no longer counted
// open (toCopy counts it).
func (t *Tailer) takeCopy() (*os.File, string, fs.FileInfo) {
	t.checkCopy()
	c := t.copy
	if c.f == nil {
		return nil, "", nil
	}
	gi, err := c.f.Stat()
	if err != nil {
		t.dropCopy()
		return nil, "", nil
	}
	if ok, _ := holdsReadIn(c.f, gi.Size(), t.g.key, t.g.headB, t.g.readOff, t.g.tail[:t.g.tailN]); !ok || gi.Size() <= t.g.readOff {
		t.dropCopy()
		return nil, "", nil
	}
	t.copy = heldCopy{}
	t.s.fds.release()
	t.s.m.FilesOpen.Dec()
	return c.f, c.name, gi
}

// reused reports whether the file at name (seen as fi) is another file than the one
// ahead entry i (without a descriptor) was seen as, though on the same inode: the one
// seen was deleted and its inode reused. Then the entry is moved to gone. Told by its
// name (an inode seen rotated that is at the path again), its size (a rotated generation
// does not shrink) or its head.
func (t *Tailer) reused(i int, name string, fi fs.FileInfo) bool {
	a := t.ahead[i]
	if a.f != nil {
		return false
	}
	// (One seen at a symlinked path, named by its target since, may be at the path
	// again: the link switched back to it. Its head tells.)
	other := (name == t.path && a.name != t.path && a.target == "") || (name != t.path && fi.Size() < a.size)
	if !other && a.fpLen > 0 {
		h, err := readHeadErr(name)
		if err != nil && isFDLimit(err) {
			// Not told for want of a descriptor: kept as the same file (a later look
			// tells), never taken for another one (the entry's bytes counted lost,
			// though the file is there).
			return false
		}
		other = len(h) < a.fpLen || fingerprint(h[:a.fpLen]) != a.fp
	}
	if other {
		t.gone = append(t.gone, a)
		t.ahead = slices.Delete(t.ahead, i, i+1)
	}
	return other
}

// goneAhead moves the generations seen ahead without a descriptor that are neither at
// the path (pathID) nor among the rotated files (infos, listed just now) to gone, with
// the size they had when last seen: deleted before the tailer got to them.
func (t *Tailer) goneAhead(pathID [2]uint64, infos []fs.FileInfo) {
	for i := 0; i < len(t.ahead); i++ {
		a := t.ahead[i]
		if a.f != nil || [2]uint64{a.dev, a.ino} == pathID || slices.ContainsFunc(infos, func(fi fs.FileInfo) bool {
			dev, ino, _ := fileID(fi)
			return dev == a.dev && ino == a.ino
		}) || t.linked(a.dev, a.ino) || t.oldTarget(&a) {
			// (An old target of the link: still where the path led, drained in its
			// turn, aheadGone.)
			continue
		}
		t.gone = append(t.gone, a)
		t.ahead = slices.Delete(t.ahead, i, i+1)
		i--
	}
}

// aheadUnheld reports whether a generation seen ahead has no descriptor: its name and
// size are followed by looking at the rotated names.
func (t *Tailer) aheadUnheld() bool {
	return slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.f == nil })
}

// holdAhead notes the file at name (seen as fi), if it is a newer generation than the
// followed one, and holds it open while a descriptor slot is free.
func (t *Tailer) holdAhead(name string, fi fs.FileInfo) {
	dev, ino, _ := fileID(fi)
	if dev == t.g.key.dev && ino == t.g.key.ino {
		return
	}
	if t.lingers([2]uint64{dev, ino}) {
		// Older: left, its old writer appending (read on where it was left, lookLinger).
		// Taken for a newer one with data, it made the followed generation, deleted
		// and its writer still appending, be left with its last line cut (-model.oldwriter
		// seed 67, with fsnotify: the looker held it ahead).
		return
	}
	if p := t.parked; p != nil && p.g.key.dev == dev && p.g.key.ino == ino {
		return // entered already, and again once the lingering one read on is left
	}
	if t.live != nil {
		if li, err := t.live.Stat(); err == nil {
			if ldev, lino, _ := fileID(li); ldev == dev && lino == ino {
				return // the live file whose copy is drained: read next anyway
			}
		}
	}
	i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
	if i >= 0 && t.reused(i, name, fi) {
		i = -1
	}
	seen := false // a new one, or its head grown
	if i < 0 {
		if t.isDone(name, dev, ino, fi.Size()) {
			return
		}
		if len(t.ahead) >= maxAhead {
			if !t.fullLogged {
				t.fullLogged = true
				t.log.Warn("too many newer generations to keep track of while an older one is drained; those beyond are found by name in their turn, and lost without a count if deleted before",
					"max", maxAhead, "file", name)
			}
			return
		}
		t.ahead = append(t.ahead, aheadFile{dev: dev, ino: ino, seenAt: aheadOrder{look: t.looks, atPath: name == t.path}})
		i, seen = len(t.ahead)-1, true
	}
	a := &t.ahead[i]
	a.name, a.size, a.mtime = name, max(a.size, fi.Size()), fi.ModTime()
	if a.f == nil && a.fpLen < int(min(a.size, FingerprintLen)) {
		if h := readHead(name); len(h) > a.fpLen {
			a.fpLen, a.fp = len(h), fingerprint(h)
			seen = true
		}
	}
	if seen && !(name == t.path && len(t.opened) > 0) {
		// Due, in the record: a run killed before it gets to it leaves it to the next one
		// (due.go), its head as the one seen here. (Not a symlinked path's file: a
		// release's log the link may leave, an old target then, is not a rotated
		// generation.)
		t.noteDue([]string{name}, []fs.FileInfo{fi})
	}
	if a.f != nil || !t.s.fds.tryAcquire() {
		return
	}
	f, ofi, err := openStat(name)
	if err == nil && f != nil {
		if fdev, fino, _ := fileID(ofi); fdev == dev && fino == ino {
			a.f = f
			a.size = max(a.size, ofi.Size())
			t.s.m.FilesOpened.Inc()
			t.s.m.FilesOpen.Inc()
			return
		}
		f.Close()
	}
	t.s.fds.release()
}

// takeAhead removes the ahead entry of dev/ino and returns its descriptor (nil if none).
func (t *Tailer) takeAhead(dev, ino uint64) *os.File {
	f, _ := t.takeAheadAt(dev, ino)
	return f
}

// takeAheadAt is takeAhead, also returning when the entry was first held (zero: none).
func (t *Tailer) takeAheadAt(dev, ino uint64) (*os.File, aheadOrder) {
	i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
	if i < 0 {
		return nil, aheadOrder{}
	}
	f, at := t.ahead[i].f, t.ahead[i].seenAt
	t.aheadOver(&t.ahead[i])
	t.ahead = slices.Delete(t.ahead, i, i+1)
	return f, at // (f still counted open)
}

// useAhead gives the followed generation, just found by name and not open yet, the
// descriptor held since it was seen ahead, if any.
func (t *Tailer) useAhead() {
	if t.g.f != nil {
		return
	}
	f, at := t.takeAheadAt(t.g.key.dev, t.g.key.ino)
	t.g.seenAt = at
	if f != nil {
		if err := t.attachCounted(f); err != nil {
			t.fail(err)
			t.detach()
		}
	}
}

// closeAhead closes the descriptor of ahead entry i and removes it: no longer ahead
// (entered, counted lost, another stream's).
func (t *Tailer) closeAhead(i int) {
	t.aheadOver(&t.ahead[i])
	t.forgetAhead(i)
}

// forgetAhead closes the descriptor of ahead entry i and removes it, its record kept.
func (t *Tailer) forgetAhead(i int) {
	if f := t.ahead[i].f; f != nil {
		t.forgetIfDeleted(f)
		t.closeHeld(f)
	}
	t.ahead = slices.Delete(t.ahead, i, i+1)
}

// dropAhead forgets every generation seen ahead (at Close; for a rewind, but the old
// targets of a symlinked path's link with keepTargets): the record keeps those seen at a
// symlinked path, which the next run finds again (resumeAheads). A rewind keeps the old
// targets it holds: newer than every generation the walk reads again (seen while a later
// one was read), and one deleted since is still drained through its descriptor.
func (t *Tailer) dropAhead(keepTargets bool) {
	t.gone = nil
	t.dropCopy()
	for _, c := range t.later {
		t.closeHeld(c.f)
	}
	t.later = nil
	t.pathSizeOf, t.pathTruncOf = 0, 0
	for i := len(t.ahead) - 1; i >= 0; i-- {
		if keepTargets && t.ahead[i].target != "" {
			continue
		}
		if !keepTargets {
			t.aheadClosing(&t.ahead[i])
		}
		t.forgetAhead(i)
	}
}

// aheadClosing counts and logs, as the source closes, the bytes of a, a generation seen
// ahead held open and deleted since: its descriptor was the last way to read them (no
// run finds it again; its record is over).
func (t *Tailer) aheadClosing(a *aheadFile) {
	if a.f == nil {
		return
	}
	fi, err := a.f.Stat()
	if err != nil || nlinkOf(fi) > 0 || fi.Size() == 0 {
		return
	}
	t.aheadOver(a)
	t.s.m.LostBytes.Add(float64(fi.Size()))
	t.log.Warn("a deleted newer generation held open since it was seen holds lines not read yet as the source closes; they cannot be read again (lost)",
		"file", a.name, "lost_bytes", fi.Size())
}

// releaseAhead closes the descriptors of generations seen ahead that are still linked
// (found again by name when their turn comes), for tailers waiting for a slot.
func (t *Tailer) releaseAhead() {
	for i := range t.ahead {
		a := &t.ahead[i]
		if a.f == nil {
			continue
		}
		if fi, err := a.f.Stat(); err == nil {
			if _, _, nlink := fileID(fi); nlink > 0 {
				t.closeHeld(a.f)
				a.f = nil
			}
		}
	}
}

// aheadTarget notes, for the file id seen ahead at the path, where the path resolves
// (aheadFile.target) when it leads through symlinks: a link switched on before the
// tailer gets to the file leaves it under that name only. The link may have been
// switched between the look's stat of the path and this resolution: then the held
// descriptor's own name (openedName) says where the file is. Without a target, the file
// was never drained once the link left it (an old target is at no rotated name).
func (t *Tailer) aheadTarget(id [2]uint64) {
	if len(t.opened) == 0 {
		return // a path without symlinks (when its file was opened: watchLinks)
	}
	i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == id[0] && a.ino == id[1] })
	if i < 0 || t.ahead[i].target != "" {
		return
	}
	a := &t.ahead[i]
	if r, err := filepath.EvalSymlinks(t.path); err == nil && r != filepath.Clean(t.path) && namesFile(r, id) {
		a.target = r
	} else if r := openedName(a.f); r != "" && r != filepath.Clean(t.path) && namesFile(r, id) {
		a.target = r
	} else {
		return
	}
	t.recordAhead(a)
}

// recordAhead records durably that a, a file seen ahead at the symlinked path, is there
// under a.target (genLog.addAhead): held in memory only, it was forgotten by a restart
// or a rewind, and once the link was switched on (an old target: at no rotated name, not
// at the path) nothing found it again: its lines were never read, without a count. One
// synced append per file seen; a record not written is written by the next add or save.
func (t *Tailer) recordAhead(a *aheadFile) {
	e := genEntry{Dev: a.dev, Ino: a.ino, Name: a.target, Size: a.size, FPLen: a.fpLen, FP: a.fp}
	if a.f != nil {
		e.Born = bornOf(a.f)
		if fi, err := a.f.Stat(); err == nil {
			e.Size = max(e.Size, fi.Size())
		}
		if h := make([]byte, FingerprintLen); e.FPLen == 0 {
			if n, _ := a.f.ReadAt(h, 0); n > 0 {
				e.FPLen, e.FP = n, fingerprint(h[:n])
			}
		}
	} else {
		e.Born = bornAt(a.target)
	}
	a.recorded, a.recSize = true, e.Size
	_ = t.gens.addAhead(e)
}

// aheadOver records that a, recorded as seen ahead, is no longer (genLog.endAhead): it
// is entered at the stream's next offset or later, counted lost, or left to another
// stream.
func (t *Tailer) aheadOver(a *aheadFile) {
	if a.recorded {
		a.recorded = false
		_ = t.gens.endAhead(a.dev, a.ino, t.c.off)
	}
}

// refreshAheads records the sizes of the files seen ahead at the symlinked path that
// grew since recorded (genLog.growAhead, not synced): a restart that finds one deleted
// counts it lost with the last size recorded.
func (t *Tailer) refreshAheads() {
	for i := range t.ahead {
		a := &t.ahead[i]
		if !a.recorded {
			continue
		}
		size := a.size
		if a.f != nil {
			if fi, err := a.f.Stat(); err == nil {
				size = max(size, fi.Size())
			}
		}
		if size > a.recSize {
			a.recSize = size
			_ = t.gens.growAhead(a.dev, a.ino, size)
		}
	}
}

// resumeAheads, after a restart or a rewind (whose walk begins at t.c.off), follows
// again the files the record says were seen ahead at the symlinked path
// (genLog.aheadsFrom): those not entered yet, and those entered at or after the offset
// the walk begins at, which it reads again (at the offsets they had: the record of
// generations gives them). One the walk enters another way is skipped: the followed
// generation (the checkpoint is in it), one lingered on (read on where it was left), one
// entered before that offset (its entry says so: read, not ahead any more). Found where
// it was (same device, inode, birth time and head), it is held ahead again, under that
// name, drained in its turn as an old target of the link (aheadGone) or entered at the
// path if the link leads to it again. Gone (its release's directory deleted, the file
// replaced), a file never entered is counted lost in its turn with the size last
// recorded (at least: what was written after that is not known), and logged.
func (t *Tailer) resumeAheads() {
	if t.toEnd || t.gens == nil {
		return
	}
	for _, e := range t.gens.aheadsFrom(t.c.off) {
		id := [2]uint64{e.Dev, e.Ino}
		k := fileKey{dev: e.Dev, ino: e.Ino, fpLen: e.FPLen, fp: e.FP}
		if t.seenAhead(e.Dev, e.Ino) {
			continue // (kept by the rewind, its descriptor held)
		}
		if t.g.has && id == [2]uint64{t.g.key.dev, t.g.key.ino} || t.lingers(id) ||
			t.gens.enteredBefore(e.Dev, e.Ino, t.c.off, func() []byte { return readHead(e.Name) }) {
			if e.Wait == waitAhead {
				_ = t.gens.endAhead(e.Dev, e.Ino, t.c.off)
			}
			continue
		}
		a := aheadFile{name: e.Name, target: e.Name, dev: e.Dev, ino: e.Ino, size: e.Size, fpLen: e.FPLen, fp: e.FP,
			recorded: e.Wait == waitAhead, recSize: e.Size}
		fi, err := os.Stat(e.Name)
		born := int64(0)
		if err == nil && e.Born != 0 {
			born = bornAt(e.Name)
		}
		if err != nil || !sameID(fi, id) || born != 0 && born != e.Born || e.FPLen > 0 && !headIs(e.Name, k) {
			if e.Wait == waitAhead {
				t.gone = append(t.gone, a) // counted lost in turn (aheadGone)
			}
			continue
		}
		a.size, a.mtime = max(a.size, fi.Size()), fi.ModTime()
		if f := t.holdFile(e.Name, e.Dev, e.Ino); f != nil {
			a.f = f
			t.s.m.FilesOpened.Inc()
		}
		t.ahead = append(t.ahead, a)
		t.log.Info("a file seen at the path (through its symlink) before the tailer got to it, and not read yet, is followed again: drained in its turn",
			"file", e.Name, "size", fi.Size())
	}
}

// aheadGone looks at the generations seen ahead once the followed one is left: those
// that are still linked are found again by name (at the path or rotated); a deleted one
// held open, or one seen at a symlinked path that is now an old target of its link
// (aheadFile.target: linked, but neither at the path nor at a rotated name), is
// returned (the oldest: genBefore; index and FileInfo), to be drained in its
// turn (toAhead); a deleted one without a descriptor is counted and logged as lost with
// the size it was seen to have.
func (t *Tailer) aheadGone() (int, fs.FileInfo) {
	for _, a := range t.gone {
		t.loseAhead(a)
	}
	t.gone = nil
	best, bestFi, bestBorn := -1, fs.FileInfo(nil), int64(0)
	take := func(i int, fi fs.FileInfo) {
		born := bornOf(t.ahead[i].f)
		if best < 0 || genBefore(born, fi.ModTime(), bestBorn, bestFi.ModTime()) {
			best, bestFi, bestBorn = i, fi, born
		}
	}
	for i := 0; i < len(t.ahead); i++ {
		a := &t.ahead[i]
		if a.f != nil {
			fi, err := a.f.Stat()
			if err != nil {
				continue
			}
			if _, _, nlink := fileID(fi); nlink == 0 && fi.Size() > 0 {
				take(i, fi)
				continue
			}
		} else if t.linked(a.dev, a.ino) {
			continue
		}
		if !t.oldTarget(a) {
			if a.f == nil {
				t.loseAhead(*a)
				t.closeAhead(i)
				i--
			}
			continue
		}
		if t.yieldsGen(a.target, [2]uint64{a.dev, a.ino}) {
			// Another stream reads it (its own name followed too): that stream's.
			t.closeAhead(i)
			i--
			continue
		}
		if a.f == nil {
			// Without a descriptor when seen: held now, under the name it has (no
			// slot free: looked at again when the next generation is left).
			if a.f = t.holdFile(a.target, a.dev, a.ino); a.f == nil {
				continue
			}
			t.s.m.FilesOpened.Inc()
		}
		if fi, err := a.f.Stat(); err == nil {
			take(i, fi)
		}
	}
	return best, bestFi
}

// leavesForTargets reports whether the followed generation, the path's file, is left
// for generations seen ahead at the path that are old targets of its link now (the link
// switched away and back before the tailer got to them): it must be able to linger as
// one (it is where the path resolved when it was opened, or an old target itself), so
// that it is entered again where it was left once they are drained. So too for one
// deleted since (its release's directory removed), held open with bytes in it: drained
// through its descriptor (aheadGone). Waited for by name only, it was never read: the
// path's file was never left.
func (t *Tailer) leavesForTargets() bool {
	if !slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.target != "" }) ||
		!t.g.leftTarget && t.leftTargetName() == "" {
		return false
	}
	for i := range t.ahead {
		a := &t.ahead[i]
		if t.oldTarget(a) {
			return true
		}
		if a.target == "" || a.f == nil {
			continue
		}
		if fi, err := a.f.Stat(); err == nil && nlinkOf(fi) == 0 && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// leavesForAhead reports whether the followed generation, the path's file again, is left
// for generations seen ahead of it that the path no longer names: at the path while it
// was read under another name (renamed away, its reader behind), then renamed away
// themselves, or deleted, as it came back to the path (a file renamed back: mv
// access.log.1 access.log). Newer than it, they are drained in their turn (leaveGen:
// findNewerIn takes one seen ahead whatever its time, aheadGone one deleted), and it is
// entered again where it was left once the path is opened (enterLeft). Kept, it was
// read on at the path for good and they were never read (-model.shrink -model.oldwriter
// seed 9097). Only at a line end: a line pending is its writer's, still writing there.
func (t *Tailer) leavesForAhead() bool {
	if len(t.ahead) == 0 || t.c.pending() {
		return false
	}
	for i := range t.ahead {
		a := &t.ahead[i]
		id := [2]uint64{a.dev, a.ino}
		if a.dev == t.g.key.dev && a.ino == t.g.key.ino || t.lingers(id) {
			continue
		}
		if a.target != "" || t.s.ownedElsewhere(t, id, a.name) != nil || t.s.takenOver(t, id) {
			// A release seen at a symlinked path is left for by leavesForTargets; one
			// another stream reads (a glob's match, another name of it) is not drained
			// here. Left for either, the file at the path came back at once, and was
			// left again, for good (cmd TestShipCronologSymlinkDailySwitch: a busy loop).
			continue
		}
		if a.f != nil {
			if fi, err := a.f.Stat(); err == nil && fi.Size() > 0 {
				return true
			}
		} else if a.size > 0 && t.linked(a.dev, a.ino) {
			return true
		}
	}
	return false
}

// oldTarget reports whether a, seen ahead at the path through a symlink, is now an old
// target of the link: still at the name the path resolved to then, and no longer at
// the path nor at a rotated name of it (linked).
func (t *Tailer) oldTarget(a *aheadFile) bool {
	id := [2]uint64{a.dev, a.ino}
	return a.target != "" && namesFile(a.target, id) && !t.linked(a.dev, a.ino)
}

// loseAhead counts and logs the loss of a, a generation seen ahead without a descriptor
// and deleted before the tailer got to it: the bytes it had when last seen.
func (t *Tailer) loseAhead(a aheadFile) {
	t.aheadOver(&a)
	if a.size == 0 || a.counted {
		return
	}
	if a.compressed {
		t.log.Warn("a newer generation was created, rotated and compressed between two looks of the tailer, while it was behind: compressed generations are not read; its bytes are lost (counted with its uncompressed size)",
			"compressed_to", a.name, "size", a.size, "reason", "compressed before its turn")
		t.lose(a.size, "a newer generation compressed before its turn")
		return
	}
	if a.target != "" {
		t.log.Warn("a file the symlinked path led to (another release's log), seen there before the tailer got to it, was deleted or replaced before its turn, and no descriptor held it (seen by the run before a restart, or no slot free): its bytes are lost (counted with the size last seen; bytes written to it after that are not known)",
			"file", a.target, "size", a.size, "reason", "deleted before its turn, not held open")
		t.lose(a.size, "a release's log seen at the symlinked path, deleted before its turn, not held open")
		return
	}
	t.log.Warn("a newer generation was deleted before the tailer got to it, and no descriptor slot was free to hold it open: its bytes are lost (counted with the size it had when last seen; bytes written to it after that are not known)",
		"file", a.name, "size", a.size, "reason", "deleted before its turn, not held open")
	// Recorded as due (noteDue): no longer, and recorded where it was counted.
	d, due := t.gens.dueOf(a.dev, a.ino, a.fpLen, a.fp)
	from := t.c.off
	t.holdGaps = due
	t.lose(a.size, "a newer generation deleted before its turn, not held open")
	t.holdGaps = false
	if due {
		t.countedDue(d, from)
	}
}

// aheadHasData reports whether a newer generation seen ahead has data: the writer moved
// on from the followed one (even if that newer file was deleted since). Not one known
// to have come before the followed one (cameBefore): what an old writer appended to it
// says nothing of the followed one's writer.
func (t *Tailer) aheadHasData() bool {
	for _, a := range t.gone {
		if a.size > 0 && !t.cameBefore(a.seenAt, 0) {
			return true
		}
	}
	for _, a := range t.ahead {
		if a.f == nil {
			if a.size > 0 && !t.cameBefore(a.seenAt, 0) {
				return true
			}
			continue
		}
		if fi, err := a.f.Stat(); err == nil && fi.Size() > 0 && !t.cameBefore(a.seenAt, bornOf(a.f)) {
			return true
		}
	}
	return false
}

// cameBefore reports whether a generation seen ahead, first held at seenAt (zero: not
// held) and born at born (statx's btime; 0: not known), is known to have come before the
// followed one, so that its growth (an old writer's appends: an Apache graceful
// restart's old children writing access.log.2) is no sign that the followed one's writer
// moved on: seen ahead before it, when the followed one was itself taken from those
// seen ahead (aheadOrder); or, the followed one deleted with its last line half written
// (its writer, which still holds it, in the middle of a write), born before it. Taken for
// a sign, the followed generation was left, that line cut ('\n' appended) and its rest
// read as another line (-model.shrink -model.oldwriter seed 9115). (Only then by birth:
// copytruncate's copy is born after the file it copies, whose later content is newer;
// one at the path now, come back, is the path's file with data.)
func (t *Tailer) cameBefore(seenAt aheadOrder, born int64) bool {
	if seenAt.before(t.g.seenAt) {
		return true
	}
	return t.g.nlink == 0 && t.c.pending() && t.g.born != 0 && born != 0 && born < t.g.born
}

// linked reports whether the file dev/ino is at the path or has a rotated name.
func (t *Tailer) linked(dev, ino uint64) bool {
	if pi, err := os.Stat(t.path); err == nil {
		if pdev, pino, _ := fileID(pi); pdev == dev && pino == ino {
			return true
		}
	}
	_, infos := t.candidates()
	for _, fi := range infos {
		if fdev, fino, _ := fileID(fi); fdev == dev && fino == ino {
			return true
		}
	}
	return false
}

// toAhead makes the generation seen ahead, entry i (seen as fi), the followed one, from
// its start: a deleted one, or an old target of the path's link (aheadGone), followed
// under that name and left as one (lingering: canLinger).
func (t *Tailer) toAhead(i int, fi fs.FileInfo) {
	a := t.ahead[i]
	f := t.takeAhead(a.dev, a.ino)
	defer func() { t.g.seenAt = a.seenAt }() // (setGen starts the generation afresh)
	t.s.m.GenerationsFound.Inc()
	if _, _, nlink := fileID(fi); nlink > 0 && a.target != "" {
		t.log.Info("draining the file the path led to when the tailer saw it there, before it got to it (a symlink switched on since: an old target now)",
			"file", a.target, "size", fi.Size())
		t.setGen(a.target, fi, false)
		t.g.leftTarget = true
	} else {
		t.log.Info("draining a newer generation deleted before the tailer got to it (held open since it was seen)", "file", a.name, "size", fi.Size())
		t.setGen(t.path, fi, false)
	}
	if err := t.attachCounted(f); err != nil {
		t.fail(err)
		t.detach()
	}
	if !t.enterLeft() {
		t.entered(0)
	}
}
