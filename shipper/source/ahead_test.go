package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logrotate rotates path as `rotate 2` does (without compression): the oldest rotated
// generation is deleted, the others renamed one up, the file renamed to NAME.1, and a new
// file created at path.
func logrotate(t *testing.T, path string, keep int) {
	t.Helper()
	if err := os.Remove(path + "." + itoa(keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(path+"."+itoa(i), path+"."+itoa(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// aheadOf returns, under the tailer's lock, the entry it keeps for the file at name
// (nil if none).
func aheadOf(t *testing.T, tl *Tailer, name string) *aheadFile {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	tl.mu.Lock()
	defer tl.unlockLooks()
	i := slices.IndexFunc(tl.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
	if i < 0 {
		return nil
	}
	a := tl.ahead[i]
	return &a
}

// TestTailRotationsWhileBehind: the reader stops calling Next (a full window) in the
// middle of the first generation while the log is rotated five times with `rotate 2`:
// the followed generation and the two after it are deleted before the tailer gets to
// them. The tailer learns of each rotation by fsnotify events (the Set's looker looks
// while Next is not running):
//   - held: each new generation is held open (spare descriptors) and drained in its
//     turn after its deletion; nothing is lost;
//   - no-slot: no descriptor is free; the deleted generations' bytes (their size at the
//     last look) are counted in lost_bytes_total and the rest is shipped;
//   - unseen: the tailer cannot look between the rotations (its lock is held): the two
//     generations created and deleted meanwhile were never seen, and are counted as
//     missed (files_missed_total), never silently; the two rotated ones still there are
//     held and drained.
func TestTailRotationsWhileBehind(t *testing.T) {
	for _, mode := range []string{"held", "no-slot", "unseen"} {
		t.Run(mode, func(t *testing.T) {
			gens := []string{lines("g0-", 1, 40)}
			// A few lines of g0; then the window is full.
			s, w, path, tl, first := behindTailer(t, gens[0])
			if mode == "no-slot" { // every other slot taken: the tailer has its own only
				for s.fds.tryAcquire() {
					t.Cleanup(s.fds.release)
				}
			}
			if mode == "unseen" {
				tl.mu.Lock() // the looker cannot look
			}
			for r := 1; r <= 5; r++ {
				logrotate(t, path, 2)
				gens = append(gens, lines("g"+itoa(r)+"-", 1, 10+r))
				appendFile(t, path, gens[r])
				stamp(t, path, r)
				if mode == "unseen" {
					continue
				}
				// The looker saw the new file at the path (and held it, with a slot).
				testsupport.Eventually(t, func() bool {
					a := aheadOf(t, tl, path)
					return a != nil && (mode == "no-slot" || a.f != nil)
				}, "rotation %d: the new file seen ahead", r)
			}
			if mode == "unseen" {
				tl.unlockLooks()
				testsupport.Eventually(t, func() bool {
					w.Tick()
					return testutil.ToFloat64(s.m.FilesMissed) == 2
				}, "2 generations counted as missed")
			}
			got := string(first.Data) + readAll(t, w, tl, 64<<10)
			lost := testutil.ToFloat64(s.m.LostBytes)
			missed := testutil.ToFloat64(s.m.FilesMissed)
			var want string
			var wantLost float64
			wantMissed := 0.0
			switch mode {
			case "held":
				want = strings.Join(gens, "")
			case "no-slot":
				want = gens[0] + gens[3] + gens[4] + gens[5]
				wantLost = float64(len(gens[1]) + len(gens[2]))
			case "unseen":
				want = gens[0] + gens[3] + gens[4] + gens[5]
				wantMissed = 2
			}
			wantRead(t, got, want)
			if lost != wantLost || missed != wantMissed {
				t.Errorf("lost_bytes_total %v, files_missed_total %v; want %v, %v", lost, missed, wantLost, wantMissed)
			}
		})
	}
}

// TestTailRotationsNotBehindNoMissed: a tailer that keeps up (its reader always in Next)
// while the log is rotated (rename, `rotate 2`) and deleted and created again, many times
// (ext4 reuses the freed inodes at once): every creation of the path matches a file the
// tailer saw, so nothing is counted missed or lost, and every line arrives once.
func TestTailRotationsNotBehindNoMissed(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("r0-", 1, 3))
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	want := lines("r0-", 1, 3)
	r.waitFor([]byte(want), w)
	for i := 1; i <= 40; i++ {
		if i%2 == 0 {
			logrotate(t, path, 2)
		} else if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		tag := "r" + string(rune('a'+i%26)) + itoa(i%10) + "-"
		appendFile(t, path, lines(tag, 1, 1+i%4))
		want += lines(tag, 1, 1+i%4)
		r.waitFor([]byte(want), w)
	}
	if lost, missed := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesMissed); lost != 0 || missed != 0 {
		t.Errorf("lost_bytes_total %v, files_missed_total %v; want 0, 0", lost, missed)
	}
}
