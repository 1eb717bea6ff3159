package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestGlobFileMovedToOtherGlobDir: two globs of two directories in one Set ('d1/*.log'
// 'd2/*.log'); x.log, read by d1's glob, is moved to d2 (mv d1/x.log d2/x.log) while
// the shipper is down (stopped, or crashed: no stop checkpoint, and, noack, its last
// lines read and not acknowledged), or while it runs, and written to; the globs are
// opened in either order. Every line is
// written once by a collector (distinct stream and offset), nothing is counted lost,
// and d1/x.log's checkpoint goes: d1's stream drains the file where it is now (from its
// checkpoint, at its own offsets) and hands it over, at the offset it shipped, to d2's
// match, which never reads it from its start (on main, after a crash, d2's glob read it
// from its start on a new stream: x.log's first lines twice).
func TestGlobFileMovedToOtherGlobDir(t *testing.T) {
	for _, tc := range []string{"stop", "crash", "crash-noack", "running", "stop/d2-first", "crash/d2-first", "crash-noack/d2-first", "running/d2-first"} {
		how, order, _ := strings.Cut(tc, "/")
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			d1, d2 := filepath.Join(dir, "d1"), filepath.Join(dir, "d2")
			for _, d := range []string{d1, d2} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			x1, x2 := filepath.Join(d1, "x.log"), filepath.Join(d2, "x.log")
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.RotateWait = 10 * time.Millisecond
			ms := []*collectorModel{newCollectorModel(), newCollectorModel()}
			var s *Set
			var gs []*Glob
			dirs := []string{d1, d2}
			if order == "d2-first" {
				dirs = []string{d2, d1}
			}
			open := func() {
				s, gs = openSet(t, cfg), nil
				for _, d := range dirs {
					g, err := s.OpenGlob(filepath.Join(d, "*.log"))
					if err != nil {
						t.Fatal(err)
					}
					gs = append(gs, g)
				}
				for i, g := range gs {
					ms[i].read(g, cfg.ChunkMax)
				}
			}
			closeAll := func(crash bool) {
				for _, m := range ms {
					m.stop()
				}
				for _, g := range gs {
					if crash {
						crashGlob(g)
					}
					g.Close()
				}
				err := s.Close()
				s = nil
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				if s != nil {
					closeAll(true)
				}
			})
			open()
			appendFile(t, x1, tagged("x1", 1, 100))
			want := tagged("x1", 1, 100)
			waitModels(t, w, want, ms...)
			if how == "crash-noack" {
				for _, m := range ms {
					m.setAck(false)
				}
			}
			appendFile(t, x1, tagged("x1", 101, 150))
			want += tagged("x1", 101, 150)
			waitModels(t, w, want, ms...)
			if how != "running" {
				closeAll(how != "stop")
				for _, m := range ms {
					m.setAck(true)
				}
			}
			mustRename(t, x1, x2)
			appendFile(t, x2, tagged("x2", 1, 100))
			want += tagged("x2", 1, 100)
			if how != "running" {
				open()
			}
			waitModels(t, w, want, ms...)
			testsupport.EventuallyErr(t, func() error {
				w.Tick()
				if known := s.Store().Known(func(string) bool { return true }); slices.Contains(known, x1) {
					return fmt.Errorf("checkpoints of %v, want d1/x.log's removed", known)
				}
				return nil
			})
			appendFile(t, x2, tagged("x3", 1, 10))
			want += tagged("x3", 1, 10)
			waitModels(t, w, want, ms...)
			closeAll(false)
		})
	}
}

// waitModels is collectorModel.wait for the collector of several sources, each read
// by one model: every line of want written exactly once (by stream and offset).
func waitModels(t *testing.T, w *ManualWaker, want string, ms ...*collectorModel) {
	t.Helper()
	counts := func() map[string]int {
		n := map[string]int{}
		for _, m := range ms {
			m.mu.Lock()
			err := m.err
			m.mu.Unlock()
			if err != nil {
				t.Fatalf("Next or Ack: %v", err)
			}
			for l, k := range m.counts() {
				n[l] += k
			}
		}
		return n
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		n := counts()
		for l := range strings.Lines(want) {
			if n[l] == 0 {
				return fmt.Errorf("waiting for %q (%d lines written)", l, len(n))
			}
		}
		return nil
	})
	wl := map[string]int{}
	for l := range strings.Lines(want) {
		wl[l]++
	}
	var bad []string
	for l, n := range counts() {
		if n != wl[l] {
			bad = append(bad, fmt.Sprintf("%q written %d times, want %d", strings.TrimSuffix(l, "\n"), n, wl[l]))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Fatalf("collector: %d lines wrong:\n%s", len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
}

// TestGlobFileMovedToOtherGlobDirInodeReused: while the shipper is down, d1/x.log (a job
// log holding its header line alone, read whole) is deleted, and the file system gives
// its inode number to a new file in d2, d2/x.log, that starts with the same header line.
// The head and the last line before d1/x.log's checkpoint are the same; its birth time
// (Checkpoint.Born) tells it is another file: d2's match reads it whole from its start,
// its header line is not skipped as read (silent loss).
func TestGlobFileMovedToOtherGlobDirInodeReused(t *testing.T) {
	const header = "=== job started ===\n"
	dir := t.TempDir()
	d1, d2 := filepath.Join(dir, "d1"), filepath.Join(dir, "d2")
	for _, d := range []string{d1, d2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	x1, x2 := filepath.Join(d1, "x.log"), filepath.Join(d2, "x.log")
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = 10 * time.Millisecond
	run := func(want string) {
		t.Helper()
		s := openSet(t, cfg)
		var gs []*Glob
		var rs []*ackReader
		for _, d := range []string{d1, d2} {
			g, err := s.OpenGlob(filepath.Join(d, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, g)
		}
		for _, g := range gs {
			rs = append(rs, startAckReader(t, g, 1<<16))
		}
		waitAllLines(t, w, want, rs...)
		for i, r := range rs {
			r.stop()
			gs[i].Close()
		}
		s.Close()
	}
	appendFile(t, x1, header)
	fi, err := os.Stat(x1)
	if err != nil {
		t.Fatal(err)
	}
	_, ino, _ := fileID(fi)
	run(header)
	if err := os.Remove(x1); err != nil {
		t.Fatal(err)
	}
	want := header + "job 2 done\n"
	if !createReusing(t, x2, want, ino) {
		t.Logf("the file system did not give the new file the deleted file's inode number: nothing to tell apart")
	}
	run(want)
}
