package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipGracefulRestartOldChildrenKeepWriting: logrotate's create mode under an Apache
// graceful restart. access.log is renamed to access.log.1 (or deleted) and a new
// access.log created; the new children write it while the old ones go on appending to
// the file they hold open, after the new file already has lines, also while the shipper
// is stopped and restarted (renamed case). Every line reaches the collector exactly
// once, and each generation's lines in the order they were written: the old generation
// is followed for --rotate-wait after its last growth.
func TestShipGracefulRestartOldChildrenKeepWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	for _, how := range []string{"renamed", "deleted"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "access.log")
			open := func() *os.File {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			var want, olds, news []byte
			write := func(f *os.File, b []byte, gen *[]byte) {
				t.Helper()
				if _, err := f.Write(b); err != nil {
					t.Fatal(err)
				}
				want, *gen = append(want, b...), append(*gen, b...)
			}
			old := open()
			write(old, accessLines("old", 0, 99), &olds)
			c := startWrittenCollector(t, spread, "a")
			state := filepath.Join(dir, "state")
			ship := func() (*testsupport.Process, string) {
				return oneStreamShip(t, spread, state, "--rotate-wait", "1h", "--checkpoint-interval", "0", path)
			}
			s, addr := ship()
			waitOneStream(t, c, addr, len(want))
			if how == "renamed" {
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			live := open()
			write(live, accessLines("new", 0, 99), &news)
			waitOneStream(t, c, addr, len(want))
			// The old children go on writing, interleaved with the new ones.
			for i := range 10 {
				write(old, accessLines("old", 100+20*i, 119+20*i), &olds)
				write(live, accessLines("new", 100+20*i, 119+20*i), &news)
			}
			waitOneStream(t, c, addr, len(want))
			if how == "renamed" {
				if code := s.Terminate(t); code != 0 {
					t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
				}
				write(old, accessLines("old", 300, 349), &olds) // while the shipper is down
				s, _ = ship()
				testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(want)) })
				write(old, accessLines("old", 350, 399), &olds)
				write(live, accessLines("new", 300, 399), &news)
				testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(want)) })
			}
			if code := s.Terminate(t); code != 0 {
				t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
			}
			got := c.stop()
			checkEveryLineOnce(t, "the collector", got, want)
			// In order within each generation.
			var gotOld, gotNew []byte
			for _, l := range bytes.SplitAfter(got, []byte("\n")) {
				switch {
				case bytes.Contains(l, []byte("/old/")):
					gotOld = append(gotOld, l...)
				case bytes.Contains(l, []byte("/new/")):
					gotNew = append(gotNew, l...)
				}
			}
			if !bytes.Equal(gotOld, olds) || !bytes.Equal(gotNew, news) {
				t.Errorf("a generation's lines are out of order")
			}
		})
	}
}
