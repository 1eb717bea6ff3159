package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a one-line progress report to a terminal, at most a few times a
// second, and nothing at all when out is not a terminal.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	label string
	total int64 // 0 if unknown
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(out io.Writer, label string, total int64) *progress {
	if !isTerminal(out) {
		return nil
	}
	now := time.Now()
	return &progress{out: out, label: label, total: total, start: now, last: now}
}

// update reports n bytes done; safe on a nil *progress.
func (p *progress) update(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	p.shown = true
	rate := float64(n) / now.Sub(p.start).Seconds() / (1 << 20)
	if p.total > 0 {
		fmt.Fprintf(p.out, "\r%s: %5.1f%% of %s, %.0f MiB/s ", p.label, 100*float64(n)/float64(p.total), humanBytes(p.total), rate)
	} else {
		fmt.Fprintf(p.out, "\r%s: %s, %.0f MiB/s ", p.label, humanBytes(n), rate)
	}
}

// done clears the progress line; safe on a nil *progress.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
