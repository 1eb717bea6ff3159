package source

import (
	"io/fs"
	"os"
	"slices"
	"time"
)

// maxAhead is how many newer generations a tailer keeps track of while it drains an older
// one.
const maxAhead = 8

// An aheadFile is a newer generation the tailer saw at its path while it was draining an
// older one (behind, held or paused across a rotation). It is held open, within the
// descriptor bound, so that a file deleted before the tailer gets to it (a writer still
// appending to it) is still read in its turn. Without a free descriptor slot only its size
// is known: if it is deleted before the tailer gets to it, that many bytes are counted
// and logged as lost (at least: what was written to it after the last look is unknown).
type aheadFile struct {
	f        *os.File // nil: no descriptor slot was free when it was seen
	dev, ino uint64
	size     int64 // largest size seen
	mtime    time.Time
}

// lookAhead runs whenever the tailer is asked for a chunk, and at the end of a file the
// path no longer names: the file at the path, if it is another one than the followed
// generation, is a newer generation, held open from now on.
func (t *Tailer) lookAhead() {
	pi, err := os.Stat(t.path)
	if err != nil || !pi.Mode().IsRegular() {
		return
	}
	dev, ino, _ := fileID(pi)
	if dev == t.g.key.dev && ino == t.g.key.ino {
		return
	}
	if t.live != nil {
		if li, err := t.live.Stat(); err == nil {
			if ldev, lino, _ := fileID(li); ldev == dev && lino == ino {
				return // the live file whose copy is drained: read next anyway
			}
		}
	}
	i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
	if i < 0 {
		if len(t.ahead) >= maxAhead || t.isDone(t.path, dev, ino) {
			return
		}
		t.ahead = append(t.ahead, aheadFile{dev: dev, ino: ino})
		i = len(t.ahead) - 1
	}
	a := &t.ahead[i]
	a.size, a.mtime = max(a.size, pi.Size()), pi.ModTime()
	if a.f != nil || !t.s.fds.tryAcquire() {
		return
	}
	f, fi, err := openStat(t.path)
	if err == nil && f != nil {
		if fdev, fino, _ := fileID(fi); fdev == dev && fino == ino {
			a.f = f
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
	i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
	if i < 0 {
		return nil
	}
	f := t.ahead[i].f
	t.ahead = slices.Delete(t.ahead, i, i+1)
	return f // still counted open
}

// useAhead gives the followed generation, just found by name and not open yet, the
// descriptor held since it was seen ahead, if any.
func (t *Tailer) useAhead() {
	if t.g.f != nil {
		return
	}
	if f := t.takeAhead(t.g.key.dev, t.g.key.ino); f != nil {
		if err := t.attachCounted(f); err != nil {
			t.fail(err)
			t.detach()
		}
	}
}

// closeAhead closes the descriptor of ahead entry i and removes it.
func (t *Tailer) closeAhead(i int) {
	if f := t.ahead[i].f; f != nil {
		f.Close()
		t.s.fds.release()
		t.s.m.FilesOpen.Dec()
	}
	t.ahead = slices.Delete(t.ahead, i, i+1)
}

// dropAhead forgets every generation seen ahead.
func (t *Tailer) dropAhead() {
	for len(t.ahead) > 0 {
		t.closeAhead(len(t.ahead) - 1)
	}
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
				a.f.Close()
				a.f = nil
				t.s.fds.release()
				t.s.m.FilesOpen.Dec()
			}
		}
	}
}

// aheadGone looks at the generations seen ahead once the followed one is left: those
// that are still linked are found again by name (at the path or rotated); a deleted one
// held open is returned (the oldest by modification time, index and FileInfo), to be
// drained in its turn; a deleted one without a descriptor is counted and logged as lost
// with the size it was seen to have.
func (t *Tailer) aheadGone() (int, fs.FileInfo) {
	best, bestFi := -1, fs.FileInfo(nil)
	for i := 0; i < len(t.ahead); i++ {
		a := &t.ahead[i]
		if a.f != nil {
			fi, err := a.f.Stat()
			if err != nil {
				continue
			}
			if _, _, nlink := fileID(fi); nlink == 0 && fi.Size() > 0 {
				if best < 0 || fi.ModTime().Before(bestFi.ModTime()) {
					best, bestFi = i, fi
				}
			}
			continue
		}
		if t.linked(a.dev, a.ino) {
			continue
		}
		if a.size > 0 {
			t.lose(a.size, "a newer file was deleted before the tailer could open it (no descriptor slot free); bytes written to it after it was last seen are not known")
		}
		t.closeAhead(i)
		i--
	}
	return best, bestFi
}

// aheadHasData reports whether a newer generation seen ahead has data: the writer moved
// on from the followed one (even if that newer file was deleted since).
func (t *Tailer) aheadHasData() bool {
	for _, a := range t.ahead {
		if a.f == nil {
			if a.size > 0 {
				return true
			}
			continue
		}
		if fi, err := a.f.Stat(); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
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

// toAhead makes the deleted generation seen ahead, entry i (seen as fi), the followed
// one, from its start.
func (t *Tailer) toAhead(i int, fi fs.FileInfo) {
	a := t.ahead[i]
	f := t.takeAhead(a.dev, a.ino)
	t.log.Info("draining a newer file deleted before the tailer got to it (held open since it was seen)", "size", fi.Size())
	t.s.m.GenerationsFound.Inc()
	t.setGen(t.path, fi, false)
	if err := t.attachCounted(f); err != nil {
		t.fail(err)
		t.detach()
	}
	t.entered(0)
}
