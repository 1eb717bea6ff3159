package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A Glob follows every file matching a pattern, one Tailer (one stream) per path, and
// multiplexes their chunks. It rescans the pattern on fsnotify events in the pattern's
// directory and on every Waker tick. Matches present at start without a checkpoint follow
// Config.FromBeginning; later matches are read from their beginning. Patterns should match
// live names only (access.log, not access.log.*), or rotated files become streams of their
// own. Chunks are cut at Config.ChunkMax, since each child reads ahead in its own goroutine.
//
// A match that cannot be read is retried by its tailer and never stops the others. A match
// deleted and drained is dropped (its goroutine, buffer and descriptor released), and its
// checkpoint removed once its last chunk is acknowledged; if the path appears again it
// continues the same stream.
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
	ended    map[string]Checkpoint // matches dropped before their end was acknowledged: the end
	failed   map[string]string     // matches that could not be opened, and why (logged once)
}

type globResult struct {
	ch  Chunk
	err error
}

// OpenGlob starts following pattern. A pattern that matches nothing yet is not an error.
func (s *Set) OpenGlob(pattern string) (*Glob, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%w: pattern %q: %w", ErrConfig, pattern, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Glob{
		s: s, log: s.log.With("glob", pattern), pattern: pattern,
		out: make(chan globResult), cancel: cancel,
		children: map[string]*Tailer{}, ended: map[string]Checkpoint{}, failed: map[string]string{},
	}
	if s.watcher != nil {
		dir := filepath.Dir(pattern)
		base := filepath.Base(pattern)
		if sub, err := s.watcher.SubscribeNames(dir, func(name string) bool {
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
	if len(g.Paths()) == 0 {
		g.log.Warn("pattern matches no file yet; files that appear are followed from their beginning")
	}
	s.expireCheckpoints(time.Now())
	g.wg.Go(func() { g.run(ctx) })
	return g, nil
}

func (g *Glob) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.sub.C():
			// An event costs its name: a new match is opened, others are skipped. The
			// directory is rescanned only when its watch was (re)added or events were lost.
			if names, whole := g.sub.Take(); !whole {
				g.consider(ctx, names)
				continue
			}
		case <-g.s.waker.Wake():
		}
		if err := g.scan(ctx, true); err != nil {
			g.log.Warn("glob rescan failed", "err", err)
		}
		g.s.expireCheckpoints(time.Now())
	}
}

// consider follows the names, in the pattern's directory, that events named and that
// are not followed yet.
func (g *Glob) consider(ctx context.Context, names []string) {
	dir := filepath.Dir(g.pattern)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, name := range names {
		g.follow(ctx, filepath.Join(dir, name), true)
	}
}

// scan starts a tailer for each new match. A match that cannot be opened is logged (once
// per reason) and retried at the next scan; the other matches are not affected.
func (g *Glob) scan(ctx context.Context, fromBeginning bool) error {
	g.s.m.GlobRescans.Inc()
	matches, err := filepath.Glob(g.pattern)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.failed) > 0 {
		// Forget the failures of matches that are gone.
		seen := make(map[string]bool, len(matches))
		for _, m := range matches {
			seen[filepath.Clean(m)] = true
		}
		for m := range g.failed {
			if !seen[m] {
				delete(g.failed, m)
			}
		}
	}
	for _, m := range matches {
		g.follow(ctx, filepath.Clean(m), fromBeginning)
	}
	return nil
}

// follow starts a tailer for the match m (a clean path) if it is not followed and still
// exists. A match that cannot be opened is logged (once per reason) and retried at the
// next scan or event. g.mu is held.
func (g *Glob) follow(ctx context.Context, m string, fromBeginning bool) {
	if _, ok := g.children[m]; ok {
		return
	}
	if _, err := os.Lstat(m); errors.Is(err, fs.ErrNotExist) {
		// Listed (or named by an event), then deleted (and its tailer, if it had one,
		// dropped) before g.mu was taken: following it would record state for a file
		// that is gone.
		delete(g.failed, m)
		return
	}
	var cont *Checkpoint
	if cp, ok := g.ended[m]; ok {
		cp := Checkpoint{Path: m, Stream: cp.Stream, Offset: cp.Offset}
		cont = &cp
	}
	t, err := g.s.openFile(m, fromBeginning, cont)
	if err != nil {
		if msg := err.Error(); g.failed[m] != msg {
			g.failed[m] = msg
			g.log.Warn("cannot follow match; retried at the next scan", "path", m, "err", err)
		}
		return
	}
	delete(g.failed, m)
	delete(g.ended, m)
	t.endWhenGone = true
	g.log.Debug("following new match", "path", m)
	g.children[m] = t
	g.wg.Go(func() { g.pump(ctx, t) })
}

func (g *Glob) pump(ctx context.Context, t *Tailer) {
	for {
		ch, err := t.Next(ctx, g.s.cfg.ChunkMax)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, io.EOF) {
			g.drop(t)
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

// drop forgets a match whose file was deleted and drained: its checkpoint goes once its
// end is acknowledged.
func (g *Glob) drop(t *Tailer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.children[t.path] != t {
		return
	}
	delete(g.children, t.path)
	end := t.pos()
	t.Close()
	g.log.Debug("match deleted and drained; released", "path", t.path)
	if t.acked.Load() >= end.Offset {
		g.removeCheckpoint(t.path)
		return
	}
	g.ended[t.path] = end
}

// removeCheckpoint removes the checkpoint of a dropped match. g.mu is held.
func (g *Glob) removeCheckpoint(path string) {
	if err := g.s.store.Remove(path); err != nil {
		g.log.Warn("cannot remove the checkpoint of a deleted match; it expires later", "path", path, "err", err)
		return
	}
	g.s.m.CheckpointsExpired.Inc()
}

// Pattern returns the glob pattern followed.
func (g *Glob) Pattern() string { return g.pattern }

// Paths returns the paths the glob follows now.
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

// Ack implements Source. Only the position of a followed match is saved: an
// acknowledgement that arrives after its match was dropped (deleted and drained, its
// checkpoint removed), or that belongs to a stream the path no longer has, or that does
// not go past where the match was (re)opened, would leave a checkpoint of a file that is
// gone, or take a continued stream back to the file before it.
func (g *Glob) Ack(pos Checkpoint) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if end, ok := g.ended[pos.Path]; ok && end.Stream == pos.Stream {
		if pos.Offset >= end.Offset {
			delete(g.ended, pos.Path)
			g.removeCheckpoint(pos.Path)
		}
		return nil
	}
	t := g.children[pos.Path]
	if t == nil || t.stream != pos.Stream {
		return nil
	}
	t.noteAck(pos.Offset)
	if pos.Offset <= t.start.Offset {
		return nil // the start was saved when the match was opened
	}
	return g.s.store.Save(pos)
}

// Forgot reports whether the glob, or another source of its state directory, will never
// return chunks of stream again: its match was deleted, drained and acknowledged, and its
// checkpoint removed (see Store.Forgot). A sender drops what it keeps of such a stream.
func (g *Glob) Forgot(stream uint64) bool { return g.s.store.Forgot(stream) }

// Forgotten receives a value (coalesced) after a source of the state directory was
// forgotten (see Store.Forgotten).
func (g *Glob) Forgotten() <-chan struct{} { return g.s.store.Forgotten() }

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
