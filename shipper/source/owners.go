package source

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// One file, one stream. A file (device and inode) is read by exactly one stream of a Set
// at any moment, whichever names reach it: a path given twice, a symlink to a followed
// file (cronolog's access.log -> access-20261130.log under *.log), a hard link, a path
// through "..", several globs matching it. The Set keeps, for each file a tailer follows,
// the tailer that reads it (its owner, the first to take it):
//
//   - Paths: a Set follows each path (cleaned, made absolute) with one tailer; a Glob does
//     not follow a match another source of the Set follows at that path (another glob, an
//     explicit path). ship deduplicates its arguments at start, with a warning.
//   - Files at a path: a tailer whose path names a file another stream owns leaves it to
//     that stream (logged once) and waits until its path names another file: a symlink
//     switched to a file nobody follows is read by the symlink's stream, from its start.
//   - Hand-over: a stream that leaves a file another tailer waits for (its symlink was
//     switched away, it drained it as a rotated generation, its match was dropped) hands
//     it over at the offset it shipped up to, with the file's head: the waiting tailer is
//     woken at once (no event at its own path need come) and reads on from there if the
//     file still starts with that head and holds the last bytes read before that offset
//     (leftGen.heldIn, as for any file left and found again) and is not a file born
//     since (bornOf: a deleted file's inode number given to a new one that starts with
//     the same bytes), never again from the start;
//     a file truncated and written again in place since (the same banner) is read from
//     its start. A tailer that takes
//     the file later (a glob's match of it, claimed while that stream read it) does too.
//   - A claim that cannot be the file: an owner that neither holds its file open nor
//     finds it at the name it took it under may have followed a deleted file whose inode
//     the file system gave to a new one (a short-lived glob match): it is not waited for.
//
// Each path keeps its own stream id and checkpoint across restarts and reloads: which
// path owns a shared file is decided again by the order sources are opened (the order
// of ship's arguments, a glob's matches in lexical order), except for the files the
// checkpoints name:
//
//   - Restart: a tailer resumed from its checkpoint reserves (ownership.reserved) the
//     file its checkpoint names and the generations its record says it read from their
//     start after the checkpoint, wherever they are now (found by identity and head
//     under any name of its directory: a file given the inode number of a reserved one
//     deleted since is not reserved, reservation.holds): another tailer reaching one (a glob's rotated name that
//     the pattern matches) waits, as for an owned file, until the reserving tailer took
//     it and left it (handed over at the offset it shipped up to) or reached its own
//     path. A Glob's children read nothing before its first Next, so that every source
//     of the Set has resumed (and reserved) first, whatever order the names are listed
//     in. A path that takes a file another path's checkpoint names (that path not
//     followed now) reads on from that checkpoint (Set.checkpointed), not from its
//     start, and only once a source of the Set was read (every source opened): a glob
//     opened later may resume that path's stream, which drains the file first. A file another tailer reads, or reserved for it, is no rotated generation
//     of this path (findNewerIn: mv b.log a.log.1 with both followed); left by it, it
//     is read on from where it was left (enterHanded).

// ownership is what the Set knows of the files its tailers follow; guarded by Set.mu.
type ownership struct {
	owners  map[[2]uint64]ownerRec         // file -> the tailer reading it
	waiting map[[2]uint64]map[*Tailer]bool // file -> tailers that yielded it to its owner
	handed  map[[2]uint64]handOver         // file -> where its owner left it, for the next owner
	// handedOrder: the files of handed in the order they were left (stale entries,
	// taken or left again since, are skipped): the oldest is dropped first.
	handedOrder []handedSlot
	handedSeq   uint64
	// handedDropped: the hand-overs dropped past maxHanded (logged at powers of two).
	handedDropped uint64
	paths         map[string]*Tailer // absolute clean path -> the tailer following it
	// reserved: files a tailer resumed from its checkpoint walks through before it
	// reaches its path (the checkpointed file, the generations its record says it read
	// after the checkpoint), wherever they are now: no other tailer takes one before
	// that tailer took it and left it, or reached its path (Tailer.walkDone). Keyed by
	// device and inode, each holds the head the record names (reservation.holds).
	reserved map[[2]uint64]reservation
	// takenOver: for a tailer, the files another tailer took after it left them (a
	// hand-over taken, a lingering claim taken while not read), the newest last, at most
	// maxTakenOver: it reads none of them again (Set.takenOver), though it lingers on
	// one or looks at it for growth (linger.go). Otherwise what their writer appends
	// later was read by both streams (twice: the taker reads on where it took the file,
	// the tailer that left it where it left it).
	takenOver map[*Tailer][][2]uint64
}

// maxTakenOver bounds ownership.takenOver per tailer: more than it lingers on or looks
// at for growth (maxLeftForGood) at once, with room.
const maxTakenOver = 64

// reservation is a file a tailer walks to (ownership.reserved): the tailer, and the
// file's identity and head as its record names them.
type reservation struct {
	t   *Tailer
	key fileKey
}

// holds reports whether the file found at name, of the reserved device and inode, is
// the one reserved: it starts with the head the record names. A reserved file deleted
// during the walk (logrotate's rotate count) leaves its inode number to the next file
// created (ext4 gives it at once, often), such as copytruncate's copy of another match:
// that file is no file of the walk (walkedIn does not take it either) and no other
// stream's to wait for or to leave alone (bench case 20: the copy was hidden from its
// own stream, its lines skipped, then read again, or lost). Without a head recorded (an
// empty file reserved) or a name, or when the head cannot be read now (no descriptor
// free), the device and inode decide. It reads the file: not called with Set.mu held.
func (r reservation) holds(name string) bool {
	if r.key.fpLen == 0 || name == "" {
		return true
	}
	ok, err := headIsErr(name, r.key)
	return ok || err != nil
}

// reservedFor returns the reservation of file id by a tailer other than t, if any, and
// whether it holds the file found at name (reservation.holds).
func (s *Set) reservedFor(t *Tailer, id [2]uint64, name string) (r reservation, res, holds bool) {
	s.mu.Lock()
	r, res = s.own.reserved[id]
	s.mu.Unlock()
	if !res || r.t == t {
		return reservation{}, false, false
	}
	return r, true, r.holds(name)
}

// ownerRec is the owner of a file and the name it took the file under (its path, or the
// rotated name it drains the file at).
type ownerRec struct {
	t    *Tailer
	name string
	// reserved: t has not taken the file yet; it walks to it (ownership.reserved).
	reserved bool
	// lingering: t left the file and follows it for RotateWait in case its writer
	// appends (linger.go): the claim holds only while t reads it, so another stream of
	// that name (a path or a glob's match) takes it and reads on where it was left, and
	// t then drops it.
	lingering bool
}

// handOver is where an owner left a file, for a tailer waiting for it or a later one (a
// glob's match claimed while that owner read it): the file offset shipped up to, and
// what the file held then, as for any generation left (leftGen: its head and the last
// bytes before that offset), checked the same way (leftGen.heldIn).
type handOver struct {
	off  int64   // -1: nowhere
	key  fileKey // the file's identity and head
	mark leftGen // mark.left == off: its head and last bytes read, to be checked (handedAt)
	from string  // the path of the owner that left it (a stream of that path resumes from its own checkpoint)
	// cp: the checkpoint of the path that left it, when the hand-over is that checkpoint
	// (Set.checkpointed: no stream of this run read it); checked as a resume checks its
	// checkpoint (Checkpoint.heldIn) instead of mark, which then holds only the head and
	// the file's birth time (Checkpoint.Born: a file born since is another file).
	cp  *Checkpoint
	seq uint64 // the order it was left in (ownership.handedOrder)
}

// handedSlot is a file of ownership.handed and the hand-over's seq.
type handedSlot struct {
	id  [2]uint64
	seq uint64
}

// maxHanded bounds the files left that no tailer took over yet. Past it the oldest
// hand-over is dropped (counted, logged): the least likely to be taken still (a file
// rotated on and deleted since, a hard link nobody follows). Its mark goes to the index
// of generations left (leftIndex), which the taker consults when no hand-over waits for
// it: it reads on from where the file was left all the same, never again from its start.
var maxHanded = 1024

func newOwnership() ownership {
	return ownership{owners: map[[2]uint64]ownerRec{}, waiting: map[[2]uint64]map[*Tailer]bool{},
		handed: map[[2]uint64]handOver{}, paths: map[string]*Tailer{}, reserved: map[[2]uint64]reservation{},
		takenOver: map[*Tailer][][2]uint64{}}
}

// absPath returns path cleaned and made absolute (path itself cleaned when the working
// directory is unknown).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return filepath.Clean(path)
}

// FollowsPath reports whether a source of s follows path (compared cleaned and absolute)
// with a tailer of its own.
func (s *Set) FollowsPath(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own.paths[absPath(path)] != nil
}

// addPath records t as the follower of its path; false if another tailer follows it.
func (s *Set) addPath(t *Tailer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := absPath(t.path)
	if o := s.own.paths[p]; o != nil && o != t {
		return false
	}
	s.own.paths[p] = t
	return true
}

// take makes t the owner of file id, found under name, unless another tailer owns it
// (returned, ok false) and force is false. h is where a previous owner left the file
// for a waiting tailer (off -1: nowhere).
func (s *Set) take(t *Tailer, id [2]uint64, name string, force bool) (other ownerRec, h handOver, ok bool) {
	var seen reservation
	var holds bool
	if !force {
		seen, _, holds = s.reservedFor(t, id, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, held := s.own.owners[id]; held && o.t != t && !force && !(o.lingering && !claimHolds(o, id)) {
		return o, handOver{off: -1}, false
	}
	if r, held := s.own.reserved[id]; held && r.t != t && !force {
		if r != seen || holds {
			// (Reserved since it was looked at: held, as it may be the file reserved.)
			return ownerRec{t: r.t, reserved: true}, handOver{off: -1}, false
		}
		s.log.Info("a file another stream's walk from its checkpoint reserved by device and inode starts with another head: the reserved file was deleted and its inode number given to this one; taken",
			"file", name, "reserved_by", r.t.path)
	}
	delete(s.own.reserved, id)
	if o, held := s.own.owners[id]; held && o.t != t {
		s.tookOverLocked(o.t, id)
	}
	s.own.owners[id] = ownerRec{t: t, name: name}
	h = handOver{off: -1}
	if ho, handed := s.own.handed[id]; handed {
		if ho.from != t.path {
			h = ho
			if from := s.own.paths[absPath(ho.from)]; from != nil && from != t {
				s.tookOverLocked(from, id)
			}
		}
		delete(s.own.handed, id)
	}
	if ids := s.own.takenOver[t]; slices.Contains(ids, id) {
		// Taken back (handed back to it): it reads the file again.
		s.own.takenOver[t] = slices.DeleteFunc(ids, func(x [2]uint64) bool { return x == id })
	}
	return ownerRec{}, h, true
}

// tookOverLocked records that another tailer took file id, which from had left
// (ownership.takenOver). s.mu is held.
func (s *Set) tookOverLocked(from *Tailer, id [2]uint64) {
	ids := s.own.takenOver[from]
	if slices.Contains(ids, id) {
		return
	}
	ids = append(ids, id)
	if len(ids) > maxTakenOver {
		ids = slices.Delete(ids, 0, len(ids)-maxTakenOver)
	}
	s.own.takenOver[from] = ids
}

// takenOver reports whether another tailer took file id after t left it
// (ownership.takenOver): t does not read it again.
func (s *Set) takenOver(t *Tailer, id [2]uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.own.takenOver[t], id)
}

// release gives up t's ownership of file id and wakes the tailers waiting for it; with
// hand, the file is handed over at h to the next tailer that takes it (one waiting, or,
// unless onlyWaiting, a glob's match of it followed later).
func (s *Set) release(t *Tailer, id [2]uint64, h handOver, hand, onlyWaiting bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own.owners[id].t != t {
		return
	}
	delete(s.own.owners, id)
	if hand && (!onlyWaiting || len(s.own.waiting[id]) > 0) {
		h.from = t.path
		s.own.handedSeq++
		h.seq = s.own.handedSeq
		s.own.handed[id] = h
		s.own.handedOrder = append(s.own.handedOrder, handedSlot{id: id, seq: h.seq})
		s.boundHandedLocked()
	}
	for w := range s.own.waiting[id] {
		w.poke()
	}
}

// boundHandedLocked drops the oldest hand-overs past maxHanded (see there). s.mu is held.
func (s *Set) boundHandedLocked() {
	o := &s.own
	for len(o.handed) > maxHanded && len(o.handedOrder) > 0 {
		x := o.handedOrder[0]
		o.handedOrder = o.handedOrder[1:]
		h, ok := o.handed[x.id]
		if !ok || h.seq != x.seq {
			continue // taken, or left again since
		}
		delete(o.handed, x.id)
		m := h.mark
		m.handed = true
		s.store.left.noteHanded(x.id, m)
		s.m.HandOversDropped.Inc()
		if o.handedDropped++; o.handedDropped&(o.handedDropped-1) != 0 {
			continue // logged at the 1st, 2nd, 4th, 8th ... (all counted)
		}
		s.log.Warn("too many files left by a stream for another to read on (hand-overs); the oldest is forgotten: the next stream to take it reads on from where it was left while the index of generations left knows it",
			"bound", maxHanded, "dropped", o.handedDropped, "dev", x.id[0], "ino", x.id[1], "file_offset", h.off, "left_by", h.from)
	}
	if len(o.handedOrder) > 2*len(o.handed)+64 {
		// Mostly stale: keep the live entries, in order.
		o.handedOrder = slices.DeleteFunc(o.handedOrder, func(x handedSlot) bool {
			h, ok := o.handed[x.id]
			return !ok || h.seq != x.seq
		})
	}
}

// owned reports whether a tailer of s reads file id, found at name, or walks to it
// (reserved, and the reservation holds the file at name: reservation.holds).
func (s *Set) owned(id [2]uint64, name string) bool {
	s.mu.Lock()
	_, ok := s.own.owners[id]
	s.mu.Unlock()
	if ok {
		return true
	}
	_, _, holds := s.reservedFor(nil, id, name)
	return holds
}

// waitedFor reports whether a tailer of s waits for the file dev, ino (yields it to its
// owner: its path names it).
func (s *Set) waitedFor(dev, ino uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.own.waiting[[2]uint64{dev, ino}]) > 0
}

// reserve reserves the files keys (identity and head) for t (ownership.reserved), those
// no other tailer owns or reserved.
func (s *Set) reserve(t *Tailer, keys []fileKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		id := [2]uint64{k.dev, k.ino}
		if _, held := s.own.owners[id]; held {
			continue
		}
		if _, held := s.own.reserved[id]; !held {
			s.own.reserved[id] = reservation{t: t, key: k}
		}
	}
}

// unreserve drops t's reservations, waking the tailers waiting for those files.
func (s *Set) unreserve(t *Tailer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.own.reserved {
		if r.t != t {
			continue
		}
		delete(s.own.reserved, id)
		for w := range s.own.waiting[id] {
			w.poke()
		}
	}
}

// wait records that t yields file id (0, 0: none) to its owner, instead of the file it
// yielded before.
func (s *Set) wait(t *Tailer, id [2]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := t.yielded; old != ([2]uint64{}) && old != id {
		delete(s.own.waiting[old], t)
		if len(s.own.waiting[old]) == 0 {
			delete(s.own.waiting, old)
		}
	}
	t.yielded = id
	if id != ([2]uint64{}) {
		if s.own.waiting[id] == nil {
			s.own.waiting[id] = map[*Tailer]bool{}
		}
		s.own.waiting[id][t] = true
	}
}

// forgetTailer drops every record of t (closed). A file it owned is handed over at the
// offset its stream shipped up to, to a tailer waiting for it (its match dropped, a hard
// link of the file stays followed).
func (s *Set) forgetTailer(t *Tailer) {
	s.wait(t, [2]uint64{})
	s.unreserve(t)
	s.mu.Lock()
	delete(s.own.takenOver, t)
	s.mu.Unlock()
	if id := t.owned; id != ([2]uint64{}) {
		h, hand := t.handOver()
		s.release(t, id, h, hand, true)
		t.owned = [2]uint64{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := absPath(t.path); s.own.paths[p] == t {
		delete(s.own.paths, p)
	}
}

// claimHolds reports whether the owner rec of file id can still be reading it: it holds
// the file open, or finds it under the name it took it under. Otherwise it may have
// followed a deleted file whose inode was reused for another file, and is not waited for.
func claimHolds(rec ownerRec, id [2]uint64) bool {
	if rec.reserved {
		return true // it has not reached the file yet
	}
	if rec.lingering {
		p := rec.t.openID.Load()
		return p != nil && *p == id
	}
	if p := rec.t.openID.Load(); p != nil && *p == id {
		return true
	}
	return namesFile(rec.name, id)
}

// ownedElsewhere returns the other tailer whose claim on file id, found at name, holds,
// if any: one that reads it, or walks to it (reserved, and the reservation holds the
// file at name: reservation.holds; "" when where it is is not known).
func (s *Set) ownedElsewhere(t *Tailer, id [2]uint64, name string) *Tailer {
	s.mu.Lock()
	rec, held := s.own.owners[id]
	s.mu.Unlock()
	if held {
		if rec.t != t && claimHolds(rec, id) {
			return rec.t
		}
		return nil
	}
	if r, _, holds := s.reservedFor(t, id, name); holds {
		return r.t
	}
	return nil
}

// pokeOwner wakes the tailer that reads file id, if any.
func (s *Set) pokeOwner(id [2]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.own.owners[id]; ok {
		rec.t.poke()
	} else if r, ok := s.own.reserved[id]; ok {
		r.t.poke()
	}
}

// poke wakes t's Next (a file it waits for was left by its owner).
func (t *Tailer) poke() {
	select {
	case t.handc <- struct{}{}:
	default:
	}
}

// handOver is where t leaves the file it owns, if it is the followed generation: the
// file offset its stream shipped up to (bytes read but not cut into chunks yet are read
// again by the next owner) and the file's identity and head.
func (t *Tailer) handOver() (handOver, bool) {
	if !t.g.has || [2]uint64{t.g.key.dev, t.g.key.ino} != t.owned || t.g.copyOf > 0 || t.g.nlink == 0 {
		return handOver{}, false // (a deleted file is named by no path: nobody takes it)
	}
	off := max(t.g.readOff-int64(t.c.w-t.c.r), 0)
	// The last bytes before off: those read, less the ones not cut into chunks yet
	// (read again by the next owner), or, if they are too few, read from the file.
	var tail []byte
	if k := int64(t.g.tailN) - int64(t.c.w-t.c.r); k > 0 {
		tail = t.g.tail[:k]
	}
	if n := min(off, int64(len(t.g.tail))); int64(len(tail)) < n && t.g.f != nil {
		b := make([]byte, n)
		if _, err := t.g.f.ReadAt(b, off-n); err == nil {
			tail = b
		}
	}
	m := leftGen{stream: t.stream, fpLen: t.g.key.fpLen, fp: t.g.key.fp, left: off, tailN: len(tail), tailFP: fingerprint(tail), ends: t.headEnds()}
	if m.fpLen == 0 {
		m.fp = fingerprint(nil) // (no head read: any file holds it)
	}
	if t.g.f != nil {
		m.born = bornOf(t.g.f) // (its inode number may be given to another file)
	}
	return handOver{off: off, key: t.g.key, mark: m}, true
}

// owns makes t the owner of its followed generation, if no other tailer owns it, and
// gives up the file it owned before. Generations reached by rotation (drained under a
// rotated name) are owned this way without yielding: the tailer follows its path's
// history.
func (t *Tailer) owns() {
	var id [2]uint64
	if t.g.has {
		id = [2]uint64{t.g.key.dev, t.g.key.ino}
	}
	if id == t.owned {
		return
	}
	t.disown(false)
	t.taken = handOver{off: -1}
	if id == ([2]uint64{}) {
		return
	}
	if _, h, ok := t.s.take(t, id, t.g.name, false); ok {
		t.owned, t.taken = id, h
	}
}

// disown gives up the file t owns; hand: a tailer waiting for it reads on from where t
// left it.
func (t *Tailer) disown(hand bool) {
	if t.owned == ([2]uint64{}) {
		return
	}
	h, ok := t.handOver()
	t.s.release(t, t.owned, h, hand && ok, false)
	t.owned = [2]uint64{}
}

// enterHanded enters the generation just set (setGen) at name where another stream left
// it (the hand-over owns took, Tailer.taken), if it still holds what was read there
// (handedFrom, as every hand-over is checked): a file another stream read, renamed to a
// rotated name of t's path (mv b.log a.log.1 while the shipper was down; b.log's stream
// drained it there from its checkpoint and left it), is not read again from its start.
// One that no longer holds it is entered at its start (handedFrom accounted for it). It
// reports whether it entered it.
func (t *Tailer) enterHanded(name string) bool {
	h := t.taken
	if h.off <= 0 || h.key.dev != t.g.key.dev || h.key.ino != t.g.key.ino {
		return false
	}
	if left, ok := t.sentLeft(h.key.dev, h.key.ino, t.headNow()); ok && left <= h.off {
		return false // read at the offsets it had, up to there
	}
	f, err := openName(name)
	if err != nil {
		return false
	}
	off := t.handedFrom(f, t.g.maxSize, h)
	f.Close()
	if off <= 0 {
		t.entered(0)
		return true
	}
	t.log.Info("the rotated generation is a file another source's stream left; reading on from where it left it", "file", name, "stream_path", h.from, "file_offset", off)
	t.enterAt(off, false)
	return true
}

// sentLeft returns, for the rotated generation dev/ino (its first bytes head) at the
// offset the walk from the checkpoint is at, where the run before left it, when t's own
// record of generations says that run sent it from its start at that offset and left
// it there, going on with others (leftPast): those bytes are t's, sent but not
// acknowledged, and are sent again at the offsets they had. A stream of another path
// that took the file on where t left it (a rotated name's stream, its start checkpoint
// naming the file at that offset) never reads below there: t does not yield them to it
// (yieldsGen), nor take its hand-over at the file's end for them (enterHanded). Taking
// the hand-over, t jumped past the offsets its record holds (every later generation
// sent again past them); yielding, it counted the bytes as destroyed.
func (t *Tailer) sentLeft(dev, ino uint64, head []byte) (int64, bool) {
	e, ok := t.gens.firstAt(dev, ino, t.c.off, head)
	if !ok || e.Dev != dev || e.Ino != ino || e.From != 0 || e.Base != t.c.off {
		return 0, false
	}
	return t.gens.leftPast(dev, ino, e.Base, e.Base, nil)
}

// yieldsGen reports whether the rotated generation id found at name is read by another
// stream of the Set, or reserved for it (its checkpoint names it: mv b.log a.log.1 while
// the shipper was down, both paths followed): not a generation of this path, not read
// twice; unless what t is to read of it (sentLeft) ends at or before the file offset
// that stream's checkpoint names it at.
func (t *Tailer) yieldsGen(name string, id [2]uint64) bool {
	o := t.s.ownedElsewhere(t, id, name)
	if o == nil {
		return false
	}
	cp := o.lastAck.Load()
	if cp == nil || cp.Dev != id[0] || cp.Ino != id[1] {
		return true
	}
	left, ok := t.sentLeft(id[0], id[1], readHead(name))
	return !ok || cp.FileOffset < left
}

// yields reports whether the file fi at the path is read by another stream of the Set:
// t leaves it to that stream (logged once per file) and waits for its path to name
// another file or for that stream to leave it. When it does not yield, t owns the file;
// h is where a stream that left it stopped reading it (off -1: t reads it as usual; to
// be checked against the file's head, handedAt).
func (t *Tailer) yields(fi fs.FileInfo) (yield bool, h handOver) {
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	other, h, ok := t.s.take(t, id, t.path, false)
	if !ok && !claimHolds(other, id) {
		other, h, ok = t.s.take(t, id, t.path, true)
	}
	if ok {
		if t.owned != id {
			t.disown(false)
			t.owned = id
		}
		if h.off < 0 {
			var later bool
			if h, later = t.s.checkpointed(t, id); later {
				// Another path's checkpoint names the file and the sources are still
				// being opened: that path's stream, if one of them resumes it, drains it
				// first from its checkpoint at its own offsets (after a crash, what it
				// sent and had not had acknowledged is sent again at the same offsets,
				// which collectors drop; on another stream they could not). Looked at
				// again at the first Next.
				t.s.release(t, id, handOver{}, false, false)
				t.owned = [2]uint64{}
				if t.yielded != id {
					t.s.wait(t, id)
					t.log.Info("the file at the path is the one another path's checkpoint names; not read before every source resumed its stream (that path's stream drains it first, if it is followed)",
						"checkpoint_of", t.s.checkpointOf(id))
				}
				return true, handOver{off: -1}
			}
		}
		t.s.wait(t, [2]uint64{})
		return false, h
	}
	if t.yielded != id {
		t.s.wait(t, id)
		t.s.m.FilesShared.Inc()
		t.log.Info("the file at the path is already read by another source's stream (a symlink, a hard link or another name of it); not read twice: this path waits until it names another file or that stream leaves it",
			"read_by", other.t.path)
	}
	return true, handOver{off: -1}
}

// checkpointed is where the stream of another path left file id by its checkpoint, when
// that checkpoint names the file and no tailer of the Set reads it (off -1: none): a file
// renamed to t's path while the shipper was down (mv a.log b.log, both followed), whose
// own stream is not followed now or did not find it. The file was left to t at the
// offset shipped, as a running tailer hands it over, not read again from its start.
//
// Before any source of the Set was read (later true), while no tailer follows that path,
// the file is not handed over: a source opened after t may resume that path's stream,
// which drains the file first (its checkpoint may lag what it sent before a crash).
func (s *Set) checkpointed(t *Tailer, id [2]uint64) (h handOver, later bool) {
	none := handOver{off: -1}
	rec, ok := s.store.followed.holding(id[0], id[1])
	if !ok || rec.Path == t.path || rec.Stream == t.stream {
		return none, false // (t's own stream, continued at its path: Glob.continueAt)
	}
	cp, found, err := s.store.Load(rec.Path)
	if err != nil || !found || !cp.HasFile() || [2]uint64{cp.Dev, cp.Ino} != id {
		return none, false
	}
	if !s.reading.Load() && !s.FollowsPath(rec.Path) {
		return none, true
	}
	if cp.FileOffset <= 0 {
		return none, false
	}
	t.log.Info("the file at the path is the one another path's checkpoint names (renamed to this path while the shipper was down); read on from where that stream left it, if it still holds what was read there",
		"checkpoint_of", rec.Path, "file_offset", cp.FileOffset)
	return handOver{off: cp.FileOffset, key: fileKey{cp.Dev, cp.Ino, cp.FPLen, cp.FP}, from: rec.Path, cp: &cp,
		mark: leftGen{fpLen: cp.FPLen, fp: cp.FP, left: cp.FileOffset, born: cp.Born}}, false
}

// checkpointOf returns the path whose checkpoint names file id ("" if none).
func (s *Set) checkpointOf(id [2]uint64) string {
	rec, _ := s.store.followed.holding(id[0], id[1])
	return rec.Path
}

// stillYields reports, cheaply (no descriptor), whether the path still names the file t
// yielded to another stream whose claim holds. That stream is woken: t was woken by an
// event at its own path, which may be a write through it (a hard link, a symlink in
// another directory) that the owner's watch does not see.
func (t *Tailer) stillYields() bool {
	if t.yielded == ([2]uint64{}) {
		return false
	}
	fi, err := os.Stat(t.path)
	if err != nil {
		return false
	}
	if dev, ino, _ := fileID(fi); [2]uint64{dev, ino} != t.yielded {
		return false
	}
	o := t.s.ownedElsewhere(t, t.yielded, t.path)
	if o != nil {
		o.poke()
	}
	return o != nil
}

// namesFile reports whether path names the file id now.
func namesFile(path string, id [2]uint64) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	dev, ino, _ := fileID(fi)
	return id == [2]uint64{dev, ino}
}

// handedAt returns the offset at which to read on the file f (size size) that a stream
// left at h, or 0 when f does not hold what was read there (leftGen.heldIn): another file
// given the same inode, truncated under h's offset since, or truncated and written again
// in place with the same head (the last bytes read are not before h's offset).
func handedAt(f *os.File, size int64, h handOver) int64 {
	if h.off <= 0 {
		return 0
	}
	if h.cp != nil {
		if h.mark.bornElse(f) || !h.cp.heldIn(f, size) {
			return 0
		}
		return h.off
	}
	if _, ok := h.mark.heldIn(f, size); !ok {
		// Shrunk below it since (truncate -s N), still starting with lines read: read
		// on from the end of the last of them (leftGen.keptIn), as the stream that
		// left it would, and as a file a stream left is found again elsewhere (readTo).
		if size >= h.off {
			return 0 // truncated and written again past it (handedChanged)
		}
		k, _ := h.mark.keptIn(f, size)
		return k
	}
	return h.off
}

// handedFrom is handedAt for the file f (size bytes) t takes, handed over at h: when f
// no longer holds what was read there, it is accounted for (handedChanged) and read
// from its start (0). Every path that takes a handed-over file goes through it.
func (t *Tailer) handedFrom(f *os.File, size int64, h handOver) int64 {
	if h.off <= 0 {
		return 0
	}
	off := handedAt(f, size, h)
	if off <= 0 {
		t.handedChanged(f, size, h)
	}
	return off
}

// handedChanged accounts for the file f (size bytes), handed over at h, read from its
// start because it no longer holds what was read there (handedAt). Still starting with
// the head read, it was truncated and written again in place (the same banner) or shrunk:
// which of its bytes were shipped cannot be told, so it is read again from its start as
// any such file is (rereadLog: counted, logged; up to h's offset may arrive twice).
// Otherwise it is another content, or another file given its inode (born since, whatever
// it holds: bornElse): read as a new file.
func (t *Tailer) handedChanged(f io.ReaderAt, size int64, h handOver) {
	if h.mark.fpLen > 0 && size >= int64(h.mark.fpLen) && !h.mark.bornElse(f) {
		head := make([]byte, h.mark.fpLen)
		if _, err := f.ReadAt(head, 0); err == nil && fingerprint(head) == h.mark.fp {
			t.rereadLog("handed over by another source's stream, it no longer holds the last bytes read before the offset left (truncated and written again in place with the same head)",
				size, h.off, min(size, h.off))
			return
		}
	}
	if h.mark.bornElse(f) {
		t.log.Info("the file another source's stream left was deleted and its inode number given to a new file (born since); the new file is read from its start",
			"left_at", h.off, "size", size)
		return
	}
	t.log.Info("the file another source's stream left does not start as it did (another file given its inode, or truncated and written again); read from its start",
		"left_at", h.off, "size", size)
}

// takenAt returns the offset at which to read on the file t.taken names, not opened yet
// (the file a Glob listed at the path, rotated before the tailer was opened; found by
// identity under any name of the directory), that another stream left at h: h's offset
// if it still holds what was read there, 0 when it does not (accounted for: handedFrom;
// it is read from its start), or -1 when it cannot be looked at now (no
// name of the directory holds it, or it cannot be opened): the generation is then
// entered as it is found (reattach), at h's offset if it is no shorter.
func (t *Tailer) takenAt(h handOver) int64 {
	id := [2]uint64{h.key.dev, h.key.ino}
	name := filesByID(t.dir)[id]
	if name == "" {
		return -1
	}
	f, fi, err := openStat(name)
	if err != nil || f == nil {
		return -1
	}
	defer f.Close()
	if dev, ino, _ := fileID(fi); [2]uint64{dev, ino} != id {
		return -1 // (renamed since it was listed)
	}
	return t.handedFrom(f, fi.Size(), h)
}

// continueHanded positions the generation just entered at path (open, at its start) at
// where the stream that read it before left it, if that is where it stands.
func (t *Tailer) continueHanded(h handOver) bool {
	if h.off <= 0 || t.g.f == nil {
		return false
	}
	off := t.handedFrom(t.g.f, t.g.maxSize, h)
	if off <= 0 {
		return false
	}
	if _, err := t.g.f.Seek(off, io.SeekStart); err != nil {
		t.fail(err)
		t.detach()
		return true
	}
	t.log.Info("reading on a file another source's stream left (its path names another file now, or its match was dropped)", "file_offset", off)
	t.g.readOff, t.g.from = off, uint64(off)
	t.g.blind = false
	t.entered(off)
	return true
}

// ownedBy returns the tailer that reads file id, nil if none.
func (s *Set) ownedBy(id [2]uint64) *Tailer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own.owners[id].t
}

// linger makes t's claim on file id (found under name, left and handed over) a lingering
// one (ownerRec.lingering); it reports false when another tailer owns or reserved it.
func (s *Set) linger(t *Tailer, id [2]uint64, name string) bool {
	seen, _, holds := s.reservedFor(t, id, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, held := s.own.owners[id]; held && o.t != t {
		return false
	}
	if r, held := s.own.reserved[id]; held && r.t != t && (r != seen || holds) {
		return false
	}
	s.own.owners[id] = ownerRec{t: t, name: name, lingering: true}
	return true
}
