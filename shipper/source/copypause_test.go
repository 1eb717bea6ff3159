package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logrotateCopy does what logrotate copytruncate with a rotate count does: shift
// path.N to path.N+1 (oldest first), copy path to path.1, truncate path.
func logrotateCopy(t *testing.T, path string, keep int) {
	t.Helper()
	for i := keep - 1; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTruncate(t, path, path+".1")
}

// TestTailCopiesDuringPause: two or three copytruncate rotations (logrotate with a rotate
// count: path.1 renamed path.2, a new copy at path.1) while reading is held (SIGSTOP, a
// full window), of a file read in part or never read (empty whenever the tailer looked):
// every copy is drained in order, the first from the read offset, then the live file.
func TestTailCopiesDuringPause(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, seen := range []bool{true, false} {
			t.Run(fmt.Sprintf("copies=%d-seen=%v", n, seen), func(t *testing.T) {
				cfg, w := modelConfig(t)
				s := newSources(t, cfg)
				path := filepath.Join(t.TempDir(), "access.log")
				appendFile(t, path, "")
				want := ""
				got := ""
				tl := openTailer(t, s, path)
				if seen {
					appendFile(t, path, lines("a", 1, 10))
					want += lines("a", 1, 10)
				}
				stamp(t, path, 0)
				got += readAll(t, w, tl, 64<<10)
				sec := 1
				for i := 0; i < n; i++ {
					tag := string(rune('b' + i))
					appendFile(t, path, lines(tag, 1, 10+i))
					want += lines(tag, 1, 10+i)
					stamp(t, path, sec)
					logrotateCopy(t, path, 30)
					stamp(t, path+".1", sec+1)
					sec += 2
				}
				appendFile(t, path, lines("z", 1, 5))
				want += lines("z", 1, 5)
				stamp(t, path, sec)
				got += readAll(t, w, tl, 64<<10)
				wantRead(t, got, want)
				if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
					t.Errorf("lost bytes %v, want 0", lost)
				}
			})
		}
	}
}

// TestTailCopyInWindowWhenBackToLive: after draining copytruncate's copy, the tailer goes
// back to the live file while logrotate copies it again (the next rotation: the copy
// made, the file not truncated yet); the truncation comes before the tailer read a byte
// of the live file (at once, or between its look at the file and its first read). The
// live file's content then is in the new copy: drained before what was written after the
// truncation, nothing lost and nothing counted lost.
func TestTailCopyInWindowWhenBackToLive(t *testing.T) {
	for _, c := range []struct {
		at     string
		refill int
	}{{"stat", 5}, {"stat", 40}, {"entered", 5}, {"entered", 40}} {
		at := c.at
		t.Run(fmt.Sprintf("%s-refill=%d", c.at, c.refill), func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 10))
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			got := readAll(t, w, tl, 64<<10)
			// Held (a SIGSTOP): written, copied and truncated, written again.
			appendFile(t, path, lines("a", 11, 20))
			stamp(t, path, 1)
			logrotateCopy(t, path, 30)
			stamp(t, path+".1", 2)
			appendFile(t, path, lines("b", 1, 20))
			stamp(t, path, 3)
			done := false
			tl.backHook = func(stage string) {
				if done {
					return
				}
				if stage == "stat" {
					// The next rotation copies the live file...
					logrotateCopyOnly(t, path, 30)
					stamp(t, path+".1", 4)
				}
				if stage == at {
					// ...and truncates it; the writer goes on.
					done = true
					if err := os.Truncate(path, 0); err != nil {
						t.Fatal(err)
					}
					appendFile(t, path, lines("c", 1, c.refill))
					stamp(t, path, 5)
				}
			}
			got += readAll(t, w, tl, 64<<10)
			wantRead(t, got, lines("a", 1, 20)+lines("b", 1, 20)+lines("c", 1, c.refill))
			if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
				t.Errorf("lost bytes %v, want 0", lost)
			}
		})
	}
}

// logrotateCopyOnly is logrotateCopy without the truncation (copytruncate's window).
func logrotateCopyOnly(t *testing.T, path string, keep int) {
	t.Helper()
	for i := keep - 1; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyOnly(t, path, path+".1")
}

// TestTailCopyTruncateBetweenLookAndRead: the followed file is copied and truncated
// (logrotate copytruncate), and written again, between the tailer's look at its size and
// time and the reads that check its head (the shipper stopped right then: SIGSTOP). The
// rest of the content read is in the copy, made after that look: drained from the read
// offset before the new content, nothing lost and nothing counted lost. So too for a
// file never read (empty whenever the tailer looked), and whether the new content is
// shorter or longer than the file was at the look.
func TestTailCopyTruncateBetweenLookAndRead(t *testing.T) {
	for _, blind := range []bool{false, true} {
		for _, refill := range []int{3, 40} {
			t.Run(fmt.Sprintf("blind=%v-refill=%d", blind, refill), func(t *testing.T) {
				cfg, w := modelConfig(t)
				s := newSources(t, cfg)
				path := filepath.Join(t.TempDir(), "access.log")
				appendFile(t, path, "")
				want := ""
				if !blind {
					appendFile(t, path, lines("a", 1, 10))
					want = lines("a", 1, 10)
				}
				stamp(t, path, 0)
				tl := openTailer(t, s, path)
				got := readAll(t, w, tl, 64<<10)
				appendFile(t, path, lines("b", 1, 20))
				want += lines("b", 1, 20)
				stamp(t, path, 1)
				done := false
				tl.checkHook = func() {
					if done {
						return
					}
					done = true
					logrotateCopy(t, path, 30)
					stamp(t, path+".1", 2)
					appendFile(t, path, lines("c", 1, refill))
					stamp(t, path, 3)
				}
				got += readAll(t, w, tl, 64<<10)
				wantRead(t, got, want+lines("c", 1, refill))
				if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
					t.Errorf("lost bytes %v, want 0", lost)
				}
			})
		}
	}
}

// TestTailReadCopyThenUnreadCopy: the tailer read the file past copytruncate's copy (lines
// written in its window, read before the truncation), then, while reading was held, the
// file was written, copied again (the first copy renamed path.2, the new one path.1) and
// truncated: the first copy holds only bytes read, the second what was never read. The
// second is drained before the live file (it was taken for the first, the oldest copy
// changed since the last look, and skipped whole), with or without the looker's looks
// between (a full window).
func TestTailReadCopyThenUnreadCopy(t *testing.T) {
	for _, looks := range []bool{false, true} {
		t.Run(map[bool]string{false: "held", true: "looked"}[looks], func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 10))
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			got := readAll(t, w, tl, 64<<10)
			logrotateCopyOnly(t, path, 30)
			stamp(t, path+".1", 1)
			appendFile(t, path, lines("a", 11, 11)) // in copytruncate's window, read
			stamp(t, path, 1)
			got += readAll(t, w, tl, 64<<10)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			look := func() {
				if looks {
					tl.lookFor()
				}
			}
			appendFile(t, path, lines("b", 1, 20))
			stamp(t, path, 2)
			look()
			logrotateCopy(t, path, 30)
			stamp(t, path+".1", 3)
			look()
			appendFile(t, path, lines("c", 1, 2))
			stamp(t, path, 4)
			look()
			got += readAll(t, w, tl, 64<<10)
			wantRead(t, got, lines("a", 1, 11)+lines("b", 1, 20)+lines("c", 1, 2))
			if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
				t.Errorf("lost bytes %v, want 0", lost)
			}
		})
	}
}

// TestTailBackToLiveBusyThenCopied: as the tailer goes back to the live file, the file is
// written between each of its looks (a busy file), then copied and truncated between the
// last look and the read of its head: the look is done again until the file holds still
// or was not truncated meanwhile (a bound on looks again at a file that only grows does
// not leave it with a head cut short, taking the new content for the one seen).
func TestTailBackToLiveBusyThenCopied(t *testing.T) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 10))
	got := readAll(t, w, tl, 64<<10)
	appendFile(t, path, lines("a", 11, 20))
	stamp(t, path, 1)
	logrotateCopy(t, path, 30)
	stamp(t, path+".1", 2)
	appendFile(t, path, lines("b", 1, 20))
	stamp(t, path, 3)
	want := lines("a", 1, 20) + lines("b", 1, 20)
	looks := 0
	tl.backHook = func(stage string) {
		if stage != "stat" {
			return
		}
		looks++
		switch {
		case looks < maxRelooks:
			appendFile(t, path, lines("b", 20+looks, 20+looks)) // written during the look
			want += lines("b", 20+looks, 20+looks)
			stamp(t, path, 3+looks)
		case looks == maxRelooks:
			logrotateCopy(t, path, 30)
			stamp(t, path+".1", 10)
			appendFile(t, path, lines("c", 1, 3))
			stamp(t, path, 11)
		}
	}
	got += readAll(t, w, tl, 64<<10)
	wantRead(t, got, want+lines("c", 1, 3))
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost bytes %v, want 0", lost)
	}
}

// TestTailCopyTruncateBetweenCheckAndRead: the followed file is copied and truncated
// (logrotate copytruncate) and written again after check looked at it (its size, time and
// head) and before the read that follows (the shipper stopped right then: SIGSTOP). The
// read at the old offset finds the new content: those bytes are not taken for the
// generation's (they were shipped, and shipped again from the new content's start once
// the truncation was seen, or the copy's bytes beyond the read offset lost); the copy is
// drained from the read offset, then the new content from its start. So too for a file
// never read (empty when check looked: the copy holds what was written before it).
func TestTailCopyTruncateBetweenCheckAndRead(t *testing.T) {
	for _, blind := range []bool{false, true} {
		for _, refill := range []int{3, 40} {
			t.Run(fmt.Sprintf("blind=%v-refill=%d", blind, refill), func(t *testing.T) {
				cfg, w := modelConfig(t)
				s := newSources(t, cfg)
				path := filepath.Join(t.TempDir(), "access.log")
				appendFile(t, path, "")
				want := ""
				if !blind {
					appendFile(t, path, lines("a", 1, 10))
					want = lines("a", 1, 10)
				}
				stamp(t, path, 0)
				tl := openTailer(t, s, path)
				got := readAll(t, w, tl, 64<<10)
				if !blind {
					appendFile(t, path, lines("b", 1, 20))
					want += lines("b", 1, 20)
					stamp(t, path, 1)
				}
				done := false
				tl.readHook = func() {
					if done {
						return
					}
					done = true
					if blind {
						appendFile(t, path, lines("b", 1, 20))
						want += lines("b", 1, 20)
						stamp(t, path, 1)
					}
					logrotateCopy(t, path, 30)
					stamp(t, path+".1", 2)
					appendFile(t, path, lines("c", 1, refill))
					stamp(t, path, 3)
				}
				got += readAll(t, w, tl, 64<<10)
				if !done {
					t.Fatal("the tailer did not read")
				}
				w.Tick() // the writes' events, queued while it was held
				got += readAll(t, w, tl, 64<<10)
				wantRead(t, got, want+lines("c", 1, refill))
				if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
					t.Errorf("lost bytes %v, want 0", lost)
				}
			})
		}
	}
}

// TestTailCopyShiftedDuringLook: two copytruncate rotations while reading was held (the
// copy of what was read, then a copy of what was written after), the second one's shift
// of numbered names (path.1 renamed path.2, a new path.1) done while the tailer looked
// for the copy of what it read (between the listing and its look at the names): that
// copy, missed by the look, is drained from the read offset, not read again from its
// start as a copy never read (its lines read twice), then the next copy, then the file.
func TestTailCopyShiftedDuringLook(t *testing.T) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 24))
	got := readAll(t, w, tl, 64<<10)
	appendFile(t, path, lines("a", 25, 25))
	stamp(t, path, 1)
	logrotateCopy(t, path, 30)
	stamp(t, path+".1", 2)
	appendFile(t, path, lines("b", 1, 2))
	stamp(t, path, 3)
	done := false
	tl.listHook = func() {
		if done {
			return
		}
		done = true
		logrotateCopy(t, path, 30)
		stamp(t, path+".2", 2)
		stamp(t, path+".1", 4)
		appendFile(t, path, lines("c", 1, 2))
		stamp(t, path, 5)
	}
	got += readAll(t, w, tl, 64<<10)
	if !done {
		t.Fatal("the tailer did not look for a copy")
	}
	w.Tick()
	got += readAll(t, w, tl, 64<<10)
	wantRead(t, got, lines("a", 1, 25)+lines("b", 1, 2)+lines("c", 1, 2))
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost bytes %v, want 0", lost)
	}
}
