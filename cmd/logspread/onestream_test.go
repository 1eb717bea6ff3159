package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// oneStreamShip starts a shipper on args (read from the beginning) and returns it with
// its metrics address.
func oneStreamShip(t *testing.T, spread, state string, args ...string) (*testsupport.Process, string) {
	t.Helper()
	s := testsupport.StartProcess(t, append([]string{"ship", "--group", "www", "--spread", spread, "--state-dir", state,
		"--from-beginning", "--metrics-addr", "127.0.0.1:0"}, args...)...)
	return s, s.MetricsAddr(t)
}

// waitOneStream waits until the collector wrote n bytes and the shipper had them
// acknowledged, then checks that the shipper read exactly n bytes: no file was read by
// two streams.
func waitOneStream(t *testing.T, c *writtenCollector, addr string, n int) {
	t.Helper()
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(n) })
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(n) })
	if v := testsupport.Metric(t, addr, "logspread_shipper_read_bytes_total"); v != float64(n) {
		t.Errorf("shipper read %v bytes, want %d: a file was read by two streams", v, n)
	}
}

// TestShipOneFileOneStream: every name that reaches a file (the path twice, a path through
// "..", two globs, a symlink and a hard link matched by a glob, a symlink given as an
// argument) ships its lines once, by one stream; the duplicate arguments are warned about,
// naming both.
func TestShipOneFileOneStream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(logs, name) }
	A1, B1 := accessLines("a", 0, 299), accessLines("b", 0, 299)
	A2, B2 := accessLines("a", 300, 599), accessLines("b", 300, 599)
	for name, b := range map[string][]byte{"a.log": A1, "b.log": B1} {
		if err := os.WriteFile(p(name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.log", p("current.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p("b.log"), p("hard.log")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	c := startWrittenCollector(t, spread, "a")
	s, addr := oneStreamShip(t, spread, filepath.Join(dir, "state"),
		p("a.log"), p("a.log"), p("*.log"), p("[ab].log"), logs+"/../logs/b.log" /* not cleaned */, p("current.log"))
	s.WaitLog(t, `msg="the same file is given twice; it is followed once" .*path=\S+/a.log same_as=\S+/a.log`)
	s.WaitLog(t, `msg="the same file is given under two names .* path=\S+/current.log same_as=\S+/a.log`)
	s.WaitLog(t, `msg="the file is matched by a glob given before it; it is followed once, by the glob" .*path=\S+/logs/\.\./logs/b\.log`)
	waitOneStream(t, c, addr, len(A1)+len(B1))
	appendTo(t, p("current.log"), A2) // through the symlink
	appendTo(t, p("hard.log"), B2)    // through the hard link
	waitOneStream(t, c, addr, len(A1)+len(B1)+len(A2)+len(B2))
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A1, B1, A2, B2))
}

// TestShipCronologSymlinkDailySwitch: cronolog --symlink's layout, access.log ->
// access-YYYYMMDD.log, followed by a glob matching both, by the glob and the symlink, or
// by the symlink and the day's file: at the daily switch the new day's file is read by one
// stream, the old day's file keeps its stream (a late line written to it is shipped once,
// never read again from its start), and when the symlink then points to a file no other
// name follows, that file is shipped once too.
func TestShipCronologSymlinkDailySwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	for _, tc := range []struct {
		name string
		args []string // names in the logs directory
	}{
		{"glob", []string{"*.log"}},
		{"glob and symlink", []string{"*.log", "access.log"}},
		{"symlink and day file", []string{"access.log", "access-20261130.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs, other := filepath.Join(dir, "logs"), filepath.Join(dir, "other")
			for _, d := range []string{logs, other} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			p := func(name string) string { return filepath.Join(logs, name) }
			link := p("access.log")
			switchTo := func(target string) {
				t.Helper()
				if err := os.Symlink(target, link+".tmp"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(link+".tmp", link); err != nil {
					t.Fatal(err)
				}
			}
			day1 := accessLines("day1", 0, 499)
			if err := os.WriteFile(p("access-20261130.log"), day1, 0o644); err != nil {
				t.Fatal(err)
			}
			switchTo("access-20261130.log")
			c := startWrittenCollector(t, spread, "a")
			var args []string
			for _, a := range tc.args {
				args = append(args, p(a))
			}
			s, addr := oneStreamShip(t, spread, filepath.Join(dir, "state"), args...)
			want := slices.Clone(day1)
			waitOneStream(t, c, addr, len(want))

			// The daily switch: cronolog creates the new day's file with its first
			// lines, then points the symlink at it and writes on through it.
			day2a, day2b := accessLines("day2", 0, 99), accessLines("day2", 100, 399)
			if err := os.WriteFile(p("access-20261201.log"), day2a, 0o644); err != nil {
				t.Fatal(err)
			}
			switchTo("access-20261201.log")
			appendTo(t, link, day2b)
			late := accessLines("late", 0, 9) // a writer still on yesterday's file
			appendTo(t, p("access-20261130.log"), late)
			want = slices.Concat(want, day2a, day2b, late)
			waitOneStream(t, c, addr, len(want))

			// The symlink points to a file no other name follows (outside the glob).
			day3a, day3b := accessLines("day3", 0, 99), accessLines("day3", 100, 199)
			if err := os.WriteFile(filepath.Join(other, "special.txt"), day3a, 0o644); err != nil {
				t.Fatal(err)
			}
			switchTo(filepath.Join(other, "special.txt"))
			appendTo(t, link, day3b)
			want = slices.Concat(want, day3a, day3b)
			waitOneStream(t, c, addr, len(want))
			if code := s.Terminate(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), want)
		})
	}
}

// TestShipGlobMatchRenamedOverAnotherWhileDown: with a glob following a.log and b.log,
// the shipper stops; a.log is written to and renamed over b.log (b.log's file, read to
// its end, is replaced), and the file is written to at b.log; the shipper starts again.
// a.log's stream reads on its file at b.log from its checkpoint, and b.log's stream leaves
// that file to it (one file, one stream) until a.log's stream leaves it, then reads on
// from there: every line once, none read again from the file's start, nothing counted
// lost (nothing was destroyed unread).
func TestShipGlobMatchRenamedOverAnotherWhileDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(logs, name) }
	A1, B1 := accessLines("a", 0, 299), accessLines("b", 0, 299)
	for name, b := range map[string][]byte{"a.log": A1, "b.log": B1} {
		if err := os.WriteFile(p(name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	c := startWrittenCollector(t, spread, "a")
	state := filepath.Join(dir, "state")
	s, addr := oneStreamShip(t, spread, state, p("*.log"))
	waitOneStream(t, c, addr, len(A1)+len(B1))
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}

	A2, A3, A4 := accessLines("a", 300, 399), accessLines("a", 400, 499), accessLines("a", 500, 599)
	appendTo(t, p("a.log"), A2)
	if err := os.Rename(p("a.log"), p("b.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, p("b.log"), A3)

	s, addr = oneStreamShip(t, spread, state, "--rotate-wait", "300ms", p("*.log"))
	after := len(A2) + len(A3)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(A1)+len(B1)+after) })
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(after) })
	appendTo(t, p("b.log"), A4) // the writer goes on at b.log
	after += len(A4)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(A1)+len(B1)+after) })
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(after) })
	// a.log's stream leaves the file --rotate-wait after its last growth (its path is
	// gone); b.log's stream reads on from there: after A4, or, on a machine slow enough
	// that --rotate-wait passed between A3 and A4, after A3 (b.log's stream then reads A4).
	s.WaitLog(t, `msg="reading on a file another source's stream left .* source=\S+/b\.log file_offset=(`+
		strconv.Itoa(len(A1)+len(A2)+len(A3))+`|`+strconv.Itoa(len(A1)+len(A2)+len(A3)+len(A4))+`)\b`)
	A5 := accessLines("a", 600, 699)
	appendTo(t, p("b.log"), A5)
	after += len(A5)
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(A1)+len(B1)+after) })
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(after) })
	if v := testsupport.Metric(t, addr, "logspread_shipper_read_bytes_total"); v != float64(after) {
		t.Errorf("shipper read %v bytes after the restart, want %d: the file was read by two streams", v, after)
	}
	if v := testsupport.Metric(t, addr, "logspread_shipper_lost_bytes_total"); v != 0 {
		t.Errorf("lost_bytes_total %v, want 0 (b.log's file was read to its end)", v)
	}
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}
	checkEveryLineOnce(t, "the collector", c.stop(), slices.Concat(A1, B1, A2, A3, A4, A5))
}

// TestShipGlobRenameToMatchLateWrites: a glob (or two, one through a symlinked directory
// logs2 -> logs, reaching the same files) follows access.log. Each file is read by one
// stream across renames: logrotate's access.log -> access.log.1 (out of the glob), then
// a rename to another name the glob matches (old.log) with a new file at the path. The
// stream that read the file drains it under its new name and leaves it for the new file
// at its path; the match old.log, left to that stream meanwhile, is followed from where
// it left it, so lines a late writer appends to old.log afterwards are shipped once (they
// were lost while the match stayed claimed for a stream that had left the file, or the
// file was read again from its start). Every line once.
func TestShipGlobRenameToMatchLateWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	for _, tc := range []struct {
		name  string
		globs []string // under the test's directory
	}{
		{"one glob", []string{"logs/*.log"}},
		{"two globs through a symlinked directory", []string{"logs/*.log", "logs2/*.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			if err := os.Mkdir(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("logs", filepath.Join(dir, "logs2")); err != nil {
				t.Fatal(err)
			}
			p := func(name string) string { return filepath.Join(logs, name) }
			A := accessLines("a", 0, 299)
			if err := os.WriteFile(p("access.log"), A, 0o644); err != nil {
				t.Fatal(err)
			}
			c := startWrittenCollector(t, spread, "a")
			var args []string
			for _, g := range tc.globs {
				args = append(args, filepath.Join(dir, g))
			}
			s, addr := oneStreamShip(t, spread, filepath.Join(dir, "state"), args...)
			want := slices.Clone(A)
			waitOneStream(t, c, addr, len(want))
			if len(tc.globs) > 1 {
				s.WaitLog(t, `msg="the file at the path is already read by another source's stream`)
			}

			// logrotate: renamed away (out of the globs), a new file at the path.
			if err := os.Rename(p("access.log"), p("access.log.1")); err != nil {
				t.Fatal(err)
			}
			B := accessLines("b", 0, 199)
			if err := os.WriteFile(p("access.log"), B, 0o644); err != nil {
				t.Fatal(err)
			}
			want = slices.Concat(want, B)
			waitOneStream(t, c, addr, len(want))

			// Renamed to another name the globs match, written to there, a new file at
			// the path; then a late writer appends to old.log.
			if err := os.Rename(p("access.log"), p("old.log")); err != nil {
				t.Fatal(err)
			}
			B2 := accessLines("b", 200, 299)
			appendTo(t, p("old.log"), B2)
			C := accessLines("c", 0, 199)
			if err := os.WriteFile(p("access.log"), C, 0o644); err != nil {
				t.Fatal(err)
			}
			want = slices.Concat(want, B2, C)
			waitOneStream(t, c, addr, len(want))
			B3 := accessLines("b", 300, 349)
			appendTo(t, p("old.log"), B3)
			want = slices.Concat(want, B3)
			waitOneStream(t, c, addr, len(want))
			if code := s.Terminate(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), want)
		})
	}
}

// TestShipSymlinkRetargetedRestart: a release's log followed through its "current" link
// (current/log/access.log), switched to the next release while the shipper is down
// (stopped, or killed), the old release's server appending to its log meanwhile and
// after the restart: the restart finds the checkpointed file where the link led, drains
// it, reads the new release's log, and reads on what the old server appends: every line
// once. (Before: the checkpointed file was taken for gone, its unread lines lost without
// a count, breaker's case 10 with DOWN=1: 117 of 150.)
func TestShipSymlinkRetargetedRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed %v", kill), func(t *testing.T) {
			dir := t.TempDir()
			log := func(r string) string { return filepath.Join(dir, r, "log", "access.log") }
			for _, r := range []string{"r1", "r2"} {
				if err := os.MkdirAll(filepath.Dir(log(r)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(log(r), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			current := filepath.Join(dir, "current")
			if err := os.Symlink(filepath.Join(dir, "r1"), current); err != nil {
				t.Fatal(err)
			}
			c := startWrittenCollector(t, spread, "a")
			state := filepath.Join(dir, "state")
			args := []string{filepath.Join(current, "log", "access.log"), "--rotate-wait", "1h"}
			s, addr := oneStreamShip(t, spread, state, args...)
			want := accessLines("a", 0, 99)
			appendTo(t, log("r1"), want)
			waitOneStream(t, c, addr, len(want))
			if kill {
				s.Kill(t)
			} else if code := s.Terminate(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			a1, b1 := accessLines("a", 100, 199), accessLines("b", 0, 99)
			appendTo(t, log("r1"), a1)
			appendTo(t, log("r2"), b1)
			if err := os.Symlink(filepath.Join(dir, "r2"), current+".tmp"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(current+".tmp", current); err != nil {
				t.Fatal(err)
			}
			s, _ = oneStreamShip(t, spread, state, args...)
			s.WaitLog(t, `note="the path leads to another file now`)
			a2, b2 := accessLines("a", 200, 249), accessLines("b", 100, 149)
			appendTo(t, log("r1"), a2) // the old release's server, after the restart
			appendTo(t, log("r2"), b2)
			want = slices.Concat(want, a1, b1, a2, b2)
			testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(want)) })
			if code := s.Terminate(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			checkEveryLineOnce(t, "the collector", c.stop(), want)
		})
	}
}
