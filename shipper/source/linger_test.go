package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestTailLingersOnRotatedWriter: logrotate's create mode under an Apache graceful
// restart. access.log is renamed to access.log.1 (or deleted) and a new access.log
// created; the old children keep appending to the file they hold open after the new
// file already has lines. Every line of both generations is read exactly once, in
// order within its generation: the old generation is followed for RotateWait after its
// last growth, not left as soon as the new file has data.
func TestTailLingersOnRotatedWriter(t *testing.T) {
	for _, how := range []string{"renamed", "deleted"} {
		t.Run(how, func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.RotateWait = time.Hour // never over during the test
			s := newSources(t, cfg)
			dir := t.TempDir()
			path := filepath.Join(dir, "access.log")
			old := openAppend(t, path)
			writeString(t, old, "old 0\n")
			tl := openTailer(t, s, path)
			r := startReader(t, acking{tl}, 64<<10)
			r.waitFor([]byte("old 0\n"), w)
			if how == "renamed" {
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			live := openAppend(t, path)
			writeString(t, live, "new 0\n")
			r.waitFor([]byte("old 0\nnew 0\n"), w)
			// The tailer follows the new file now; the old writers go on.
			got := writeBoth(t, r, w, old, live, 2, 1, 50, 10, nil)
			checkGenerations(t, got, map[string]int{"old": 51, "new": 51})
		})
	}
}

// TestTailLingersOnFileDeletedBetweenLooks: the followed file, read to its end, is
// deleted and created again, with a line, between the tailer's look at the file and its
// look at the path (its old writer goes on). Seen linked and the path naming another
// file, it was left at once, not followed for RotateWait: its writer's later lines
// were never read (1 run in ~500 of TestTailLingersOnRotatedWriter/deleted).
func TestTailLingersOnFileDeletedBetweenLooks(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour // never over during the test
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	old := openAppend(t, path)
	writeString(t, old, "old 0\n")
	tl := openTailer(t, s, path)
	var armed atomic.Bool
	created := make(chan *os.File, 1)
	tl.eofHook = func() {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		if err := os.Remove(path); err != nil {
			t.Error(err)
		}
		live := openAppend(t, path)
		writeString(t, live, "new 0\n")
		created <- live
	}
	r := startReader(t, acking{tl}, 64<<10)
	r.waitFor([]byte("old 0\n"), w)
	armed.Store(true)
	var live *os.File
	testsupport.EventuallyErr(t, func() error {
		select {
		case live = <-created:
			return nil
		default:
			w.Tick()
			return errors.New("the tailer did not look at the file again")
		}
	})
	r.waitFor([]byte("old 0\nnew 0\n"), w)
	got := writeBoth(t, r, w, old, live, 2, 1, 20, 10, nil)
	checkGenerations(t, got, map[string]int{"old": 21, "new": 21})
}

// writeBoth appends "old i" to old and "new i" to live for i from from to to (a lingering
// generation's writer and the live file's), running before (if not nil) first, and
// waits every so many i until r holds n lines and two more for each i written. It
// returns the lines r holds at the end.
func writeBoth(t *testing.T, r *reader, w *ManualWaker, old, live *os.File, n, from, to, every int, before func(i int)) []string {
	t.Helper()
	for i := from; i <= to; i++ {
		if before != nil {
			before(i)
		}
		writeString(t, old, fmt.Sprintf("old %d\n", i))
		writeString(t, live, fmt.Sprintf("new %d\n", i))
		n += 2
		if i%every == 0 {
			waitLines(t, r, w, n)
		}
	}
	return waitLines(t, r, w, n)
}

// waitLines waits until the reader holds n lines (ticking w: a deleted file has no
// events), and returns them. The chunks of one stream must follow each other (not
// checked for a glob's several streams: r.bad is reported by tailer tests only).
func waitLines(t *testing.T, r *reader, w *ManualWaker, n int) []string {
	t.Helper()
	var lines []string
	testsupport.EventuallyErr(t, func() error {
		r.mu.Lock()
		b := bytes.Clone(r.buf.Bytes())
		r.mu.Unlock()
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) >= n {
			return nil
		}
		w.Tick()
		return fmt.Errorf("read %d lines, want %d (last %q)", len(lines), n, lines[len(lines)-1])
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.multi {
		for _, b := range r.bad {
			t.Error(b)
		}
	}
	return lines
}

// checkGenerations checks that lines ("NAME I") hold every I of each name once, in
// order within the name.
func checkGenerations(t *testing.T, lines []string, want map[string]int) {
	t.Helper()
	next := generationCounts(t, lines)
	for name, n := range want {
		if next[name] != n {
			t.Errorf("%s: %d lines read, want %d", name, next[name], n)
		}
	}
}

// generationCounts checks that lines ("NAME I") hold the Is of each name from 0 on,
// once each and in order within the name, and returns how many lines of each name they
// hold.
func generationCounts(t *testing.T, lines []string) map[string]int {
	t.Helper()
	next := map[string]int{}
	for _, l := range lines {
		var name string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &name, &i); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if i != next[name] {
			t.Fatalf("line %q after %s %d: lines lost, doubled or out of order (%q)", l, name, next[name]-1, lines)
		}
		next[name]++
	}
	return next
}

// acking is a source whose chunks are acknowledged as soon as they are returned (a
// sender whose collectors keep up).
type acking struct{ Source }

func (a acking) Next(ctx context.Context, max int) (Chunk, error) {
	c, err := a.Source.Next(ctx, max)
	if err == nil {
		err = a.Ack(c.Pos)
	}
	return c, err
}

// TestGlobLingersOnRotatedNameOnce: a glob that matches the rotated names too
// (access.log*): the old writer's lines appended to access.log.1 after the new file got
// lines are read once, by access.log's stream while it lingers there (the match of
// access.log.1 does not read them as well), in order within each generation.
func TestGlobLingersOnRotatedNameOnce(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	old := openAppend(t, path)
	writeString(t, old, "old 0\n")
	g, err := s.OpenGlob(filepath.Join(dir, "access.log*"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	r := startReader(t, acking{g}, 64<<10)
	r.multi = true // (chunks of several streams: offsets are per stream)
	waitLines(t, r, w, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	live := openAppend(t, path)
	writeString(t, live, "new 0\n")
	waitLines(t, r, w, 2)
	for i := 1; i <= 30; i++ {
		writeString(t, old, fmt.Sprintf("old %d\n", i))
		writeString(t, live, fmt.Sprintf("new %d\n", i))
	}
	got := waitLines(t, r, w, 62)
	checkGenerations(t, got, map[string]int{"old": 31, "new": 31})
	// Nothing more arrives (a second stream reading the old file would add lines).
	writeString(t, live, "new 31\n")
	got = waitLines(t, r, w, 63)
	if len(got) != 63 {
		t.Fatalf("read %d lines, want 63", len(got))
	}
	checkGenerations(t, got, map[string]int{"old": 31, "new": 32})
}
