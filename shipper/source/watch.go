package source

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// A Watcher shares one fsnotify watcher among many sources. It watches parent directories
// (one watch per directory, however many subscribers) and wakes the subscribers whose names
// an event concerns; on fsnotify.ErrEventOverflow it wakes everyone, so that they rescan.
// Its methods are safe for concurrent use. It owns one goroutine, stopped by Close.
type Watcher struct {
	log *slog.Logger
	fsw *fsnotify.Watcher
	wg  sync.WaitGroup

	mu   sync.Mutex // Guards the fields below.
	dirs map[string]map[*Subscription]struct{}
	done bool
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
	subs := w.dirs[s.dir]
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(w.dirs, s.dir)
		if !w.done {
			w.fsw.Remove(s.dir) // the directory may be gone already
		}
	}
}

// NewWatcher starts a Watcher.
func NewWatcher(log *slog.Logger) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start fsnotify: %w", err)
	}
	w := &Watcher{log: log, fsw: fsw, dirs: map[string]map[*Subscription]struct{}{}}
	w.wg.Go(w.run)
	return w, nil
}

// Subscribe wakes the returned subscription on events for the names in dir that match
// accepts. A directory that cannot be watched (it does not exist yet) is an error; the
// caller then relies on its Waker.
func (w *Watcher) Subscribe(dir string, match func(name string) bool) (*Subscription, error) {
	dir = filepath.Clean(dir)
	s := &Subscription{w: w, dir: dir, match: match, c: make(chan struct{}, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, ErrClosed
	}
	subs := w.dirs[dir]
	if subs == nil {
		if err := w.fsw.Add(dir); err != nil {
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
		subs = map[*Subscription]struct{}{}
		w.dirs[dir] = subs
	}
	subs[s] = struct{}{}
	return s, nil
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
			for s := range w.dirs[dir] {
				if s.all.Load() || s.match(name) {
					s.notify()
				}
			}
			// The watched directory itself went away: wake its subscribers to notice.
			for s := range w.dirs[filepath.Clean(ev.Name)] {
				s.notify()
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
			for _, subs := range w.dirs {
				for s := range subs {
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
