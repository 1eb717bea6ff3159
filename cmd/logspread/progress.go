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

// update reports n bytes done, and what the work waits for (note, "" if nothing);
// safe on a nil *progress.
func (p *progress) update(n int64, note string) {
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
	fmt.Fprint(p.out, "\r\033[K"+progressLine(p.label, n, p.total, rate, note))
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

// progressLine renders one progress report.
func progressLine(label string, n, total int64, rate float64, note string) string {
	var line string
	if total > 0 {
		line = fmt.Sprintf("%s: %5.1f%% of %s, %.0f MiB/s", label, 100*float64(n)/float64(total), humanBytes(total), rate)
	} else {
		line = fmt.Sprintf("%s: %s, %.0f MiB/s", label, humanBytes(n), rate)
	}
	if note != "" {
		line += "; " + note
	}
	return line + " "
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
