package source

import (
	"os"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// A looker looks at the paths of tailers whose reader is not inside Next (the sender's
// window is full, no collector is present, the pump waits for its turn): a tailer only
// runs inside Next, so without it a tailer behind across rotations would not see the
// generations it has not read yet until its turn, and one deleted meanwhile would be lost
// without a count. On each event that may be a rotation (a name of the tailer created,
// removed or renamed) and on each Waker tick (the backstop), the looker runs the tailer's
// look (Tailer.look, ahead.go): newer generations are held open within the descriptor
// bound and every creation of the path is accounted for.
//
// A write to the path of a tailer the looker has (its reader held) asks for a look too,
// at most one per writeLookEvery (writes coalesced; the first after a quiet time at
// once: copytruncate's copy may be removed within milliseconds of the truncation, by
// logrotate's compress without delaycompress, or by a second rotation): the look tells a truncation of the
// followed file (copytruncate) and holds the copy of what was not read yet
// (watchTruncation), which a rotate count may delete before the reader comes back.
//
// It owns one goroutine, stopped by stop. A tailer inside Next (reading, or waiting for
// data, with its own wake-ups) is skipped: Next looks itself, and a look asked for while
// it runs is asked again when it returns (Tailer.nextDone).
type looker struct {
	waker Waker
	c     chan struct{} // capacity 1: a look was asked for
	cw    chan struct{} // capacity 1: a look was asked for by a write
	quit  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex // Guards the fields below.
	tailers map[*Tailer]struct{}
	wanted  map[*Tailer]struct{}
	written map[*Tailer]uint64 // -> its Next calls when the first write came
}

// writeLookEvery is the least time between two looks asked for by writes: a held tailer
// of a busy file is looked at (a stat, and its head read when it grew) up to 20 times a
// second, not on every write; a tailer whose Next was called since the write is not (its
// reader is not held: Next tells a truncation itself).
const writeLookEvery = 50 * time.Millisecond

func newLooker(w Waker) *looker {
	l := &looker{waker: w, c: make(chan struct{}, 1), cw: make(chan struct{}, 1), quit: make(chan struct{}),
		tailers: map[*Tailer]struct{}{}, wanted: map[*Tailer]struct{}{}, written: map[*Tailer]uint64{}}
	l.wg.Go(l.run)
	return l
}

func (l *looker) run() {
	var writeLook <-chan time.Time // armed while looks asked for by writes wait
	var last time.Time             // of the last looks asked for by writes
	for {
		tick := wakeQuiet(l.waker)
		select {
		case <-l.quit:
			return
		case <-l.c:
			for _, t := range l.take(false) {
				t.lookFor()
			}
		case <-tick:
			for _, t := range l.take(true) {
				t.lookFor()
			}
		case <-l.cw:
			if writeLook == nil {
				writeLook = time.After(time.Until(last.Add(writeLookEvery)))
			}
		case <-writeLook:
			writeLook, last = nil, time.Now()
			for _, t := range l.takeWritten() {
				t.lookFor()
			}
		}
	}
}

// takeWritten returns the tailers whose path was written since the last call and whose
// Next was not called since, and clears them.
func (l *looker) takeWritten() []*Tailer {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := make([]*Tailer, 0, len(l.written))
	for t, n := range l.written {
		if t.nexts.Load() == n {
			ts = append(ts, t)
		}
	}
	clear(l.written)
	return ts
}

// wantWritten asks for a look at t, whose path was written, within writeLookEvery. It
// never blocks (called from the Watcher's goroutine).
func (l *looker) wantWritten(t *Tailer) {
	l.mu.Lock()
	_, ok := l.tailers[t]
	if _, asked := l.written[t]; ok && !asked {
		l.written[t] = t.nexts.Load()
	}
	l.mu.Unlock()
	if !ok {
		return
	}
	select {
	case l.cw <- struct{}{}:
	default:
	}
}

// take returns the tailers asked for, or with all every tailer, and clears the asks.
func (l *looker) take(all bool) []*Tailer {
	l.mu.Lock()
	defer l.mu.Unlock()
	src := l.wanted
	if all {
		src = l.tailers
	}
	ts := make([]*Tailer, 0, len(src))
	for t := range src {
		ts = append(ts, t)
	}
	clear(l.wanted)
	return ts
}

// add registers t (a tailer that follows rotations).
func (l *looker) add(t *Tailer) {
	l.mu.Lock()
	l.tailers[t] = struct{}{}
	l.mu.Unlock()
}

// remove forgets t (closing).
func (l *looker) remove(t *Tailer) {
	l.mu.Lock()
	delete(l.tailers, t)
	delete(l.wanted, t)
	delete(l.written, t)
	l.mu.Unlock()
}

// want asks for a look at t. It never blocks (called from the Watcher's goroutine).
func (l *looker) want(t *Tailer) {
	l.mu.Lock()
	if _, ok := l.tailers[t]; ok {
		l.wanted[t] = struct{}{}
	}
	l.mu.Unlock()
	select {
	case l.c <- struct{}{}:
	default:
	}
}

// stop stops the goroutine and waits for it.
func (l *looker) stop() {
	l.once.Do(func() { close(l.quit) })
	l.wg.Wait()
}

// watchLooks makes the events of the tailer's subscription that may be rotations (a
// creation, removal or renaming of its name or of a rotated name of it) ask the looker
// for a look, and counts the creations of its name (files created at, or renamed to, the
// path: each a generation that look must find, or count as missed).
func (t *Tailer) watchLooks() {
	// Rotated files modified before the tailer began are older generations, not ones
	// created since (a margin for the file system's coarse clock).
	t.openedAt = time.Now().Add(-10 * time.Millisecond)
	t.rescansSeen = t.sub.rescanCount()
	// The file at the path now is no creation to come.
	if pi, err := os.Stat(t.path); err == nil {
		t.olderThan(pi.ModTime())
		dev, ino, _ := fileID(pi)
		t.known = map[[2]uint64]seenFile{{dev, ino}: {atPath: true, size: pi.Size(), early: true}}
		t.knownOrder = [][2]uint64{{dev, ino}}
	}
	t.sub.onEvent(func(name string, op fsnotify.Op) {
		if !op.Has(fsnotify.Create) && !op.Has(fsnotify.Remove) && !op.Has(fsnotify.Rename) {
			if op.Has(fsnotify.Write) && name == t.base {
				t.s.looker.wantWritten(t)
			}
			return
		}
		if name == t.base {
			// A directory (or a FIFO, a device) made at the path is no generation of
			// the file: it is never read, so it is not owed (nor, gone again, missed).
			if op.Has(fsnotify.Create) && !isIrregular(t.path) {
				t.creates.Add(1)
				t.links.noteTarget(t.path) // (a symlinked path: links.go)
			}
		} else if !isRotatedName(t.s.rotLive, t.base, name) {
			return
		}
		t.lookWanted.Store(true)
		t.s.looker.want(t)
	})
}

// isIrregular reports whether name is there now and not a regular file.
func isIrregular(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && !fi.Mode().IsRegular()
}

// olderThan notes that rotated files modified before mtime (a file time: of the file at
// the path when the tailer begins, or of the checkpointed file when last looked at) are
// older generations too: a file system clock ahead of this host's (NFS, a skewed VM, a
// touched file) makes an old generation look modified after openedAt, and a look that
// had counted a creation of the path took it for a new one, held it ahead and drained it
// whole (its lines twice). Compared in file time, no listing is needed at each start.
func (t *Tailer) olderThan(mtime time.Time) {
	if mtime.After(t.openedAt) {
		t.openedAt = mtime
	}
}

// lookFor runs a look for the looker, unless Next runs (it looks itself) or t is closed.
func (t *Tailer) lookFor() {
	if !t.mu.TryLock() {
		return
	}
	defer t.mu.Unlock()
	if t.closed || t.toEnd {
		return
	}
	t.look(true)
	t.watchTruncation()
}

// nextDone ends a Next: the tailer is the looker's from its first Next on (its reader
// may stop calling Next: it may fall behind), and a look asked for while Next ran (and
// not done by it) is asked again of the looker.
func (t *Tailer) nextDone() {
	t.publish()
	first := !t.looked && !t.closed && !t.toEnd
	t.looked = true
	if first {
		t.s.looker.add(t)
	}
	t.unlockLooks()
}

// unlockLooks unlocks t.mu, asking the looker again for a look asked for while it was
// held (the looker skips a tailer whose lock is held).
func (t *Tailer) unlockLooks() {
	closed := t.closed
	t.mu.Unlock()
	if t.lookWanted.Load() && !closed {
		t.s.looker.want(t)
	}
}
