//go:build unix

package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// mkfifo makes a FIFO at name; nothing ever writes to it, so an open for reading that
// blocks would block for good.
func mkfifo(t *testing.T, name string) {
	t.Helper()
	if err := syscall.Mkfifo(name, 0o644); err != nil {
		t.Fatal(err)
	}
}

// notRegularErrors returns the FileErrors count of not_regular.
func notRegularErrors(s *Set) float64 {
	return testutil.ToFloat64(s.m.FileErrors.WithLabelValues(FileErrorNotRegular))
}

// TestOpenNonBlockingFIFO: the open itself never waits for a FIFO's writer (a FIFO put at
// the name between the type check and the open), and the FIFO is refused.
func TestOpenNonBlockingFIFO(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.log")
	mkfifo(t, p)
	for name, open := range map[string]func(string) (*os.File, error){"openNonBlocking": openNonBlocking, "openName": openName} {
		f, err := open(p)
		if err == nil {
			f.Close()
			t.Fatalf("%s of a FIFO: no error", name)
		}
		if !errors.Is(err, ErrNotRegular) || errorReason(err) != FileErrorNotRegular {
			t.Errorf("%s of a FIFO: %v (reason %s), want ErrNotRegular", name, err, errorReason(err))
		}
	}
	r := filepath.Join(dir, "r.log")
	appendFile(t, r, "x\n")
	f, err := openNonBlocking(r)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8)
	if n, err := f.Read(b); err != nil || string(b[:n]) != "x\n" {
		t.Errorf("read %q, %v", b[:n], err)
	}
}

// TestGlobFIFOMatchSkipped: FIFOs matched by a glob, at start and created later, are
// skipped (counted as not_regular) without stopping the other matches, and Close returns.
func TestGlobFIFOMatchSkipped(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.log"), "a\n")
	mkfifo(t, filepath.Join(dir, "p.log"))
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			g.Close()
		}
	}()
	mkfifo(t, filepath.Join(dir, "q.log"))
	appendFile(t, filepath.Join(dir, "b.log"), "b\n")
	got := map[string]bool{}
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	for len(got) < 2 {
		w.Tick()
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatalf("Next: %v (have %v)", err, got)
		}
		got[string(c.Data)] = true
	}
	if !got["a\n"] || !got["b\n"] {
		t.Errorf("got %v", got)
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := notRegularErrors(s); n != 2 {
			return fmt.Errorf("not_regular errors %v, want 2 (p.log, q.log)", n)
		}
		return nil
	})
	done := make(chan struct{})
	go func() { defer close(done); g.Close() }()
	select {
	case <-done:
		closed = true
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: a tailer is stuck opening a FIFO")
	}
}

// TestTailFIFOAtPath: a followed path that is a FIFO (at start, or put there by a
// rotation) is counted as not_regular and retried; the regular file put back is read.
func TestTailFIFOAtPath(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	mkfifo(t, path)
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := notRegularErrors(s); n != 1 {
			return fmt.Errorf("not_regular errors %v", n)
		}
		return nil
	})
	os.Remove(path)
	appendFile(t, path, "one\n")
	r.waitFor([]byte("one\n"), w)
	// Rotated to a FIFO: the old file is drained, the FIFO skipped, then a file again.
	appendFile(t, path, "two\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, path)
	r.waitFor([]byte("one\ntwo\n"), w)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := notRegularErrors(s); n != 2 {
			return fmt.Errorf("not_regular errors %v", n)
		}
		return nil
	})
	os.Remove(path)
	appendFile(t, path, "three\n")
	r.waitFor([]byte("one\ntwo\nthree\n"), w)
}

// TestOpenFileToEndFIFO: --once on a FIFO fails at once with ErrNotRegular, counted.
func TestOpenFileToEndFIFO(t *testing.T) {
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	p := filepath.Join(t.TempDir(), "p.log")
	mkfifo(t, p)
	tl, err := s.OpenFileToEnd(p)
	if err == nil {
		tl.Close()
		t.Fatal("OpenFileToEnd of a FIFO: no error")
	}
	if !errors.Is(err, ErrNotRegular) {
		t.Errorf("err %v, want ErrNotRegular", err)
	}
	if n := notRegularErrors(s); n != 1 {
		t.Errorf("not_regular errors %v", n)
	}
}

// TestTailDirectoryAtPathNotMissed: a directory made at the followed path (then removed,
// and the file back) is counted as not_regular, never as a file created and missed: the
// directory was never a generation of the file.
func TestTailDirectoryAtPathNotMissed(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "one\n")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	r.waitFor([]byte("one\n"), w)
	os.Remove(path)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if n := notRegularErrors(s); n != 1 {
			return fmt.Errorf("not_regular errors %v", n)
		}
		return nil
	})
	os.Remove(path)
	appendFile(t, path, "two\n")
	r.waitFor([]byte("one\ntwo\n"), w)
	appendFile(t, path, "three\n")
	r.waitFor([]byte("one\ntwo\nthree\n"), w)
	if n := testutil.ToFloat64(s.m.FilesMissed); n != 0 {
		t.Errorf("files_missed_total %v, want 0 (a directory at the path is no missed file)", n)
	}
}
