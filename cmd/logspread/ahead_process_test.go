package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipRotationsWhileNoCollector: a real shipper follows access.log with no collector
// present, so its window fills and it stops reading early in the file; meanwhile the log
// is rotated five times as logrotate's `rotate 2` does (the oldest rotated generation
// deleted, the others renamed up, a new file created), so the generation being read and
// the two after it are deleted before the shipper gets to them. The shipper holds each
// new generation open as it learns of it (fsnotify), so when a collector joins, every
// line of every generation arrives exactly once, and nothing is counted lost or missed.
func TestShipRotationsWhileNoCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	gens := [][]byte{accessLines("gen0", 0, 2_999)}
	if err := os.WriteFile(path, gens[0], 0o644); err != nil {
		t.Fatal(err)
	}
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--batch-size", "512", "--batch-compression", "none", "--metrics-addr", "127.0.0.1:0", path)
	shipper := s.MetricsAddr(t)
	// The window fills (64 batches of at most 512 bytes, uncompressed): reading stops in
	// gen0.
	testsupport.WaitMetric(t, shipper, "logspread_shipper_read_bytes_total", func(v float64) bool { return v > 0 })
	for r := 1; r <= 5; r++ {
		if err := os.Remove(path + ".2"); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := os.Rename(path+".1", path+".2"); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		gens = append(gens, accessLines(fmt.Sprintf("gen%d", r), 0, 199+r))
		if err := os.WriteFile(path, gens[r], 0o644); err != nil {
			t.Fatal(err)
		}
		// Held open: gen0 (read) and every generation after it.
		testsupport.WaitMetric(t, shipper, "logspread_shipper_open_files", func(v float64) bool { return v >= float64(1+r) })
	}
	if v := testsupport.Metric(t, shipper, "logspread_shipper_read_bytes_total"); v >= float64(len(gens[0])) {
		t.Fatalf("the shipper read %v bytes before a collector came, not behind in gen0 (%d bytes)", v, len(gens[0]))
	}
	want := slices.Concat(gens...)
	c := startWrittenCollector(t, spread, "c")
	testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(len(want)) })
	for _, m := range []string{"logspread_shipper_lost_bytes_total", "logspread_shipper_files_missed_total"} {
		if v := testsupport.Metric(t, shipper, m); v != 0 {
			t.Errorf("%s %v, want 0", m, v)
		}
	}
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d", code)
	}
	checkEveryLineOnce(t, "c", c.stop(), want)
}
