package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// A Watcher shares one fsnotify watcher among many sources. It watches parent directories
// (one watch per directory, however many subscribers) and wakes the subscribers whose names
// an event concerns; on fsnotify.ErrEventOverflow it wakes everyone, so that they rescan.
//
// A directory that does not exist yet, or that is deleted (or renamed away) while watched,
// is waited for: its nearest existing ancestor is watched instead, and once the directory
// (re)appears it is watched again and its subscribers are woken, so that events, not the
// poll backstop, move lines again.
//
// Its methods are safe for concurrent use. It owns one goroutine, stopped by Close.
type Watcher struct {
	log *slog.Logger
	fsw *fsnotify.Watcher
	wg  sync.WaitGroup

	mu   sync.Mutex // Guards the fields below.
	dirs map[string]*watchedDir
	refs map[string]int // fsnotify watches held, by path: for subscribers, or as an anchor
	done bool
}

// watchedDir is one subscribed directory.
type watchedDir struct {
	path   string
	subs   map[*Subscription]struct{}
	anchor string // "" while path itself is watched; else the ancestor watched until it appears
}

// A Subscription receives the wake-ups of one name, or of a whole directory.
type Subscription struct {
	w     *Watcher
	dir   string
	match func(name string) bool
	all   atomic.Bool // wake on any name in the directory
	c     chan struct{}
}

// C returns the channel that receives a value (coalesced, capacity 1) after events.
func (s *Subscription) C() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.c
}

// SetAll makes the subscription wake on every event of its directory (a tailer draining a
// file that was renamed away), or only on its own names again.
func (s *Subscription) SetAll(all bool) {
	if s != nil {
		s.all.Store(all)
	}
}

func (s *Subscription) notify() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Cancel ends the subscription and drops the directory watch when it was the last.
func (s *Subscription) Cancel() {
	if s == nil {
		return
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	wd := w.dirs[s.dir]
	if wd == nil {
		return
	}
	if _, ok := wd.subs[s]; !ok {
		return
	}
	delete(wd.subs, s)
	if len(wd.subs) == 0 {
		delete(w.dirs, s.dir)
		if w.done {
			return
		}
		if wd.anchor != "" {
			w.unref(wd.anchor)
		} else {
			w.unref(wd.path)
		}
	}
}

// NewWatcher starts a Watcher.
func NewWatcher(log *slog.Logger) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start fsnotify: %w", err)
	}
	w := &Watcher{log: log, fsw: fsw, dirs: map[string]*watchedDir{}, refs: map[string]int{}}
	w.wg.Go(w.run)
	return w, nil
}

// Subscribe wakes the returned subscription on events for the names in dir that match
// accepts. A directory that does not exist yet is watched for as described on Watcher.
func (w *Watcher) Subscribe(dir string, match func(name string) bool) (*Subscription, error) {
	dir = absClean(dir)
	s := &Subscription{w: w, dir: dir, match: match, c: make(chan struct{}, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, ErrClosed
	}
	wd := w.dirs[dir]
	if wd == nil {
		wd = &watchedDir{path: dir, subs: map[*Subscription]struct{}{}}
		w.dirs[dir] = wd
		w.establish(wd)
	}
	wd.subs[s] = struct{}{}
	return s, nil
}

// Watching reports whether dir itself is watched now (false while it is missing and an
// ancestor is watched instead). For tests and logs.
func (w *Watcher) Watching(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd := w.dirs[absClean(dir)]
	return wd != nil && wd.anchor == ""
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// ref adds an fsnotify watch of path, or counts one more use of it. w.mu is held.
func (w *Watcher) ref(path string) error {
	if w.refs[path] == 0 {
		if err := w.fsw.Add(path); err != nil {
			return err
		}
	}
	w.refs[path]++
	return nil
}

// unref drops one use of the watch of path. w.mu is held.
func (w *Watcher) unref(path string) {
	if w.refs[path] <= 0 {
		return
	}
	if w.refs[path]--; w.refs[path] == 0 {
		delete(w.refs, path)
		w.fsw.Remove(path) // the directory may be gone already
	}
}

// establish watches wd.path, or, while it cannot be watched, its nearest existing
// ancestor. It reports whether wd.path itself is watched. w.mu is held.
func (w *Watcher) establish(wd *watchedDir) bool {
	for range 8 { // a directory that appears and vanishes while we look: give up after a few rounds
		if wd.anchor == "" && w.refs[wd.path] > 0 {
			return true
		}
		if err := w.ref(wd.path); err == nil {
			if wd.anchor != "" {
				w.unref(wd.anchor)
				wd.anchor = ""
				w.log.Info("watching directory again", "dir", wd.path)
			}
			return true
		}
		old := wd.anchor
		anchored := false
		for a := filepath.Dir(wd.path); ; a = filepath.Dir(a) {
			if a == old {
				anchored = true
				break
			}
			if w.ref(a) == nil {
				if old != "" {
					w.unref(old)
				} else {
					w.log.Info("directory missing; watching its parent for it to appear", "dir", wd.path, "watching", a)
				}
				wd.anchor = a
				anchored = true
				break
			}
			if filepath.Dir(a) == a {
				break
			}
		}
		if !anchored {
			return false
		}
		// The directory may have appeared between the failed watch and the anchor's.
		if fi, err := os.Stat(wd.path); err != nil || !fi.IsDir() {
			return false
		}
	}
	return false
}

// gone handles the watch of path lost (the directory was deleted or renamed away): every
// directory that used it is watched for again. w.mu is held.
func (w *Watcher) gone(path string) {
	if w.refs[path] == 0 {
		return
	}
	delete(w.refs, path)
	w.fsw.Remove(path)
	for _, wd := range w.dirs {
		switch {
		case wd.anchor == "" && wd.path == path:
			w.log.Info("watched directory went away; waiting for it to come back", "dir", path)
			for s := range wd.subs {
				s.notify()
			}
			wd.anchor = ""
			w.establish(wd)
		case wd.anchor == path:
			wd.anchor = ""
			w.establish(wd)
		}
	}
}

// revisit retries the missing directories anchored at dir after an event in it, and
// wakes the subscribers of those that appeared. w.mu is held.
func (w *Watcher) revisit(dir string) {
	for _, wd := range w.dirs {
		if wd.anchor != dir {
			continue
		}
		if w.establish(wd) {
			for s := range wd.subs {
				s.notify()
			}
		}
	}
}

func (w *Watcher) run() {
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			dir, name := filepath.Split(ev.Name)
			dir = filepath.Clean(dir)
			w.mu.Lock()
			if wd := w.dirs[dir]; wd != nil && wd.anchor == "" {
				for s := range wd.subs {
					if s.all.Load() || s.match(name) {
						s.notify()
					}
				}
			}
			self := filepath.Clean(ev.Name)
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				// A watched directory (or an anchor) itself went away.
				w.gone(self)
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
				w.revisit(dir)
			}
			w.mu.Unlock()
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("fsnotify queue overflow, rescanning all sources")
			} else {
				w.log.Warn("fsnotify error", "err", err)
			}
			w.mu.Lock()
			for _, wd := range w.dirs {
				w.establish(wd)
				for s := range wd.subs {
					s.notify()
				}
			}
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
	return err
}
