package source

import (
	"sync"
	"time"
)

// A Waker tells idle sources when to look at their files again: the backstop behind
// filesystem events. Its methods are safe for concurrent use.
type Waker interface {
	// Wake returns a channel that is closed at the next wake-up.
	Wake() <-chan struct{}
}

// broadcast closes one channel per wake-up and hands out its successor.
type broadcast struct {
	mu    sync.Mutex // Guards the fields below.
	ch    chan struct{}
	waits int
	slept chan struct{} // signalled (coalesced) at every wait; nil unless asked for
}

func (b *broadcast) wake() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	b.waits++
	if b.slept != nil {
		select {
		case b.slept <- struct{}{}:
		default:
		}
	}
	return b.ch
}

// quiet is wake for a watcher that is not a source going to sleep (not counted in
// waits, not signalled on slept).
func (b *broadcast) quiet() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// A quietWaker tells its wake-ups to a looker without counting it as a source asleep.
type quietWaker interface {
	wakeQuiet() <-chan struct{}
}

// wakeQuiet returns w's next wake-up, without counting a source asleep when w can.
func wakeQuiet(w Waker) <-chan struct{} {
	if q, ok := w.(quietWaker); ok {
		return q.wakeQuiet()
	}
	return w.Wake()
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// ManualWaker is a Waker driven by its Tick method, for tests.
type ManualWaker struct {
	b broadcast
}

// NewManualWaker returns a ManualWaker.
func NewManualWaker() *ManualWaker { return &ManualWaker{} }

// Wake implements Waker.
func (w *ManualWaker) Wake() <-chan struct{} { return w.b.wake() }

func (w *ManualWaker) wakeQuiet() <-chan struct{} { return w.b.quiet() }

// Tick wakes every source waiting on w.
func (w *ManualWaker) Tick() { w.b.fire() }

// Slept returns a channel that receives a value (coalesced, capacity 1) whenever a source
// goes to sleep on w: with one source and no fsnotify, it has nothing left to read.
func (w *ManualWaker) Slept() <-chan struct{} {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	if w.b.slept == nil {
		w.b.slept = make(chan struct{}, 1)
	}
	return w.b.slept
}

// Waits returns how many times sources have gone to sleep on w.
func (w *ManualWaker) Waits() int {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.waits
}

// TickWaker wakes its sources every interval. It owns one goroutine, stopped by Close.
type TickWaker struct {
	b    broadcast
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// NewTickWaker starts a TickWaker.
func NewTickWaker(interval time.Duration) *TickWaker {
	w := &TickWaker{quit: make(chan struct{})}
	w.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.b.fire()
			case <-w.quit:
				return
			}
		}
	})
	return w
}

// Wake implements Waker.
func (w *TickWaker) Wake() <-chan struct{} { return w.b.wake() }

func (w *TickWaker) wakeQuiet() <-chan struct{} { return w.b.quiet() }

// Close stops the ticker goroutine and waits for it.
func (w *TickWaker) Close() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}
