package source

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
//     switched away, it drained it as a rotated generation) hands it over at the offset
//     it read up to; the waiting tailer reads on from there, never from the start.
//
// Each path keeps its own stream id and checkpoint across restarts and reloads: which
// path owns a shared file is decided again by the order sources are opened (the order
// of ship's arguments, a glob's matches in lexical order).

// ownership is what the Set knows of the files its tailers follow; guarded by Set.mu.
type ownership struct {
	owners  map[[2]uint64]*Tailer // file -> the tailer reading it
	waiting map[[2]uint64]int     // file -> tailers that yielded it to its owner
	handed  map[[2]uint64]int64   // file -> where its owner left it, for a waiting tailer
	paths   map[string]*Tailer    // absolute clean path -> the tailer following it
}

func newOwnership() ownership {
	return ownership{owners: map[[2]uint64]*Tailer{}, waiting: map[[2]uint64]int{},
		handed: map[[2]uint64]int64{}, paths: map[string]*Tailer{}}
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

// take makes t the owner of file id unless another tailer owns it (returned). handed is
// where a previous owner left the file for a waiting tailer (-1: nowhere).
func (s *Set) take(t *Tailer, id [2]uint64, force bool) (other *Tailer, handed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.own.owners[id]; o != nil && o != t && !force {
		return o, -1
	}
	s.own.owners[id] = t
	handed = -1
	if off, ok := s.own.handed[id]; ok {
		handed = off
		delete(s.own.handed, id)
	}
	return nil, handed
}

// release gives up t's ownership of file id; if a tailer waits for it and hand is true,
// the file is handed over at file offset off.
func (s *Set) release(t *Tailer, id [2]uint64, off int64, hand bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own.owners[id] != t {
		return
	}
	delete(s.own.owners, id)
	if hand && s.own.waiting[id] > 0 {
		s.own.handed[id] = off
	}
}

// wait records that t yields file id (0, 0: none) to its owner, instead of the file it
// yielded before.
func (s *Set) wait(t *Tailer, id [2]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := t.yielded; old != ([2]uint64{}) {
		if s.own.waiting[old]--; s.own.waiting[old] <= 0 {
			delete(s.own.waiting, old)
			if s.own.owners[old] == nil {
				delete(s.own.handed, old)
			}
		}
	}
	t.yielded = id
	if id != ([2]uint64{}) {
		s.own.waiting[id]++
	}
}

// forgetTailer drops every record of t (closed).
func (s *Set) forgetTailer(t *Tailer) {
	s.wait(t, [2]uint64{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := t.owned; s.own.owners[id] == t {
		delete(s.own.owners, id)
	}
	if p := absPath(t.path); s.own.paths[p] == t {
		delete(s.own.paths, p)
	}
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
	if id == ([2]uint64{}) {
		return
	}
	if other, _ := t.s.take(t, id, false); other == nil {
		t.owned = id
	}
}

// disown gives up the file t owns; hand: a tailer waiting for it reads on from where t
// left it.
func (t *Tailer) disown(hand bool) {
	if t.owned == ([2]uint64{}) {
		return
	}
	t.s.release(t, t.owned, t.g.readOff, hand)
	t.owned = [2]uint64{}
}

// yields reports whether the file fi at the path is read by another stream of the Set:
// t leaves it to that stream (logged once per file) and waits for its path to name
// another file. When it does not yield, t owns the file; handed is where a stream that
// left it stopped reading it (-1: t reads it as usual).
func (t *Tailer) yields(fi fs.FileInfo) (yield bool, handed int64) {
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	other, handed := t.s.take(t, id, false)
	if other != nil && !other.holding.Load() && !namesFile(other.path, id) {
		// The owner neither holds its file open nor names it at its path: it may have
		// followed a deleted file whose inode was reused for this one.
		other, handed = t.s.take(t, id, true)
	}
	if other == nil {
		if t.owned != id {
			t.disown(false)
			t.owned = id
		}
		t.s.wait(t, [2]uint64{})
		return false, handed
	}
	if t.yielded != id {
		t.s.wait(t, id)
		t.s.m.FilesShared.Inc()
		t.log.Info("the file at the path is already read by another source's stream (a symlink, a hard link or another name of it); not read twice: this path waits until it names another file",
			"read_by", other.path)
	}
	return true, -1
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

// continueHanded positions the generation just entered at path (open, at its start) at
// off, where the stream that read it before left it.
func (t *Tailer) continueHanded(off int64) bool {
	if off <= 0 || t.g.f == nil {
		return false
	}
	if _, err := t.g.f.Seek(off, io.SeekStart); err != nil {
		t.fail(err)
		t.detach()
		return true
	}
	t.log.Info("reading on a file another source's stream left (its path names another file now)", "file_offset", off)
	t.g.readOff, t.g.from = off, uint64(off)
	t.g.blind = false
	t.entered(off)
	return true
}
