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

// waitAllLines waits until the readers together read every line of want (ticking w),
// then checks that each was read exactly once, by one stream, nothing else was read and
// nothing was counted lost.
func waitAllLines(t *testing.T, w *ManualWaker, want string, rs ...*ackReader) {
	t.Helper()
	wl := map[string]int{}
	for l := range strings.Lines(want) {
		wl[l]++
	}
	merged := func() (map[string]int, uint64) {
		got, lost := map[string]int{}, uint64(0)
		for _, r := range rs {
			r.mu.Lock()
			if r.err != nil {
				r.mu.Unlock()
				t.Fatalf("Next or Ack: %v", r.err)
			}
			for l, n := range r.lines {
				got[l] += n
			}
			lost += r.lost
			r.mu.Unlock()
		}
		return got, lost
	}
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		got, _ := merged()
		for l := range wl {
			if got[l] == 0 {
				return fmt.Errorf("waiting for %q (%d lines read)", l, len(got))
			}
		}
		return nil
	})
	got, lost := merged()
	var bad []string
	for l, n := range got {
		if n != wl[l] {
			bad = append(bad, fmt.Sprintf("%q read %d times, want %d", strings.TrimSuffix(l, "\n"), n, wl[l]))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Fatalf("%d lines wrong:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	if lost != 0 {
		t.Errorf("%d bytes counted lost; none was", lost)
	}
}

// TestRestartFileMovedBetweenFollowedPaths: two paths of one directory followed
// (ship a.log b.log); while the shipper is down their files are renamed among them, or
// to a name that is neither followed nor a rotated one, and written to. A file that one
// stream's checkpoint names is read by exactly one stream, each line once, nothing
// counted lost: the stream whose checkpoint names it drains it where it is now (from
// the checkpoint, at its own offsets), then hands it over, at the offset it shipped, to
// the stream of the path that names it; that stream never reads it again from its start
// (mv a.log b.log: a.log's first lines arrived twice, the second time in b.log's stream).
// The order the paths are opened in does not matter; nor does whether b.log's stream
// followed a file before.
func TestRestartFileMovedBetweenFollowedPaths(t *testing.T) {
	cases := []struct {
		name  string
		bNone bool // b.log did not exist in the first run
		move  func(t *testing.T, p func(string) string)
	}{
		{name: "mv", move: func(t *testing.T, p func(string) string) { mustRename(t, p("a.log"), p("b.log")) }},
		{name: "mv onto a path never written", bNone: true, move: func(t *testing.T, p func(string) string) { mustRename(t, p("a.log"), p("b.log")) }},
		{name: "b rotated, a renamed onto it", move: func(t *testing.T, p func(string) string) {
			mustRename(t, p("b.log"), p("b.log.1"))
			mustRename(t, p("a.log"), p("b.log"))
		}},
		{name: "swap", move: func(t *testing.T, p func(string) string) {
			mustRename(t, p("a.log"), p("t.tmp"))
			mustRename(t, p("b.log"), p("a.log"))
			mustRename(t, p("t.tmp"), p("b.log"))
		}},
		{name: "both moved, b to a rotated name of a", move: func(t *testing.T, p func(string) string) {
			mustRename(t, p("a.log"), p("t.tmp"))
			mustRename(t, p("b.log"), p("a.log.1"))
			mustRename(t, p("t.tmp"), p("b.log"))
		}},
		{name: "renamed to a name not followed", move: func(t *testing.T, p func(string) string) { mustRename(t, p("a.log"), p("a.old")) }},
	}
	for _, tc := range cases {
		for _, order := range []string{"ab", "ba"} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				dir := t.TempDir()
				p := func(n string) string { return filepath.Join(dir, n) }
				cfg, w := testConfig(t)
				cfg.FromBeginning = true
				cfg.RotateWait = 10 * time.Millisecond
				paths := []string{p("a.log"), p("b.log")}
				if order == "ba" {
					slices.Reverse(paths)
				}
				run := func(want string) {
					t.Helper()
					s := openSet(t, cfg)
					var rs []*ackReader
					var ts []*Tailer
					for _, path := range paths {
						tl, err := s.OpenFile(path)
						if err != nil {
							t.Fatal(err)
						}
						ts = append(ts, tl)
					}
					for _, tl := range ts {
						rs = append(rs, startAckReader(t, tl, 1<<16))
					}
					waitAllLines(t, w, want, rs...)
					for i, r := range rs {
						r.stop()
						ts[i].Close()
					}
					s.Close()
				}
				want := tagged("a1", 1, 10)
				appendFile(t, p("a.log"), want)
				if !tc.bNone {
					appendFile(t, p("b.log"), tagged("b1", 1, 10))
					want += tagged("b1", 1, 10)
				}
				run(want)

				want = "" // the lines of the first run are not read again
				tc.move(t, p)
				ents, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					l := tagged("2-"+e.Name(), 1, 10)
					appendFile(t, p(e.Name()), l)
					want += l
				}
				for _, n := range []string{"a.log", "b.log"} {
					if _, err := os.Stat(p(n)); os.IsNotExist(err) {
						l := tagged("2-new-"+n, 1, 10)
						appendFile(t, p(n), l)
						want += l
					}
				}
				run(want)
			})
		}
	}
}

// TestRestartFileMovedToPathOfOnlyStream: ship a.log b.log, then, while the shipper is
// down, mv a.log b.log, and the shipper restarted with b.log alone: b.log's stream takes
// the file a.log's checkpoint names and reads it on from that checkpoint (the offset
// a.log's stream shipped up to), not again from its start.
func TestRestartFileMovedToPathOfOnlyStream(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	appendFile(t, a, tagged("a1", 1, 10))
	appendFile(t, b, tagged("b1", 1, 10))
	run := func(want string, paths ...string) {
		t.Helper()
		s := openSet(t, cfg)
		var rs []*ackReader
		var ts []*Tailer
		for _, path := range paths {
			tl, err := s.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, tl)
			rs = append(rs, startAckReader(t, tl, 1<<16))
		}
		waitAllLines(t, w, want, rs...)
		for i, r := range rs {
			r.stop()
			ts[i].Close()
		}
		s.Close()
	}
	run(tagged("a1", 1, 10)+tagged("b1", 1, 10), a, b)
	mustRename(t, a, b)
	appendFile(t, b, tagged("a2", 1, 10))
	run(tagged("a2", 1, 10), b)
}
