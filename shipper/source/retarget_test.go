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

// TestTailLingersOnRetargetedSymlink: a deployment's switch. The followed path goes
// through a symlink (current -> releases/r1, or the log itself a link to r1's file)
// retargeted to another release whose log already has lines; the old release's writer
// keeps its descriptor until it restarts, seconds later, and goes on appending to r1's
// file. The file left is followed for RotateWait like a renamed generation: every line
// of both files is read once, in order within its file, also once the old release's
// directory is deleted while its writer still appends. (Before: r1's later lines were
// never read, the file left at once because it is neither deleted nor under a rotated
// name of the path.)
func TestTailLingersOnRetargetedSymlink(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fileLnk bool // the log is a link to the release's file, not below a linked directory
		rmOld   bool // the old release's directory is deleted after the switch
	}{
		{name: "directory"},
		{name: "file", fileLnk: true},
		{name: "old release deleted", rmOld: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.RotateWait = time.Hour // never over during the test
			s := newSources(t, cfg)
			root := t.TempDir()
			logOf := func(r string) string { return filepath.Join(root, "releases", r, "log", "access.log") }
			for _, r := range []string{"r1", "r2"} {
				mkdirAll(t, filepath.Dir(logOf(r)))
			}
			link, target, path := filepath.Join(root, "current"), func(r string) string { return filepath.Join(root, "releases", r) }, filepath.Join(root, "current", "log", "access.log")
			if tc.fileLnk {
				mkdirAll(t, filepath.Join(root, "log"))
				link, target, path = filepath.Join(root, "log", "access.log"), logOf, filepath.Join(root, "log", "access.log")
			}
			old := openAppend(t, logOf("r1"))
			writeString(t, old, "old 0\n")
			if err := os.Symlink(target("r1"), link); err != nil {
				t.Fatal(err)
			}
			tl := openTailer(t, s, path)
			r := startReader(t, acking{tl}, 64<<10)
			r.waitFor([]byte("old 0\n"), w)

			// The new release starts and writes before the link is switched to it.
			live := openAppend(t, logOf("r2"))
			writeString(t, live, "new 0\n")
			symlinkOver(t, target("r2"), link)
			r.waitFor([]byte("old 0\nnew 0\n"), w)
			got := writeBoth(t, r, w, old, live, 2, 1, 50, 10, func(i int) {
				if tc.rmOld && i == 26 {
					// The old release removed while its writer still holds its log.
					if err := os.RemoveAll(target("r1")); err != nil {
						t.Fatal(err)
					}
				}
			})
			checkGenerations(t, got, map[string]int{"old": 51, "new": 51})
		})
	}
}

// TestTailRetargetedSymlinkLeftAfterRotateWait: the old target of a retargeted symlink
// is followed for RotateWait after its last growth only: once its writer stopped (the
// old release's server restarted), its descriptor is closed. (RotateWait is short here;
// the old writer's one line is appended right after the switch was seen, well within.)
func TestTailRetargetedSymlinkLeftAfterRotateWait(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = 2 * time.Second
	s := newSources(t, cfg)
	root := t.TempDir()
	r1, r2 := filepath.Join(root, "r1", "access.log"), filepath.Join(root, "r2", "access.log")
	mkdirAll(t, filepath.Dir(r1))
	mkdirAll(t, filepath.Dir(r2))
	appendFile(t, r1, "old 0\n")
	link := filepath.Join(root, "access.log")
	if err := os.Symlink(r1, link); err != nil {
		t.Fatal(err)
	}
	tl := openTailer(t, s, link)
	r := startReader(t, acking{tl}, 64<<10)
	r.waitFor([]byte("old 0\n"), w)
	appendFile(t, r2, "new 0\n")
	symlinkOver(t, r2, link)
	r.waitFor([]byte("old 0\nnew 0\n"), w)
	appendFile(t, r1, "old 1\n")
	got := waitLines(t, r, w, 3)
	checkGenerations(t, got, map[string]int{"old": 2, "new": 1})
	testsupport.Eventually(t, func() bool { w.Tick(); return openFDs(t, r1) == 0 }, "the old target is still open")
	if n := openFDs(t, r2); n != 1 {
		t.Errorf("%d descriptors open on the new target, want 1", n)
	}
}

// TestTailRetargetedSymlinkSwitchedBack: a deployment rolled back while the old
// release's log lingers (current -> r2, then back to r1): the file the path names again
// is the one lingering, read on from where it was left, and the new release's file,
// left in turn, lingers while its writer still appends. Every line once, in order
// within its file.
func TestTailRetargetedSymlinkSwitchedBack(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour // never over during the test
	s := newSources(t, cfg)
	root := t.TempDir()
	rel := func(r string) string { return filepath.Join(root, "releases", r) }
	var files []*os.File
	for _, r := range []string{"r1", "r2"} {
		mkdirAll(t, filepath.Join(rel(r), "log"))
		files = append(files, openAppend(t, filepath.Join(rel(r), "log", "access.log")))
	}
	old, live := files[0], files[1]
	current := filepath.Join(root, "current")
	if err := os.Symlink(rel("r1"), current); err != nil {
		t.Fatal(err)
	}
	writeString(t, old, "old 0\n")
	tl := openTailer(t, s, filepath.Join(current, "log", "access.log"))
	r := startReader(t, acking{tl}, 64<<10)
	r.waitFor([]byte("old 0\n"), w)
	writeString(t, live, "new 0\n")
	symlinkOver(t, rel("r2"), current)
	waitLines(t, r, w, 2)
	writeString(t, old, "old 1\n")
	writeString(t, live, "new 1\n")
	waitLines(t, r, w, 4)
	// Rolled back: r1's server is the live one again, r2's still ends its requests.
	symlinkOver(t, rel("r1"), current)
	got := writeBoth(t, r, w, old, live, 4, 2, 21, 5, nil)
	checkGenerations(t, got, map[string]int{"old": 22, "new": 22})
}

// TestTailRetargetedSymlinkRestart: the shipper restarts (closed, or killed) while the
// old release's log lingers (current switched from r1 to r2, r1's server still
// appending): after (a) a restart with the lines read from r1 acknowledged, (b) one with
// them not acknowledged (sent again at the offsets they had, or after, never another
// line at their offsets), and (c) one before any of r1's later lines were read, every
// line of r1 and r2 is read once and no offset carries two lines, what r1's writer
// appends after the restart too: the run after finds r1 by the name it had (recorded
// with where it was left, genEntry.Name). (Before: r1 is no rotated name of the path, the
// run after did not look for it, and its lines written after the switch were lost
// without a count: the breaker's case 10, 115 of 150.)
func TestTailRetargetedSymlinkRestart(t *testing.T) {
	for _, how := range []string{"acked", "unacked", "unread", "unread killed", "unacked killed"} {
		t.Run(how, func(t *testing.T) {
			r, a, b, rel, current := newReleasesRig(t)
			r.write(b, "b 0\n")
			symlinkOver(t, rel("r2"), current)
			r.readWant(true, "b 0\n", "read %q, want b's line")
			r.write(a, "a 1\n")
			switch strings.TrimSuffix(how, " killed") {
			case "acked":
				r.readAll()
			case "unacked":
				r.readWant(false, "a 1\n", "read %q, want a's line appended after the switch")
			}
			if strings.HasSuffix(how, " killed") {
				r.kill()
				r.start()
			} else {
				r.restart()
			}
			r.write(b, "b 1\n")
			r.readAll()
			r.write(a, "a 2\n") // r1's server, after the restart
			r.write(b, "b 2\n")
			r.readAll()
			r.readAll()
			r.check(map[string]int{"a": 3, "b": 3})
		})
	}
}

// TestTailSymlinkedRotatedOldWriter: a followed symlink (lnk/access.log) leads to
// logs/access.log, which logrotate renames to logs/access.log.1 (create) while a writer
// holds it open and appends after the rotation. The rotated name is in the target's
// directory: it was no rotated name of the path for lingering (only for finding
// generations), so the file was left at once and what its old writer appended was never
// read, silently (a breaker's run: 100 of 300 lines, 9 of 9). It lingers as a renamed
// generation of an unlinked path does.
func TestTailSymlinkedRotatedOldWriter(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	logs, lnk := filepath.Join(dir, "logs"), filepath.Join(dir, "lnk")
	for _, d := range []string{logs, lnk} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(logs, "access.log")
	old := openAppend(t, target)
	if err := os.Symlink(target, filepath.Join(lnk, "access.log")); err != nil {
		t.Fatal(err)
	}
	tl, err := s.OpenFile(filepath.Join(lnk, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	read := func() {
		t.Helper()
		for _, c := range readChunks(t, w, tl, 64<<10) {
			for l := range strings.Lines(string(c.Data)) {
				got = append(got, l)
			}
			if err := tl.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeString(t, old, tagged("a", 0, 4))
	read()
	mustRename(t, target, target+".1")
	writeString(t, openAppend(t, target), tagged("b", 0, 4))
	read()
	writeString(t, old, tagged("a", 5, 9)) // the old writer, into access.log.1
	read()
	read()
	checkGenerations(t, got, map[string]int{"a": 10, "b": 5})
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTailRetargetedWhileDown: the link is switched (current from r1 to r2) while the
// shipper is down, or while it is behind (the checkpoint in r1, its rest not read yet),
// and r1's writer appends after the restart too. The restart finds the checkpointed
// file by the name it had (Checkpoint.Target), drains it, then reads r2 from its start,
// r1 lingering meanwhile: every line once. (Before: the checkpointed file was taken for
// gone, "not found at the path or any rotated name", though still there whole: the
// breaker's cases 10 with DOWN=1, 20 and 21.)
func TestTailRetargetedWhileDown(t *testing.T) {
	for _, how := range []string{"closed", "killed"} {
		t.Run(how, func(t *testing.T) {
			r, a, b, rel, current := newReleasesRig(t)
			r.write(a, "a 1\na 2\n") // not read: the shipper is behind
			if how == "killed" {
				r.kill()
			} else {
				r.tl.Close()
			}
			r.write(b, "b 0\n")
			symlinkOver(t, rel("r2"), current)
			r.write(a, "a 3\n")
			r.start()
			r.readAll()
			r.write(a, "a 4\n") // r1's server, after the restart
			r.write(b, "b 1\n")
			r.readAll()
			r.readAll()
			r.check(map[string]int{"a": 5, "b": 2})
		})
	}
}

// TestTailRetargetedBothWritten: after a deployment's switch, both releases' servers
// append (the old one until it restarts): what r1's writer appends is read while r2's
// goes on growing, not only once r2 goes quiet, and r2's while r1's grows. Nothing is
// acknowledged until the test says: the tailer moves between the files only once what
// was returned is acknowledged, and reads neither further meanwhile. (Before: r2 read
// on with every write, each leaving a chunk unacknowledged, and r1's lines waited until
// r2's writer paused; then the reverse.)
func TestTailRetargetedBothWritten(t *testing.T) {
	r, a, b, rel, current := newReleasesRig(t)
	r.write(b, "b 0\n")
	symlinkOver(t, rel("r2"), current)
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(a, "a 1\n")
	r.write(b, "b 1\n")
	r.readHold("b 1\n")
	r.write(b, "b 2\n")
	r.readHold("") // r1 grew: r2 is read no further until b 1 is acknowledged
	r.ackHeld()
	r.readHold("a 1\n")
	r.write(a, "a 2\n")
	r.readHold("") // r2 grew: r1 is read no further until a 1 is acknowledged
	r.ackHeld()
	r.readHold("b 2\n")
	r.ackHeld()
	r.readHold("a 2\n")
	r.ackHeld()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 3})
}

// TestTailRetargetedOldTargetFollowedElsewhere: the old target of a retargeted link is
// also followed by its own name, by another source (cronolog's access.log and the day's
// file both given). After a restart, the link's stream does not read on what was
// appended to it (found by the name it had): the other source reads it, and each line
// is read once across both streams.
func TestTailRetargetedOldTargetFollowedElsewhere(t *testing.T) {
	for _, linkFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("link opened first %v", linkFirst), func(t *testing.T) {
			testTailRetargetedOldTargetFollowedElsewhere(t, linkFirst)
		})
	}
}

func testTailRetargetedOldTargetFollowedElsewhere(t *testing.T, linkFirst bool) {
	cfg, w := modelConfig(t)
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	s := newSources(t, cfg)
	root := t.TempDir()
	r1, r2, link := filepath.Join(root, "day1.log"), filepath.Join(root, "day2.log"), filepath.Join(root, "access.log")
	a, b := openAppend(t, r1), openAppend(t, r2)
	writeString(t, a, "a 0\n")
	if err := os.Symlink(r1, link); err != nil {
		t.Fatal(err)
	}
	var lines []string
	open := func() (lt, dt *Tailer) {
		t.Helper()
		var err error
		if linkFirst {
			if lt, err = s.OpenFile(link); err != nil {
				t.Fatal(err)
			}
		}
		if dt, err = s.OpenFile(r1); err != nil {
			t.Fatal(err)
		}
		if !linkFirst {
			if lt, err = s.OpenFile(link); err != nil {
				t.Fatal(err)
			}
		}
		return lt, dt
	}
	read := func(tls ...*Tailer) {
		t.Helper()
		for range 3 {
			for _, tl := range tls {
				for _, c := range readChunks(t, w, tl, 64<<10) {
					for l := range strings.Lines(string(c.Data)) {
						lines = append(lines, strings.TrimSuffix(l, "\n"))
					}
					if err := tl.Ack(c.Pos); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	lt, dt := open()
	read(lt, dt)
	writeString(t, b, "b 0\n")
	symlinkOver(t, r2, link)
	writeString(t, a, "a 1\n")
	read(lt, dt)
	lt.Close()
	dt.Close()
	writeString(t, a, "a 2\n")
	lt, dt = open()
	defer lt.Close()
	defer dt.Close()
	writeString(t, a, "a 3\n")
	writeString(t, b, "b 1\n")
	read(lt, dt)
	slices.Sort(lines)
	if want := []string{"a 0", "a 1", "a 2", "a 3", "b 0", "b 1"}; !slices.Equal(lines, want) {
		t.Errorf("read %q, want %q", lines, want)
	}
}

// newReleasesRig starts the retarget tests: releases/r1 and releases/r2 each with an
// access.log (a and b, open for appending), the path current/access.log with current
// a symlink to r1, "a 0" written and read. rel names a release's directory.
func newReleasesRig(t *testing.T) (r *restartRig, a, b *os.File, rel func(string) string, current string) {
	t.Helper()
	r = newRestartRig(t, time.Hour)
	root := t.TempDir()
	rel = func(n string) string { return filepath.Join(root, "releases", n) }
	var files []*os.File
	for _, n := range []string{"r1", "r2"} {
		mkdirAll(t, rel(n))
		files = append(files, openAppend(t, filepath.Join(rel(n), "access.log")))
	}
	a, b = files[0], files[1]
	current = filepath.Join(root, "current")
	if err := os.Symlink(rel("r1"), current); err != nil {
		t.Fatal(err)
	}
	r.path = filepath.Join(current, "access.log")
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	return r, a, b, rel, current
}
