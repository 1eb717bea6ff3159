package source

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
)

// A Glob follows every file matching a pattern, one Tailer (one stream) per path, and
// multiplexes their chunks. It rescans the pattern on fsnotify events in the pattern's
// directory and on every Waker tick. Matches present at start without a checkpoint follow
// Config.FromBeginning; later matches are read from their beginning. Patterns should match
// live names only (access.log, not access.log.*), or rotated files become streams of their
// own. Chunks are cut at Config.ChunkMax, since each child reads ahead in its own goroutine.
//
// Concurrency: as for Source. Glob owns one goroutine per matched path plus the scanner;
// Close stops them and waits.
type Glob struct {
	s       *Set
	log     *slog.Logger
	pattern string
	sub     *Subscription
	out     chan globResult
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex // Guards the fields below.
	children map[string]*Tailer
}

type globResult struct {
	ch  Chunk
	err error
}

// OpenGlob starts following pattern.
func (s *Set) OpenGlob(pattern string) (*Glob, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %w", ErrConfig, pattern, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Glob{
		s: s, log: s.log.With("glob", pattern), pattern: pattern,
		out: make(chan globResult), cancel: cancel, children: map[string]*Tailer{},
	}
	if s.watcher != nil {
		dir := filepath.Dir(pattern)
		base := filepath.Base(pattern)
		if sub, err := s.watcher.Subscribe(dir, func(name string) bool {
			ok, _ := filepath.Match(base, name)
			return ok
		}); err == nil {
			g.sub = sub
		}
	}
	if err := g.scan(ctx, s.cfg.FromBeginning); err != nil {
		g.Close()
		return nil, err
	}
	g.wg.Go(func() { g.run(ctx) })
	return g, nil
}

func (g *Glob) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.sub.C():
		case <-g.s.waker.Wake():
		}
		if err := g.scan(ctx, true); err != nil {
			g.log.Warn("glob rescan failed", "err", err)
		}
	}
}

// scan starts a tailer for each new match.
func (g *Glob) scan(ctx context.Context, fromBeginning bool) error {
	matches, err := filepath.Glob(g.pattern)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range matches {
		m = filepath.Clean(m)
		if _, ok := g.children[m]; ok {
			continue
		}
		t, err := g.s.openFile(m, fromBeginning)
		if err != nil {
			return err
		}
		g.log.Info("following new match", "path", m)
		g.children[m] = t
		g.wg.Go(func() { g.pump(ctx, t) })
	}
	return nil
}

func (g *Glob) pump(ctx context.Context, t *Tailer) {
	for {
		ch, err := t.Next(ctx, g.s.cfg.ChunkMax)
		if ctx.Err() != nil {
			return
		}
		select {
		case g.out <- globResult{ch, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Paths returns the paths followed so far.
func (g *Glob) Paths() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ps []string
	for p := range g.children {
		ps = append(ps, p)
	}
	return ps
}

// Next implements Source. max must be at least Config.ChunkMax.
func (g *Glob) Next(ctx context.Context, max int) (Chunk, error) {
	if max < g.s.cfg.ChunkMax {
		return Chunk{}, fmt.Errorf("%w: %d below chunk max %d", ErrChunkMax, max, g.s.cfg.ChunkMax)
	}
	select {
	case r := <-g.out:
		return r.ch, r.err
	case <-ctx.Done():
		return Chunk{}, ctx.Err()
	}
}

// Ack implements Source.
func (g *Glob) Ack(pos Checkpoint) error { return g.s.store.Save(pos) }

// Close implements Source: it stops the scanner and the children and closes their files.
func (g *Glob) Close() error {
	g.cancel()
	g.wg.Wait()
	g.sub.Cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, t := range g.children {
		t.Close()
		delete(g.children, p)
	}
	return nil
}
