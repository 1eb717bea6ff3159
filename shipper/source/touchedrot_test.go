package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// createBornAfter creates name with data once the kernel's clock stamps births after
// prev (the birth time of the file created before it; births are stamped with a coarse
// clock, so files created within one of its ticks are born at the same time), and
// returns its birth time.
func createBornAfter(t *testing.T, name, data string, prev int64) int64 {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe")
	testsupport.EventuallyErr(t, func() error {
		appendFile(t, probe, "")
		defer os.Remove(probe)
		if b := bornAt(probe); b <= prev {
			return fmt.Errorf("birth time %d, not after %d yet", b, prev)
		}
		return nil
	})
	appendFile(t, name, data)
	return bornAt(name)
}

// TestTailRotatedClockOddities is bench case 19: the tailer is held (the shipper
// SIGSTOPped: no look runs) while the log is rotated three times (logrotate create), then
// the generations it has not read get odd modification times before it looks again:
// touched into the past (a backup restore, a clock fixed backwards), into the future,
// swapped, or every new file stamped before the tailer began (the system clock stepped
// back). Every line is read once, each generation in the order it was created, and no
// file is counted missed: the rotated files created since the tailer began are told by
// their birth times (statx's btime), which none of these change. Taken by their
// modification times, those touched into the past were older generations: their
// creations matched nothing, counted in files_missed_total and logged as lines not
// shipped, though the walk drained them; and .1 was drained before .2.
func TestTailRotatedClockOddities(t *testing.T) {
	if bornAt(t.TempDir()) == 0 {
		t.Skip("the file system keeps no birth times")
	}
	long := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		touch map[string]time.Time // rotated name (or "" for the path) -> modification time
	}{
		{name: "past", touch: map[string]time.Time{".1": long, ".2": long}},
		{name: "future", touch: map[string]time.Time{".3": time.Now().AddDate(1, 0, 0)}},
		{name: "swap", touch: map[string]time.Time{".1": time.Now().Add(-10 * time.Minute), ".3": time.Now().Add(-5 * time.Minute)}},
		{name: "clock stepped back", touch: map[string]time.Time{
			".1": time.Now().Add(-time.Hour), ".2": time.Now().Add(-2 * time.Hour), "": time.Now().Add(-time.Hour / 2)}},
		{name: "untouched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.RotateWait = 0
			s := newSources(t, cfg)
			if s.watcher == nil {
				t.Fatal("no fsnotify watcher")
			}
			path := filepath.Join(t.TempDir(), "access.log")
			born := createBornAfter(t, path, lines("a", 1, 10), 0)
			tl := openTailer(t, s, path)
			got := string(next(t, tl, 75*4).Data)

			// SIGSTOP: no look runs (the looker skips a tailer whose lock is held)
			// until the rotations and touches are done and their events counted.
			tl.mu.Lock()
			appendFile(t, path, lines("a", 11, 20))
			want := lines("a", 1, 20)
			for _, tag := range []string{"b", "c", "d"} {
				logrotate(t, path, 9)
				born = createBornAfter(t, path, lines(tag, 1, 10), born)
				want += lines(tag, 1, 10)
			}
			for suffix, at := range tc.touch {
				if err := os.Chtimes(path+suffix, at, at); err != nil {
					tl.mu.Unlock()
					t.Fatal(err)
				}
			}
			testsupport.EventuallyErr(t, func() error {
				if n := tl.creates.Load(); n < 3 {
					return fmt.Errorf("%d creations of the path counted, want 3", n)
				}
				return nil
			})
			tl.lookWanted.Store(true)
			tl.mu.Unlock()

			got += readAll(t, w, tl, 64<<10)
			if got != want {
				t.Fatalf("read\n%s\nwant (each generation once, in the order created)\n%s", got, want)
			}
			if n := testutil.ToFloat64(s.m.FilesMissed); n != 0 {
				t.Errorf("files missed %v, want 0 (every generation was read)", n)
			}
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost bytes %v, want 0", n)
			}
		})
	}
}

// TestGenBefore: generations are ordered by modification time, unless either's is
// before its birth time (touched into the past): then by birth time.
func TestGenBefore(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	for _, tc := range []struct {
		name   string
		ab, bb int64
		am, bm time.Time
		want   bool
	}{
		{name: "by mtime", ab: ns(0), bb: ns(time.Minute), am: t0.Add(time.Hour), bm: t0.Add(2 * time.Hour), want: true},
		{name: "both touched into the past: by birth", ab: ns(0), bb: ns(time.Minute), am: t0.Add(-time.Hour), bm: t0.Add(-time.Hour), want: true},
		{name: "newer touched into the past (swap)", ab: ns(time.Minute), bb: ns(0), am: t0.Add(-10 * time.Minute), bm: t0.Add(30 * time.Second), want: false},
		{name: "newer touched into the past, older written after its birth", ab: ns(time.Minute), bb: ns(0), am: t0.Add(-10 * time.Minute), bm: t0.Add(time.Minute + time.Second), want: false},
		{name: "older touched into the past", ab: ns(0), bb: ns(time.Minute), am: t0.Add(-10 * time.Minute), bm: t0.Add(2 * time.Minute), want: true},
		{name: "copy born after what it holds, times kept: by mtime", ab: ns(time.Minute), bb: ns(0), am: t0.Add(2 * time.Minute), bm: t0.Add(3 * time.Minute), want: true},
		{name: "same tick of birth: by mtime", ab: ns(0), bb: ns(0), am: t0, bm: t0.Add(time.Second), want: true},
		{name: "birth unknown: by mtime", ab: 0, bb: ns(0), am: t0.Add(-time.Hour), bm: t0.Add(-time.Minute), want: true},
		{name: "equal: not before", ab: ns(0), bb: ns(0), am: t0, bm: t0, want: false},
		{name: "same tick: by birth", ab: ns(0), bb: ns(time.Millisecond), am: t0.Add(time.Second), bm: t0.Add(time.Second), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := genBefore(tc.ab, tc.am, tc.bb, tc.bm); got != tc.want {
				t.Errorf("genBefore(%d, %v, %d, %v) = %v, want %v", tc.ab, tc.am, tc.bb, tc.bm, got, tc.want)
			}
		})
	}
}
