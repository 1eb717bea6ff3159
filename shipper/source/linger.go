package source

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// lingerPoll is how often a tailer looks at the generations it lingers on (stat of an
// open descriptor): a deleted file gets no fsnotify event when its writer appends.
const lingerPoll = 250 * time.Millisecond

// A lingerGen is a generation the tailer moved on from (renamed to a rotated name, or
// deleted) whose writer may still hold it open and append to it: an Apache graceful
// restart's old children go on writing access.log.1 after the new ones wrote access.log.
// It is followed, its descriptor kept, for Config.RotateWait after its last growth (Fluent
// Bit's rotate_wait), even once the file at the path has data: what is appended to it is
// read on from where it was left, at the stream's next offsets (a generation entered past
// its start, genEntry.From), whole lines in file order. Its claim (owners.go) is kept
// too, so no glob match of its rotated name reads the same bytes.
type lingerGen struct {
	g    gen       // as left: g.f open, g.readOff where it was left (a line end)
	till time.Time // left for good once not grown by then
}

// parkedGen is the generation the tailer left to read what a lingering one grew by:
// entered again, where it was left, once that one is read to its end.
type parkedGen struct {
	g     gen
	owned [2]uint64
}

// grew reports whether the generation parked holds more than was read of it.
func (p *parkedGen) grew() bool {
	if p.g.f == nil {
		return false
	}
	fi, err := p.g.f.Stat()
	return err == nil && fi.Size() > p.g.readOff
}

// canLinger reports whether the followed generation, being left because the file at the
// path has data or a newer generation exists, lingers: it is no copy, it is deleted or
// under a rotated name of the path (a name the tailer follows: a glob's match of another
// name is read on by that match's stream, owners.go) or where a symlinked path led
// before it was retargeted (leftTargetName), and no line of it is half sent.
func (t *Tailer) canLinger() bool {
	g := &t.g
	if t.s.cfg.RotateWait <= 0 || t.toEnd || g.f == nil || g.copyOf > 0 || g.atPath || t.c.frag || t.c.skip {
		return false
	}
	return g.nlink == 0 || g.name != t.path && (g.leftTarget || t.isRotatedOf(g.name))
}

// leftTargetName returns where the path led when the followed file was opened at it (the
// file a symlinked path resolved to, the last of Tailer.opened) when that name still
// names the followed file, which the path (looked at by the caller) no longer names: a
// link on the way was retargeted, the file not moved. A deployment switches its
// "current" link to a new release whose log already has lines (the new server wrote
// them before the switch), and the old release's server keeps its descriptor until it
// restarts, seconds later, appending meanwhile: those lines are as much the stream's as
// those an Apache graceful restart's old children append to access.log.1. The file is
// neither deleted nor under a rotated name, so without this it was left at once and
// what its writer appended after was never read. Lingering (under this name, its
// directory watched meanwhile: watchLinks), it is read on as a renamed generation is,
// and so too once the old release's directory is deleted (the file then has no link
// left: polled, lingerPoll). "" for a path without symlinks, or a file renamed or
// deleted (findByIdentity, nlink). The descriptor held keeps the inode from being
// reused, so device and inode alone tell the file.
func (t *Tailer) leftTargetName() string {
	if len(t.opened) == 0 {
		return ""
	}
	if name := t.opened[len(t.opened)-1]; namesFile(name, [2]uint64{t.g.key.dev, t.g.key.ino}) {
		return name
	}
	return ""
}

// targetName returns the name to record for the followed file (Checkpoint.Target,
// genEntry.Name) when the path leads through symlinks, or the file is an old target of
// one: where the path resolved when the file was opened there, or the name it is
// followed under away from the path. "" for a path without symlinks.
func (t *Tailer) targetName() string {
	switch {
	case !t.g.has:
		return ""
	case t.g.leftTarget || !t.g.atPath && len(t.opened) > 0:
		return t.g.name
	case len(t.opened) > 0:
		return t.opened[len(t.opened)-1]
	}
	return ""
}

// isRotatedOf reports whether name is a rotated name of the path (Config.RotatedNames),
// in its directory or in one of rotated generations (rotatedDir). Not any name a walk
// from a checkpoint finds a file under (candidates): a glob's match of that name has a
// stream of its own, which reads on what is appended there.
func (t *Tailer) isRotatedOf(name string) bool {
	if t.isRotatedAt(name, t.dir, t.base) {
		return true
	}
	// A symlinked log: logrotate renames the file the link leads to, in that file's
	// directory and under its name (candidates); its old writer appends there. Not
	// taken for one, that generation was left at once and those lines never read.
	for _, p := range t.opened {
		if d, b := filepath.Dir(p), filepath.Base(p); (d != t.dir || b != t.base) && t.isRotatedAt(name, d, b) {
			return true
		}
	}
	return false
}

// isRotatedAt reports whether name is a rotated name of the live file base in dir (in dir,
// or in another directory of rotated generations: rotatedDir).
func (t *Tailer) isRotatedAt(name, dir, base string) bool {
	ndir, nbase := filepath.Dir(name), filepath.Base(name)
	if ndir == dir && isRotatedName(t.s.rotLive, base, nbase) {
		return true
	}
	for _, r := range t.s.rotOther {
		if filepath.Clean(r.at(dir)) == ndir && isRotatedName(r.names, base, nbase) {
			return true
		}
	}
	return false
}

// lingerLeft keeps the followed generation, about to be left (leaveGen), lingering: its
// descriptor, slot and claim are moved to t.linger. Its last line was ended before
// (endPending: '\n' appended to a line without one, as at every leave): what its writer
// appends to complete it is read as the next line.
func (t *Tailer) lingerLeft() {
	t.keepTail()
	g := &t.g
	id := [2]uint64{g.key.dev, g.key.ino}
	if t.owned == id {
		// Handed over where it is left, as every generation left is (a stream of
		// its name reads on from there), and claimed as lingering under the name it
		// has now. (Made as leaveGen makes it, its descriptor closed first: without
		// the file's birth time.)
		f := g.f
		g.f = nil
		t.disown(true)
		g.f = f
	}
	if !t.s.linger(t, id, g.name) {
		return // another stream's: leaveGen closes it
	}
	l := lingerGen{g: *g, till: time.Now().Add(t.s.cfg.RotateWait)}
	l.g.lines, l.g.after = nil, time.Time{}
	t.linger = append(t.linger, l)
	if l.g.readOff == 0 {
		// Nothing read of it: the record says where a generation was left only once
		// bytes of it were (genEntry.Left). Recorded as an empty one waited on, so that
		// a restart lingers on it again (resumeWaits).
		_ = t.gens.addWait(id[0], id[1], bornOf(l.g.f))
	}
	// leaveGen closes nothing: the descriptor and its slot are the lingering one's.
	t.openID.Store(nil)
	g.f = nil
	t.sub.SetAll(true) // its writes (under a rotated name) wake the tailer
	t.log.Debug("following the generation left for rotate_wait after its last growth", "file", l.g.name, "file_offset", l.g.readOff, "rotate_wait", t.s.cfg.RotateWait)
}

// backFromLinger enters the file just opened at the path (setGen) where it was left when
// it is one t lingers on: a symlink switched back to the target it left (a deployment
// rolled back to the release whose log still lingers), a file renamed back. It is read at
// the path from then on, no longer also as a lingering one: followed twice, what its
// writer appended was read by both (sent twice) and the lingering generation left for
// it (the release switched away from) was never entered again, its lines unread. Its
// descriptor kept for lingering is closed; its claim is t's already (yields took it at
// the path). The held descriptor kept the inode, so device and inode tell the file; one
// shrunk below where it was left is left to the rules for a file at the path (enterLeft).
// It reports whether it entered it.
//
// left is the generation just drained (openPath): copytruncate's copy of the file, made
// since it came back and drained before the truncation (a rotated generation not read
// yet), when the file starts with all of it: read on from the copy's end, not again
// from where it was left (-model.shrink seed 178: its lines sent twice).
func (t *Tailer) backFromLinger(left *gen, fi fs.FileInfo) bool {
	i := t.lingerIndex([2]uint64{t.g.key.dev, t.g.key.ino})
	if i < 0 {
		return false
	}
	l := t.linger[i]
	t.linger = slices.Delete(t.linger, i, i+1)
	t.closeHeld(l.g.f)
	if t.g.maxSize < l.g.readOff {
		return false
	}
	if off := t.holdsLeft(left, fi); off > l.g.readOff {
		t.log.Info("the file at the path is a generation followed for rotate_wait that came back, and starts with the generation just drained (copytruncate's copy of it, drained before the truncation); reading it from the copy's end",
			"file", l.g.name, "copy", left.name, "file_offset", off, "left_at", l.g.readOff)
		t.g.readOff, t.g.from = off, uint64(off)
		t.g.blind = false
		if _, err := t.g.f.Seek(off, io.SeekStart); err != nil {
			t.fail(err)
		}
		t.entered(off)
		return true
	}
	t.log.Info("the file at the path is a generation followed for rotate_wait (it came back: a symlink switched back, or a file renamed back); reading on from where it was left",
		"file", l.g.name, "file_offset", l.g.readOff, "size", t.g.maxSize)
	t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = l.g.key.fpLen, l.g.key.fp, l.g.headB, l.g.headLine
	t.g.tail, t.g.tailN = l.g.tail, l.g.tailN
	t.enterAt(l.g.readOff, false)
	return true
}

// lingers reports whether the file id is one of the generations t lingers on.
func (t *Tailer) lingers(id [2]uint64) bool { return t.lingerIndex(id) >= 0 }

// lingerIndex returns the index in t.linger of the generation of file id, -1 if none.
func (t *Tailer) lingerIndex(id [2]uint64) int {
	return slices.IndexFunc(t.linger, func(l lingerGen) bool { return l.g.key.dev == id[0] && l.g.key.ino == id[1] })
}

// acknowledged reports whether every byte returned so far is acknowledged: a generation
// is left for a lingering one, or a lingering one left for the generation parked, only
// then, so that a restart's checkpoint is at the end of a generation entered (walked on
// from the record of generations, Tailer.resume) or in the last one, never in one that
// others were entered after (it would be read on at their offsets). Offsets skipped
// since the last chunk returned (bytes lost, a jump: announced by the next chunk) wait
// for no acknowledgement: none comes for them.
func (t *Tailer) acknowledged() bool {
	t.ackWait.Store(true)
	if a := t.acked.Load(); a < t.c.off && !(t.nextKnown && a >= t.next) {
		return false
	}
	t.ackWait.Store(false)
	return true
}

// lookLinger looks at the lingering generations while the followed one is read to its
// end at the path: one that grew is entered where it was left (the followed one parked
// meanwhile); one not grown for RotateWait is left for good. It reports whether it moved.
func (t *Tailer) lookLinger() bool {
	t.lookLeftForGood()
	t.lingerGrew = false
	now := time.Now()
	for i := 0; i < len(t.linger); i++ {
		l := &t.linger[i]
		if t.s.takenOver(t, [2]uint64{l.g.key.dev, l.g.key.ino}) {
			// Another stream took it on since (read on where it was handed over):
			// what its writer appends is that stream's to read.
			t.dropLinger(i)
			i--
			continue
		}
		fi, err := l.g.f.Stat()
		switch {
		case err == nil && fi.Size() > l.g.readOff:
			l.till = now.Add(t.s.cfg.RotateWait)
			if t.parked != nil || t.g.has && t.g.f == nil || t.c.pending() || !t.acknowledged() {
				// At the followed generation's next line end, once acknowledged: it is
				// read no further meanwhile (step).
				t.lingerGrew = t.lingerGrew || t.parked == nil && t.g.f != nil
				continue
			}
			if _, _, ok := t.s.take(t, [2]uint64{l.g.key.dev, l.g.key.ino}, l.g.name, false); !ok {
				// Another stream of that name took it (its claim held only while
				// read): that stream reads on what was appended.
				t.dropLinger(i)
				i--
				continue
			}
			t.toLingering(i, fi)
			return true
		case err == nil && fi.Size() < l.g.readOff:
			t.log.Warn("a generation followed for rotate_wait shrank below what was read; left",
				"file", l.g.name, "file_offset", l.g.readOff, "size", fi.Size())
			if name, ci, n := t.findShrunkCopyOf(&l.g, fi.ModTime()); name != "" && !l.g.rereadCounted {
				// Truncated to a smaller size and written, then copied (copytruncate):
				// the copy, a rotated generation not read yet, is read from its start.
				l.g.rereadCounted = true
				t.rereadLog("copytruncate's copy of a generation lingered on, truncated to a smaller size and written before the copy; it starts with lines read and is read from its start",
					ci.Size(), l.g.readOff, n)
			}
		case err == nil && now.Before(l.till):
			continue
		}
		t.endLinger(i)
		i--
	}
	if len(t.linger) == 0 && len(t.leftGood) == 0 && t.g.atPath {
		t.sub.SetAll(false)
	}
	return false
}

// toLingering parks the followed generation (read to its end, at a line end, all of it
// acknowledged; or none, while the path names no file) and enters lingering generation i
// where it was left.
func (t *Tailer) toLingering(i int, fi fs.FileInfo) {
	l := t.linger[i]
	t.linger = slices.Delete(t.linger, i, i+1)
	if t.g.recorded || t.g.baseKnown {
		t.keepTail()
		t.recordEnd()
	}
	p := &parkedGen{g: t.g, owned: t.owned}
	t.parked = p
	t.owned = [2]uint64{}
	t.log.Debug("a generation followed for rotate_wait grew; reading it on", "file", l.g.name, "file_offset", l.g.readOff, "size", fi.Size())
	l.g.maxSize = max(l.g.maxSize, fi.Size())
	l.g.nlink = nlinkOf(fi)
	// The walk from a checkpoint may have reached the offsets where the run before read
	// it on from there too (the followed generation parked there then as now): read
	// again at the offsets it had, not after a jump past them (its lines sent twice:
	// -model.shrink -model.oldwriter seed 9066).
	ce, sameBase, ok := t.recordedReadOn(&l.g)
	ok = ok && ce.start() == t.c.off
	t.enterLingering(l.g, ok)
	if ok {
		t.log.Info("the run before read on there a generation it had left (its writer still held it) and stopped before that was acknowledged; read again at the offsets it had",
			"file", l.g.name, "file_offset", l.g.readOff, "offset", t.c.off)
		t.leaveWhereLeftFrom(ce.Base, int64(ce.From), sameBase)
	}
}

// enterLingering makes g, a lingering generation taken off t.linger (its descriptor and
// claim now t's), the followed one, entered where it was left at the stream's next
// offsets (or, recorded, at those the record gives it: enterAt).
func (t *Tailer) enterLingering(g gen, recorded bool) {
	t.g = g
	id := [2]uint64{g.key.dev, g.key.ino}
	t.owned = id
	t.openID.Store(&id)
	t.setAtPath(false)
	t.c.r, t.c.w = 0, 0
	t.enterAt(g.readOff, recorded)
}

// fromParked enters the parked generation again where it was left, once the lingering
// one read meanwhile is left; it reports whether there was one.
func (t *Tailer) fromParked() bool {
	p := t.parked
	if p == nil {
		return false
	}
	t.parked = nil
	t.g = p.g
	t.owned = p.owned
	t.left = nil
	if !t.g.has {
		return true // no file was followed: the path is opened again (openPath)
	}
	if t.g.f != nil {
		id := [2]uint64{t.g.key.dev, t.g.key.ino}
		t.openID.Store(&id)
	}
	t.setAtPath(t.g.atPath)
	t.c.r, t.c.w = 0, 0
	t.enterAt(t.g.readOff, false)
	return true
}

// dropLinger closes lingering generation i, taken by another stream (its claim is not
// t's any more): nothing is counted, that stream reads it on.
func (t *Tailer) dropLinger(i int) {
	l := t.linger[i]
	t.linger = slices.Delete(t.linger, i, i+1)
	t.log.Debug("a generation followed for rotate_wait is read on by another stream of its name", "file", l.g.name, "file_offset", l.g.readOff)
	_ = t.gens.endWait(l.g.key.dev, l.g.key.ino)
	t.closeHeld(l.g.f)
}

// endLinger leaves lingering generation i for good: RotateWait passed without growth.
func (t *Tailer) endLinger(i int) {
	l := t.linger[i]
	t.linger = slices.Delete(t.linger, i, i+1)
	t.closeLinger(&l, false)
	_ = t.gens.endWait(l.g.key.dev, l.g.key.ino) // (an empty one: not looked at again)
	t.leftForGood(&l)
}

// closeLinger closes a lingering generation's descriptor and gives up its claim (handed
// over where it was left). At Close, bytes it holds unread are logged: the next run
// reads them on from where it was left, as a generation left grown (resumeLinger).
func (t *Tailer) closeLinger(l *lingerGen, closing bool) {
	if fi, err := l.g.f.Stat(); err == nil && fi.Size() > l.g.readOff {
		n := fi.Size() - l.g.readOff
		switch {
		case nlinkOf(fi) == 0:
			// No name left to find it by: its descriptor was the last way to read it.
			t.s.m.LostBytes.Add(float64(n))
			t.log.Warn("a deleted file followed for rotate_wait holds lines not read yet as the source closes; they cannot be read again (lost)",
				"file", l.g.name, "file_offset", l.g.readOff, "lost_bytes", n)
		default:
			// (A symlink's old target too: the next run finds it under the name it had,
			// genEntry.Name.)
			t.log.Info("a generation followed for rotate_wait holds lines not read yet as it is left; the next run reads them on from where it was left",
				"file", l.g.name, "file_offset", l.g.readOff, "size", fi.Size())
		}
	}
	id := [2]uint64{l.g.key.dev, l.g.key.ino}
	h := handOver{off: -1}
	if l.g.nlink > 0 {
		m := leftGen{stream: t.stream, fpLen: l.g.key.fpLen, fp: l.g.key.fp, left: l.g.readOff, tailN: l.g.tailN, tailFP: fingerprint(l.g.tail[:l.g.tailN]), born: bornOf(l.g.f)}
		if l.g.key.fpLen > 0 && len(l.g.headB) == l.g.key.fpLen {
			m.ends = lineEnds(l.g.headB)
		}
		h = handOver{key: l.g.key, off: l.g.readOff, mark: m}
	}
	t.s.release(t, id, h, l.g.nlink > 0, closing)
	t.forgetIfDeleted(l.g.f)
	t.closeHeld(l.g.f)
	if !closing {
		t.log.Debug("a generation followed for rotate_wait left: not grown for rotate_wait", "file", l.g.name, "file_offset", l.g.readOff)
	}
}

// nlinkOf returns the link count of fi.
func nlinkOf(fi fs.FileInfo) uint64 {
	_, _, n := fileID(fi)
	return n
}

// resumeLinger, after a restart, follows again the generations the run before left
// (renamed away or deleted while it followed them for RotateWait, or before: the record
// of generations, genEntry.Left) that grew since, found by identity under a rotated name
// of the path, still holding what was read (head, and the last bytes before the offset
// left): their writer appended while the shipper was down. They linger as in the run
// before and are read on from where they were left at the stream's next offsets. A
// deleted one is gone with the descriptors of the run before: what its writer appended
// after the run's last look cannot be known. Not for a glob's match: the glob reads on
// a file left and written to since under a name it matches (the left index), and a
// second stream must not read the same bytes.
func (t *Tailer) resumeLinger() {
	if t.s.cfg.RotateWait <= 0 || t.toEnd || t.endWhenGone || !t.g.has && t.history == nil {
		return
	}
	for _, e := range t.gens.lastLeft(t.c.off) {
		if t.g.has && e.Dev == t.g.key.dev && e.Ino == t.g.key.ino {
			continue
		}
		if ok, noFD := t.lingerAgain(e); noFD {
			return
		} else if !ok {
			// Not grown (yet): its writer may append after this start, within what
			// is left of RotateWait or later. Looked at as one left for good.
			if name, _, target := t.findLeft(e, e.Left); name != "" {
				t.watchLeft(e, name)
				if target {
					t.watchLinks(false)
				}
			}
			continue
		}
		if t.history != nil {
			// Resumed at the end of a generation left, the generations recorded after it
			// walked first (Tailer.resume): this one is no rotated generation not read
			// yet but one left, read on after them at the stream's next offsets, not
			// before them at offsets they had.
			t.history[[2]uint64{e.Dev, e.Ino}] = fileKey{dev: e.Dev, ino: e.Ino, fpLen: e.FPLen, fp: e.FP}
		}
		t.log.Info("a generation the run before left grew since (its writer still held it); reading it on from where it was left",
			"file", t.linger[len(t.linger)-1].g.name, "file_offset", e.Left, "size", t.linger[len(t.linger)-1].g.maxSize)
	}
	t.resumeWaits()
	t.resumeLingerRead()
}

// lingerAgain follows again, for RotateWait, the generation e says was left where
// (genEntry.Left), when it grew since: found by identity under a rotated name of the
// path, still holding what was read (head, and the last bytes before where it was left),
// claimed by no other stream. It reports whether it did, and noFD when no descriptor
// slot was free to do it (--max-open-files).
func (t *Tailer) lingerAgain(e genEntry) (ok, noFD bool) {
	k := fileKey{dev: e.Dev, ino: e.Ino, fpLen: e.FPLen, fp: e.FP}
	id := [2]uint64{e.Dev, e.Ino}
	name, fi, target := t.findLeft(e, e.Left+1)
	if name == "" || fi.Size() <= e.Left || t.s.ownedElsewhere(t, id, name) != nil || t.s.takenOver(t, id) {
		return false, false
	}
	if !t.s.fds.tryAcquire() {
		return false, true
	}
	f, err := openName(name)
	if err != nil {
		t.s.fds.release()
		return false, false
	}
	tail := make([]byte, e.TailN)
	head := make([]byte, e.FPLen)
	if _, err := f.ReadAt(tail, e.Left-int64(e.TailN)); err != nil || fingerprint(tail) != e.TailFP ||
		!func() bool { _, err := f.ReadAt(head, 0); return err == nil && fingerprint(head) == e.FP }() ||
		t.takenOnSince(f, name, id, e.Left) || !t.s.linger(t, id, name) {
		f.Close()
		t.s.fds.release()
		return false, false
	}
	t.s.m.FilesOpened.Inc()
	t.s.m.FilesOpen.Inc()
	g := gen{has: true, f: f, name: name, key: k, readOff: e.Left, base: e.Base, maxSize: fi.Size(), nlink: nlinkOf(fi),
		mtime: fi.ModTime(), began: fi.ModTime(), headB: head, headLine: e.Line, leftTarget: target, born: bornOf(f)}
	g.tailN = copy(g.tail[:], tail)
	t.linger = append(t.linger, lingerGen{g: g, till: time.Now().Add(t.s.cfg.RotateWait)})
	t.sub.SetAll(true)
	if target {
		t.watchLinks(false) // its directory: its old writer's appends wake the tailer
	}
	return true, false
}

// takenOnSince reports whether another stream read the generation f (under name) on
// from where t left it at left (leftFurther), in this run or a run before: what its
// writer appended is that stream's (up to where it left it, and after: it, or a glob's
// match of the name it has now, reads on from there), never t's again. Within a run
// the hand-over says so (Set.takenOver); across a restart only the records of
// generations do: the line an old writer appended, read on by app.log.1's stream, was
// read again by app.log's.
func (t *Tailer) takenOnSince(f *os.File, name string, id [2]uint64, left int64) bool {
	lg, _, ok := leftFurther(f, name, id, t.s.store.left, t.stream, left)
	if ok {
		t.log.Debug("a generation left grew since, and another stream read it on from where it was left; not followed again",
			"file", name, "left_at", left, "stream_path", t.s.store.pathOf(lg.stream), "file_offset", lg.left)
	}
	return ok
}

// lingerEmpty follows, for RotateWait, the rotated generations newer than prev (just
// left) that are still empty (names, infos: the rotated files findNewerIn listed, and
// passed over for being empty): each was at the path before the rotation that renamed
// it, and its writer may still hold it (an Apache graceful restart's old children that
// had not written yet under logrotate's create mode). Passed over, it was never looked at
// again: what its writer appended later was never read (-model.oldwriter seeds 50, 297).
// It lingers as a generation left at its start, read once it grows where a lingering
// generation is (lookLinger), at the stream's next offsets; the record of generations
// keeps it (genLog.addWait), so that a restart lingers on it again (resumeWaits).
// Not for a glob's match (endWhenGone: the glob reads its rotated names) nor with
// RotateWait 0.
func (t *Tailer) lingerEmpty(prev *gen, names []string, infos []fs.FileInfo) {
	if t.s.cfg.RotateWait <= 0 || t.toEnd || t.endWhenGone || !prev.has || t.lookErr != nil {
		return
	}
	var live [2]uint64
	if pi, err := os.Stat(t.path); err == nil {
		live[0], live[1], _ = fileID(pi)
	}
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		id := [2]uint64{dev, ino}
		if fi.Size() != 0 || !fi.Mode().IsRegular() || id == live || id == [2]uint64{prev.key.dev, prev.key.ino} ||
			t.lingers(id) || t.isDone(names[i], dev, ino, 0) || !t.isRotatedOf(names[i]) ||
			modifiedBefore(fi, prev.orderTime()) && !t.bornAfter(names[i], id, prev) && !t.seenAhead(dev, ino) {
			continue
		}
		// One seen ahead (at the path while prev was read, rotated since) is handed its
		// descriptor: it is no generation to drain now, but one to linger on.
		if _, noFD := t.waitEmpty(names[i], id, nil, t.takeAhead(dev, ino)); noFD {
			return
		}
	}
}

// lingerEmptySince follows, for RotateWait, the rotated generations that appeared while
// no file was followed (not in the history: created at the path and rotated away since
// it was taken) and are still empty, as the walk through the generations that appeared
// then ends at the file at the path (openPath; names, infos: the rotated files it listed
// last). The walk drains only those with data: an empty one, passed over, was never
// looked at again once the history was dropped, and what its writer (an old one, that
// had not written yet) appended later was never read (-model.shrink -model.oldwriter
// seed 9248: the walk of a restart from a checkpoint where a generation was left). It
// lingers as one passed over when a generation is left does (lingerEmpty). One in the
// history is older than the history (than the checkpoint, after a restart): a run before
// passed it over, and lingered on it then if its turn came (the record keeps it:
// resumeWaits); unless it was born after the checkpointed file (histBorn): modified
// before the checkpoint's time only because that file's old writer appended to it
// after, it followed that file, and the run before, which had not left that file yet,
// never looked at it (-model.shrink -model.oldwriter seed 9106).
func (t *Tailer) lingerEmptySince(names []string, infos []fs.FileInfo) {
	if t.s.cfg.RotateWait <= 0 || t.toEnd || t.endWhenGone || t.history == nil || t.lookErr != nil {
		return
	}
	var live [2]uint64
	if pi, err := os.Stat(t.path); err == nil {
		live[0], live[1], _ = fileID(pi)
	}
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		id := [2]uint64{dev, ino}
		if fi.Size() != 0 || !fi.Mode().IsRegular() || id == live || t.lingers(id) || t.isDone(names[i], dev, ino, 0) || !t.isRotatedOf(names[i]) {
			continue
		}
		if _, known := t.history[id]; known && (t.histBorn == 0 || bornAt(names[i]) <= t.histBorn) {
			continue
		}
		if _, noFD := t.waitEmpty(names[i], id, nil, t.takeAhead(dev, ino)); noFD {
			return
		}
	}
}

// waitEmpty follows the file id under the rotated name for RotateWait as an empty
// generation left at its start (through held, its descriptor held since it was seen
// ahead, when not nil). Found empty by a look of this run (w nil), it is
// recorded (genLog.addWait); resumed from the record w, it is the file recorded: born
// when it was, or, its birth time not known, still empty. It reports whether it
// follows it, and noFD when no descriptor slot was free to do it.
func (t *Tailer) waitEmpty(name string, id [2]uint64, w *genEntry, held *os.File) (ok, noFD bool) {
	return t.waitAt(name, id, w, held, false)
}

// waitAt is waitEmpty; with grown, for a generation not read yet that holds data
// already (passed over for the file at the path the record says comes first:
// findNewerIn), read at once where a lingering generation that grew is.
func (t *Tailer) waitAt(name string, id [2]uint64, w *genEntry, held *os.File, grown bool) (ok, noFD bool) {
	if t.s.ownedElsewhere(t, id, name) != nil || t.s.takenOver(t, id) {
		if held != nil {
			t.closeHeld(held)
		}
		return false, false
	}
	f, err := held, error(nil)
	if f == nil {
		if !t.s.fds.tryAcquire() {
			return false, true
		}
		f, err = openName(name)
		if err == nil {
			t.s.m.FilesOpened.Inc()
			t.s.m.FilesOpen.Inc()
		}
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	var born int64
	if err == nil {
		born = bornOf(f)
	}
	same := err == nil && nlinkOf(fi) > 0 && sameID(fi, id)
	if w != nil && w.Born != 0 {
		// (Grown while the shipper was down, or since: read by another stream, a
		// glob's match of its name, it is that stream's, takenOnSince.)
		same = same && born == w.Born && !(fi.Size() > 0 && t.takenOnSince(f, name, id, 0))
	} else {
		same = same && (fi.Size() == 0 || grown)
	}
	if !same || !t.s.linger(t, id, name) {
		if f != nil {
			t.closeHeld(f)
		} else {
			t.s.fds.release()
		}
		return false, false
	}
	g := gen{has: true, f: f, name: name, key: fileKey{dev: id[0], ino: id[1]}, nlink: nlinkOf(fi), mtime: fi.ModTime(), began: fi.ModTime(), born: born}
	t.linger = append(t.linger, lingerGen{g: g, till: time.Now().Add(t.s.cfg.RotateWait)})
	t.sub.SetAll(true) // its writes (under a rotated name) wake the tailer
	if w == nil {
		// A record not written is written by the next add or save.
		_ = t.gens.addWait(id[0], id[1], born)
	}
	t.log.Debug("following an empty rotated generation for rotate_wait: its writer may still append to it", "file", name, "size", fi.Size())
	return true, false
}

// resumeWaits, after a restart, follows again the empty generations the run before
// lingered on without reading a byte of them (genLog.waiting): found by device and inode
// under a rotated name of the path, born when it was (when the birth time is known;
// otherwise still empty). What their writer appended while the shipper was down is read
// as what a lingering generation grew by. One not found is forgotten.
func (t *Tailer) resumeWaits() {
	for _, w := range t.gens.waiting() {
		id := [2]uint64{w.Dev, w.Ino}
		if t.g.has && id == [2]uint64{t.g.key.dev, t.g.key.ino} || t.lingers(id) {
			continue
		}
		name, _ := t.findByIdentity(fileKey{dev: w.Dev, ino: w.Ino}, 0)
		if name == "" || !t.isRotatedOf(name) {
			_ = t.gens.endWait(w.Dev, w.Ino)
			continue
		}
		ok, noFD := t.waitEmpty(name, id, &w, nil)
		if noFD {
			return
		}
		if !ok {
			_ = t.gens.endWait(w.Dev, w.Ino)
		}
	}
}

// notWaited, as the file id is entered, forgets it was waited on as an empty generation
// (genLog.endWait), and stops lingering on it as one (waitEmpty) when it is entered
// another way (taken for copytruncate's copy, drained as a rotated generation):
// read by both, its lines were sent twice (-model.oldwriter seed 344).
func (t *Tailer) notWaited(id [2]uint64) {
	_ = t.gens.endWait(id[0], id[1]) // entered: its entry says the rest
	i := t.lingerIndex(id)
	if i < 0 || t.linger[i].g.readOff != 0 || t.linger[i].g.key.fpLen != 0 {
		return
	}
	l := t.linger[i]
	t.linger = slices.Delete(t.linger, i, i+1)
	t.closeHeld(l.g.f)
	t.log.Debug("an empty generation followed for rotate_wait is read another way", "file", l.g.name)
}

// sameID reports whether fi is the file id.
func sameID(fi fs.FileInfo, id [2]uint64) bool {
	dev, ino, _ := fileID(fi)
	return [2]uint64{dev, ino} == id
}

// findLeft returns where the generation e left is now, holding at least size bytes: under
// a rotated name of the path, or, an old target of a symlinked path (genEntry.Name), still
// there while the path leads to another file (target). "" when it is found in neither.
func (t *Tailer) findLeft(e genEntry, size int64) (name string, fi fs.FileInfo, target bool) {
	k := fileKey{dev: e.Dev, ino: e.Ino, fpLen: e.FPLen, fp: e.FP}
	if name, fi = t.findByIdentity(k, size); name != "" && t.isRotatedOf(name) {
		return name, fi, false
	}
	atPath := len(t.opened) > 0 && e.Name == t.opened[len(t.opened)-1]
	if atPath && size > e.Left && t.g.has && !t.g.atPath {
		// At the path, grown, while the walk resumed in another file (an old target the
		// checkpoint is in): the link may be switched on before the walk gets to the
		// path. Lingering, it is read on as in the run before (entered at the path
		// again, backFromLinger); else its writer's lines were never read once the
		// link left it.
		atPath = false
	}
	if e.Name == "" || e.Name == t.path || atPath || t.s.followedAs(e.Name) {
		return "", nil, false // (at the path: read there; another source's path: read by it)
	}
	if name, fi = atName(e.Name, k, size); name != "" {
		return name, fi, true
	}
	return "", nil, false
}

// maxLeftForGood bounds the generations left for good (RotateWait over) that a tailer
// still looks at for growth (Tailer.leftGood).
const maxLeftForGood = 8

// leftForGood keeps looking, without a descriptor, at a generation left once RotateWait
// passed without growth (renamed away, not deleted): an old writer may still append to
// it later (an Apache graceful restart's child ending a long request), and what it
// appends is read in this run (lookLeftForGood), not only by the next one.
func (t *Tailer) leftForGood(l *lingerGen) {
	// (Not a symlink's old target, leftTarget: it is no rotated name of the path, so
	// lingerAgain would not find it; its writer, an old release's server, was restarted
	// by then.)
	if l.g.nlink == 0 || l.g.leftTarget || l.g.key.fpLen == 0 || l.g.readOff <= 0 || l.g.tailN <= 0 {
		return
	}
	e := genEntry{Stream: t.stream, Base: l.g.base, Dev: l.g.key.dev, Ino: l.g.key.ino, FPLen: l.g.key.fpLen, FP: l.g.key.fp,
		Line: l.g.headLine, Left: l.g.readOff, TailN: l.g.tailN, TailFP: fingerprint(l.g.tail[:l.g.tailN])}
	t.watchLeft(e, l.g.name)
}

// watchLeft adds e, a generation left under name, to those looked at for growth (at most
// maxLeftForGood, the oldest forgotten first).
func (t *Tailer) watchLeft(e genEntry, name string) {
	t.leftGood = append(t.leftGood, leftGoodGen{e: e, name: name})
	t.sub.SetAll(true) // its writes (under a rotated name) wake the tailer
	if len(t.leftGood) > maxLeftForGood {
		t.leftGood = slices.Delete(t.leftGood, 0, len(t.leftGood)-maxLeftForGood)
	}
}

// lookLeftForGood follows again, for RotateWait, the generations left for good that grew
// since (lingerAgain); those gone from the rotated names of the path are forgotten. The
// name each had is looked at first (a stat): the rotated names are listed only for one
// renamed since.
func (t *Tailer) lookLeftForGood() {
	for i := 0; i < len(t.leftGood); i++ {
		l := &t.leftGood[i]
		if t.s.takenOver(t, [2]uint64{l.e.Dev, l.e.Ino}) {
			t.leftGood = slices.Delete(t.leftGood, i, i+1) // another stream's now (lookLinger)
			i--
			continue
		}
		fi, err := os.Stat(l.name)
		if dev, ino := fileIDOrZero(fi, err); dev != l.e.Dev || ino != l.e.Ino {
			k := fileKey{dev: l.e.Dev, ino: l.e.Ino, fpLen: l.e.FPLen, fp: l.e.FP}
			if l.name, fi = t.findByIdentity(k, 0); l.name == "" || !t.isRotatedOf(l.name) {
				t.leftGood = slices.Delete(t.leftGood, i, i+1)
				i--
				continue
			}
		}
		if fi.Size() <= l.e.Left {
			continue
		}
		ok, noFD := t.lingerAgain(l.e)
		if noFD {
			continue // looked at again once a descriptor is free
		}
		if ok {
			t.log.Info("a generation left after rotate_wait without growth grew since (its writer still held it); reading it on from where it was left",
				"file", l.name, "file_offset", l.e.Left, "size", fi.Size())
		}
		t.leftGood = slices.Delete(t.leftGood, i, i+1)
		i--
	}
}

// fileIDOrZero returns the device and inode of fi, or zeros when err is not nil.
func fileIDOrZero(fi fs.FileInfo, err error) (dev, ino uint64) {
	if err != nil {
		return 0, 0
	}
	dev, ino, _ = fileID(fi)
	return dev, ino
}

// A leftGoodGen is a generation left for good that a tailer still looks at: where it was
// left (a genEntry with Left), and the name it had last.
type leftGoodGen struct {
	e    genEntry
	name string
}

// leftGoodIs reports whether the file name (id) is one of the generations left for good
// that the tailer still looks at: the same inode with the same head (its inode number is
// given to another file once it is deleted).
func (t *Tailer) leftGoodIs(name string, id [2]uint64) bool {
	for _, l := range t.leftGood {
		if l.e.Dev == id[0] && l.e.Ino == id[1] && headIs(name, fileKey{dev: l.e.Dev, ino: l.e.Ino, fpLen: l.e.FPLen, fp: l.e.FP}) {
			return true
		}
	}
	return false
}

// resumeLingerRead, after a restart whose checkpoint is where the run before left a
// generation (parked, or left for good) to read what a lingering one grew by, enters
// that lingering one at once: the record says the run before read it on from where it
// was left at the checkpoint's offset (an entry with From, starting there), and what it
// read there (not acknowledged) is read again at those offsets, before the generation
// parked is walked on from where it was left. Otherwise the walk went on with the
// parked one past the offsets the lingering one had used (a jump), and the lingering
// one's lines were read again after it, at other offsets (sent twice).
//
// So too when the walk from the checkpoint, past generations recorded after it, gets to
// that offset (drainNewer): the run before read on the lingering one there after them.
// It reports whether it entered one.
func (t *Tailer) resumeLingerRead() bool {
	if t.g.has {
		return false
	}
	for i, l := range t.linger {
		ce, sameBase, ok := t.recordedReadOn(&l.g)
		if !ok {
			continue
		}
		// The run before may have moved the stream on first (a jump past the offsets of
		// generations destroyed since, bytes counted gone), then read on there: it is
		// read again at the offsets it had, past the same gap, not after another jump
		// (its lines sent twice: -model.oldwriter seeds 70, 121).
		// So too past generations it read there that are destroyed since (deleted,
		// truncated): their bytes cannot be sent again (skipSent), and the lingering
		// one's go at the offsets they had, not past a jump (-model.oldwriter seed 368).
		if ce.start() != t.c.off && !(offAfter(ce.start(), t.c.off) &&
			(t.gens.skippedBetween(t.c.off, ce.start()) || t.goneBetween(t.c.off, ce.start()))) {
			continue
		}
		id := [2]uint64{l.g.key.dev, l.g.key.ino}
		if _, _, ok := t.s.take(t, id, l.g.name, false); !ok {
			continue
		}
		if gap := ce.start() - t.c.off; gap > 0 {
			t.skipSent(int64(gap), "offsets the run before moved past, or gave generations destroyed since, before it read on a generation it had left", true)
		}
		t.linger = slices.Delete(t.linger, i, i+1)
		t.enterLingering(l.g, true)
		switch {
		case t.left != nil:
			t.g.after = t.left.orderTime()
		case t.history != nil:
			t.g.after = t.histTime
		}
		t.log.Info("the run before read on there a generation it had left (its writer still held it) and stopped before that was acknowledged; read again at the offsets it had",
			"file", l.g.name, "file_offset", l.g.readOff, "offset", t.c.off)
		// Only up to where that run left it again, when it went on with others: what
		// its writer appended after goes after their offsets (-model.oldwriter seed 218:
		// read past there, it took the offsets of the generation parked for it).
		t.leaveWhereLeftFrom(ce.Base, int64(ce.From), sameBase)
		return true
	}
	return false
}

// recordedReadOn returns the entry of the record of generations by which the run before
// read on the lingering generation g from where it was left (g.readOff), and whether
// both its reads have one base (readOnFrom).
func (t *Tailer) recordedReadOn(g *gen) (ce genEntry, sameBase, ok bool) {
	// The file's head now: the run before may have recorded a longer head of it (read
	// on, the file grown) than the entry it was found by.
	head := make([]byte, FingerprintLen)
	n, _ := g.f.ReadAt(head, 0)
	if ce, ok = t.gens.continuationAfter(g.key.dev, g.key.ino, g.base, head[:n]); ok && int64(ce.From) == g.readOff {
		return ce, false, true
	}
	// Read on twice by the run before with nothing sent between (the generation parked
	// for it entered again, nothing new there): both reads have one base, and the second
	// was read again after a jump, its lines sent twice (-model.oldwriter seed 1023).
	// Not one left at once (nothing sent there).
	if ce, ok = t.gens.readOnFrom(g.key.dev, g.key.ino, g.readOff, t.c.off, head[:n]); !ok || ce.End != 0 && ce.End == ce.start() {
		return genEntry{}, false, false
	}
	return ce, true, true
}

// goneBetween reports whether the generations a run before sent bytes of at offsets in
// [from, to) (at least one) are all destroyed since: no file at the path or under a
// rotated name of it starts with their head (the file itself, or a copy of it:
// copytruncate's), none lingering.
func (t *Tailer) goneBetween(from, to uint64) bool {
	keys := t.gens.contentBetween(from, to)
	if len(keys) == 0 {
		return false
	}
	t.lookErr = nil
	names, _ := t.candidates()
	if t.lookErr != nil {
		return false
	}
	names = append(names, t.path)
	for _, k := range keys {
		if t.lingers([2]uint64{k.dev, k.ino}) {
			return false
		}
		for _, name := range names {
			if ok, err := headIsErr(name, k); ok || err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false
			}
		}
	}
	return true
}

// releaseLinger leaves every lingering generation now: another file waits for a
// descriptor slot (a tailer never waits for one while holding slots it can give up).
// One renamed is found again by the next run, which reads on what it grew by
// (resumeLinger); a deleted one's unread bytes are counted lost (closeLinger).
func (t *Tailer) releaseLinger() {
	for i := range t.linger {
		l := &t.linger[i]
		t.log.Info("a generation followed for rotate_wait is left early: its descriptor is needed for another file (--max-open-files)",
			"file", l.g.name, "file_offset", l.g.readOff)
		t.closeLinger(l, false)
	}
	t.linger = nil
}

// leaveWhereLeft, resuming at cp in a rotated generation that the run before left
// further on (its record entry based at the checkpoint's base ends after it, with
// genEntry.Left) and went on with other generations recorded after it, makes the tailer
// read it from the checkpoint only up to where it was left, at the offsets it had, and
// leave it there (leaveAtLeft): what its writer appended after (an Apache graceful
// restart's old children, lines the run before may have read while it lingered, or not)
// goes after the offsets of the generations that followed, never at them.
func (t *Tailer) leaveWhereLeft(cp *Checkpoint) {
	// (In the middle of a line, LineOff, the record says where the generation's byte 0
	// is, as for baseAt: read past where it was left, it took the offsets of the
	// lingering generation read after it, -model.oldwriter seed 536.)
	if t.g.skipAt != 0 || cp.FileOffset < 0 || uint64(cp.FileOffset) > cp.Offset ||
		cp.LineOff != 0 && !t.gens.basedAt(cp.Dev, cp.Ino, cp.Offset-uint64(cp.FileOffset)) {
		return
	}
	t.leaveWhereLeftAt(cp.Offset-uint64(cp.FileOffset), cp.FileOffset)
}

// leaveWhereLeftAt is leaveWhereLeft for the followed generation based at base, read on
// from file offset off at the offsets it had: the checkpointed one, or one the walk
// from the checkpoint enters at its start at its recorded offsets (entered); or a copy
// of such a generation (genLog.leftPast).
func (t *Tailer) leaveWhereLeftAt(base uint64, off int64) {
	t.leaveWhereLeftFrom(base, off, false)
}

// leaveWhereLeftFrom is leaveWhereLeftAt; with readOn, for a lingering generation the
// walk reads on from off, where it was left, at the offsets of a read the run before
// based where an earlier one was (resumeLingerRead: nothing sent between), only a leave
// past off counts: one at off is that earlier read's, and leaving there again at once,
// it was read on again from there for ever.
func (t *Tailer) leaveWhereLeftFrom(base uint64, off int64, readOn bool) {
	if t.g.skipAt != 0 {
		return
	}
	if left, ok := t.gens.leftPastFrom(t.g.key.dev, t.g.key.ino, base, base+uint64(off), t.headNow(), readOn); ok && (left > off || left == off && !readOn) {
		t.g.leaveAt = left
		t.log.Info("a generation walked again was left further on by the run before, which went on with others: it is read up to there at its offsets, what was appended to it after is read after theirs",
			"file", t.g.name, "file_offset", off, "left_at", left)
	}
}

// leaveAtLeft leaves the followed generation at leaveAt, where the run before left it
// (leaveWhereLeft): lingering, when its writer may still append to it (its bytes past
// there are read on, once the generations that followed were walked, at the stream's
// next offsets), then on to the generations that followed. It reports whether it moved.
func (t *Tailer) leaveAtLeft() bool {
	if !t.endPending(0, "") {
		// The lines read up to there are returned first; one cut there (the run
		// before left it at a line end; a file written again since may hold
		// another line there) is ended as at every leave, not waited on for ever.
		return true
	}
	t.g.leaveAt = 0
	if t.canLinger() {
		t.lingerLeft()
	}
	t.leaveGen()
	return true
}
