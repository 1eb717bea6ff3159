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
	"sync/atomic"
)

// A Tailer follows one path across rotations and truncations (see the package doc for the
// rules) and is the Source of one stream.
type Tailer struct {
	s    *Set
	log  *slog.Logger
	path string
	dir  string
	base string
	sub  *Subscription // nil without fsnotify

	stream  uint64
	f       *os.File // nil while the path has no file
	dev     uint64
	ino     uint64
	fpLen   int
	fp      uint64
	readOff int64 // file offset of buf[c.w]
	atPath  bool  // f is the file at path (false: draining a file renamed away)
	c       cutter
	closed  bool
	toEnd   bool       // OpenFileToEnd: io.EOF at the end of the file instead of following it
	start   Checkpoint // where it was opened (Rewind(nil))

	wakeups atomic.Uint64
}

// OpenFile returns a Tailer of path, resuming from its checkpoint if there is one. A file
// present without a checkpoint is read from its end unless Config.FromBeginning.
func (s *Set) OpenFile(path string) (*Tailer, error) {
	return s.openFile(path, s.cfg.FromBeginning)
}

// OpenFileToEnd returns a Tailer that reads path from its checkpoint, or from its
// beginning if it has none, to the end of the file, and then returns io.EOF instead of
// waiting for more (a last line without '\n' gets one, as at a rotation). It does not
// follow rotations. The file must exist.
func (s *Set) OpenFileToEnd(path string) (*Tailer, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	t, err := s.openFile(path, true)
	if err != nil {
		return nil, err
	}
	t.toEnd = true
	return t, nil
}

func (s *Set) openFile(path string, fromBeginning bool) (*Tailer, error) {
	path = filepath.Clean(path)
	cp, found, err := s.store.Load(path)
	if err != nil {
		return nil, err
	}
	if !found {
		cp = Checkpoint{Path: path, Stream: newStreamID()}
	}
	t := &Tailer{
		s: s, path: path, dir: filepath.Dir(path), base: filepath.Base(path),
		log:    s.log.With("source", path),
		stream: cp.Stream,
		c:      newCutter(s.cfg.ReadBuffer, s.cfg.MaxLine),
	}
	if s.watcher != nil {
		t.sub, err = s.watcher.Subscribe(t.dir, func(name string) bool { return name == t.base })
		if err != nil {
			t.log.Debug("no fsnotify watch, polling", "err", err)
		}
	}
	if err := t.resume(cp, found, fromBeginning); err != nil {
		t.Close()
		return nil, err
	}
	// Persist the stream id and start position before anything is sent, so that a restart
	// never reuses an offset.
	t.start = t.pos()
	if err := s.store.Save(t.start); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Rewind makes the tailer read again from pos, a Chunk.Pos it returned, or from where
// it was opened when pos is nil, following the same rules as a restart from a
// checkpoint (a file rotated since is found by its identity; a file that is gone makes
// the stream jump by LossGap). It must not be called concurrently with Next.
func (t *Tailer) Rewind(pos *Checkpoint) error {
	if t.closed {
		return ErrClosed
	}
	cp := t.start
	if pos != nil {
		cp = *pos
	}
	if cp.Path != t.path || cp.Stream != t.stream {
		return fmt.Errorf("%w: rewind %s to a position of %s (stream %d)", ErrConfig, t.path, cp.Path, cp.Stream)
	}
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.c = newCutter(t.s.cfg.ReadBuffer, t.s.cfg.MaxLine)
	return t.resume(cp, true, false)
}

// Path returns the followed path.
func (t *Tailer) Path() string { return t.path }

// Stream returns the stream id.
func (t *Tailer) Stream() uint64 { return t.stream }

// Wakeups returns how many times the tailer woke up from waiting for data.
func (t *Tailer) Wakeups() uint64 { return t.wakeups.Load() }

func openStat(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return f, fi, nil
}

// matches reports whether f is the file cp names and still holds cp's offset.
func matches(f *os.File, fi fs.FileInfo, cp *Checkpoint) bool {
	dev, ino, _ := fileID(fi)
	if dev != cp.Dev || ino != cp.Ino || fi.Size() < cp.FileOffset {
		return false
	}
	if cp.FPLen == 0 {
		return true
	}
	fp, ok, err := fingerprintFile(f, cp.FPLen)
	return err == nil && ok && fp == cp.FP
}

func (t *Tailer) resume(cp Checkpoint, found, fromBeginning bool) error {
	f, fi, err := openStat(t.path)
	if err != nil {
		return err
	}
	t.c.off = cp.Offset
	if found && cp.HasFile() {
		if f != nil && matches(f, fi, &cp) {
			return t.adoptAt(f, fi, true, &cp)
		}
		if g, gi := t.findRotated(&cp); g != nil {
			if f != nil {
				f.Close()
			}
			t.log.Info("resuming checkpointed file rotated while down", "file", g.Name())
			return t.adoptAt(g, gi, false, &cp)
		}
		t.log.Warn("checkpointed file is gone or shrank; lines after the checkpoint are lost",
			"offset", cp.FileOffset, "gap", LossGap)
		t.c.off += LossGap
		if f != nil {
			t.adopt(f, fi, true)
		}
		return nil
	}
	if f == nil {
		return nil
	}
	t.adopt(f, fi, true)
	if !found && !fromBeginning {
		return t.seek(fi.Size())
	}
	return nil
}

// findRotated looks in the directory for the file cp names, renamed.
func (t *Tailer) findRotated(cp *Checkpoint) (*os.File, fs.FileInfo) {
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == t.base {
			continue
		}
		name := filepath.Join(t.dir, e.Name())
		fi, err := os.Stat(name)
		if err != nil {
			continue
		}
		if dev, ino, _ := fileID(fi); dev != cp.Dev || ino != cp.Ino {
			continue
		}
		f, fi, err := openStat(name)
		if err != nil || f == nil {
			continue
		}
		if matches(f, fi, cp) {
			return f, fi
		}
		f.Close()
	}
	return nil, nil
}

func (t *Tailer) adoptAt(f *os.File, fi fs.FileInfo, atPath bool, cp *Checkpoint) error {
	t.adopt(f, fi, atPath)
	t.fpLen, t.fp = cp.FPLen, cp.FP
	if cp.LineOff > 0 {
		t.c.frag, t.c.lineKept = true, cp.LineOff
	}
	return t.seek(cp.FileOffset)
}

func (t *Tailer) adopt(f *os.File, fi fs.FileInfo, atPath bool) {
	t.f = f
	t.dev, t.ino, _ = fileID(fi)
	t.fpLen, t.fp = 0, 0
	t.readOff = 0
	t.c.r, t.c.w = 0, 0
	t.setAtPath(atPath)
	t.s.m.FilesOpened.Inc()
}

func (t *Tailer) setAtPath(atPath bool) {
	t.atPath = atPath
	t.sub.SetAll(!atPath)
}

func (t *Tailer) seek(off int64) error {
	if _, err := t.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", t.path, err)
	}
	t.readOff = off
	t.c.r, t.c.w = 0, 0
	return nil
}

// pos returns the checkpoint of the next byte to emit.
func (t *Tailer) pos() Checkpoint {
	cp := Checkpoint{Path: t.path, Stream: t.stream, Offset: t.c.off}
	if t.f == nil {
		return cp
	}
	off := t.readOff - int64(t.c.w-t.c.r)
	if t.fpLen < FingerprintLen && off > int64(t.fpLen) {
		n := int(min(off, FingerprintLen))
		if fp, ok, err := fingerprintFile(t.f, n); err == nil && ok {
			t.fp, t.fpLen = fp, n
		}
	}
	cp.Dev, cp.Ino, cp.FPLen, cp.FP, cp.FileOffset = t.dev, t.ino, t.fpLen, t.fp, off
	if t.c.frag {
		cp.LineOff = t.c.lineKept
	}
	return cp
}

// Next implements Source.
func (t *Tailer) Next(ctx context.Context, max int) (Chunk, error) {
	if t.closed {
		return Chunk{}, ErrClosed
	}
	if max < 2 {
		return Chunk{}, fmt.Errorf("%w: %d", ErrChunkMax, max)
	}
	ended := false // toEnd: the unfinished last line was terminated
	for {
		if ch, ok := t.c.cut(max); ok {
			return t.finish(ch), nil
		}
		if t.f == nil {
			if t.toEnd {
				return Chunk{}, fmt.Errorf("%s: %w", t.path, fs.ErrNotExist)
			}
			if err := t.reopen(); err != nil {
				return Chunk{}, err
			}
			if t.f == nil {
				if err := t.wait(ctx); err != nil {
					return Chunk{}, err
				}
			}
			continue
		}
		n, err := t.read(max)
		if n > 0 {
			continue
		}
		if err != nil {
			return Chunk{}, err
		}
		if t.toEnd {
			if t.c.pending() && !ended {
				t.c.terminate, ended = true, true
				continue
			}
			return Chunk{}, io.EOF
		}
		moved, err := t.atEOF(max)
		if err != nil {
			return Chunk{}, err
		}
		if !moved {
			if err := t.wait(ctx); err != nil {
				return Chunk{}, err
			}
		}
	}
}

// read reads once from the file into the buffer; it returns 0, nil at end of file.
func (t *Tailer) read(max int) (int, error) {
	n, err := t.f.Read(t.c.reserve(max))
	t.c.w += n
	t.readOff += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read %s: %w", t.path, err)
	}
	return n, nil
}

func (t *Tailer) finish(ch Chunk) Chunk {
	ch.Stream = t.stream
	ch.Pos = t.pos()
	t.s.m.count(&ch)
	if t.c.truncated > 0 {
		t.s.m.LinesTruncated.Add(float64(t.c.truncated))
		t.log.Warn("line above the hard maximum truncated", "max", t.c.max, "offset", ch.Offset)
		t.c.truncated = 0
	}
	return ch
}

// atEOF applies the rotation rules once the open file is read to its end. moved reports
// that something changed (data, a pending line to emit, another file) and the caller
// should look again before sleeping.
func (t *Tailer) atEOF(max int) (moved bool, err error) {
	fi, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", t.path, err)
	}
	if fi.Size() < t.readOff {
		if t.c.pending() {
			t.c.terminate = true
			return true, nil
		}
		t.log.Info("file truncated, reading from its start", "size", fi.Size(), "offset", t.readOff)
		t.s.m.FilesTruncated.Inc()
		t.fpLen, t.fp = 0, 0
		return true, t.seek(0)
	}
	_, _, nlink := fileID(fi)
	pi, err := os.Stat(t.path)
	switch {
	case err == nil:
		if dev, ino, _ := fileID(pi); dev == t.dev && ino == t.ino {
			if !t.atPath {
				t.setAtPath(true)
			}
			return false, nil
		}
		if t.atPath {
			t.setAtPath(false)
		}
		if pi.Size() == 0 && nlink > 0 {
			return false, nil // the new file is empty: the writer may still use the old one
		}
	case errors.Is(err, fs.ErrNotExist):
		if t.atPath {
			t.setAtPath(false)
		}
		if nlink > 0 {
			return false, nil // renamed away; the new file is not there yet
		}
	default:
		return false, fmt.Errorf("stat %s: %w", t.path, err)
	}
	// Leaving the file. Read once more: the writer finished with it before the path
	// changed, but possibly after our last read.
	if n, err := t.read(max); n > 0 || err != nil {
		return true, err
	}
	if t.c.pending() {
		t.c.terminate = true
		return true, nil
	}
	t.log.Info("file rotated or deleted, switching", "size", fi.Size())
	t.s.m.FilesRotated.Inc()
	t.f.Close()
	t.f = nil
	t.c.r, t.c.w = 0, 0
	return true, t.reopen()
}

// reopen opens the file now at path, from its start.
func (t *Tailer) reopen() error {
	f, fi, err := openStat(t.path)
	if err != nil || f == nil {
		return err
	}
	t.log.Debug("following new file")
	t.adopt(f, fi, true)
	return nil
}

func (t *Tailer) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.sub.C():
	case <-t.s.waker.Wake():
	}
	t.wakeups.Add(1)
	t.s.m.Wakeups.Inc()
	return nil
}

// Ack implements Source: it saves pos.
func (t *Tailer) Ack(pos Checkpoint) error {
	return t.s.store.Save(pos)
}

// Close implements Source.
func (t *Tailer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.sub.Cancel()
	if t.f != nil {
		err := t.f.Close()
		t.f = nil
		return err
	}
	return nil
}
