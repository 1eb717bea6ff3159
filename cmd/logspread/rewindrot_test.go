package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestWrittenCollectorKilledAcrossLogrotate: real processes (an embedded daemon, two
// collectors, the shipper on access.log). Collector b is killed (SIGKILL) once it has
// part 1; access.log grows (part 2) and the real logrotate rotates it ("rotate 5",
// copytruncate or create, with compress and delaycompress or without), the new
// generations growing too, while a writes everything. When b comes back, the shipper
// reads the stream again from b's checkpoint, in the first generation, rotated since:
// b gets every line the files still hold exactly once, and a gap only for what
// logrotate compressed away, of exactly its size. main counted part 2 lost for b
// although it was in copytruncate's copy (access.log.1: the file at the path "replaced"
// it), and so with create after an inode number was given again (compress deleted
// access.log.2's inode, the new access.log got it).
func TestWrittenCollectorKilledAcrossLogrotate(t *testing.T) {
	bin := logrotateBin(t)
	for _, tc := range []struct {
		name, conf string
		runs       int
		lostPart2  bool // logrotate compressed part 2's generation away
	}{
		{name: "copytruncate", conf: "copytruncate\ncompress\ndelaycompress", runs: 1},
		{name: "create twice", conf: "create\n", runs: 2},
		{name: "create twice delaycompress", conf: "create\ncompress\ndelaycompress", runs: 2, lostPart2: true},
	} {
		t.Run(tc.name, func(t *testing.T) { testCollectorKilledAcrossLogrotate(t, bin, tc.conf, tc.runs, tc.lostPart2) })
	}
}

func testCollectorKilledAcrossLogrotate(t *testing.T, logrotate, conf string, runs int, lostPart2 bool) {
	r := newProcessRig(t)
	path := filepath.Join(r.dir, "access.log")
	part1, part2 := accessLines("p1", 0, 1_999), accessLines("p2", 0, 2_999)
	gens := make([][]byte, runs)
	for i := range gens {
		gens[i] = accessLines(fmt.Sprintf("g%d", i+1), 0, 999)
	}
	a := r.collector("a")
	b := r.collector("b")
	a.WaitLog(t, "joined all groups")
	b.WaitLog(t, "joined all groups")
	r.logFile(path, part1)
	r.ship()
	r.shipped(a, len(part1))
	r.shipped(b, len(part1))
	testsupport.WaitMetric(t, r.addr, `logspread_shipper_collector_written_offset_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(part1)) })

	b.Kill(t)
	appendTo(t, path, part2)
	cf := filepath.Join(r.dir, "logrotate.conf")
	if err := os.WriteFile(cf, []byte(path+" {\n\trotate 5\n\t"+conf+"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(r.dir, "logrotate.state")
	all := slices.Concat(part1, part2)
	for i := range runs {
		if out, err := exec.Command(logrotate, "-f", "-s", state, cf).CombinedOutput(); err != nil || bytes.Contains(out, []byte("error:")) {
			t.Fatalf("logrotate: %v\n%s", err, out)
		}
		appendOrCreate(t, path, gens[i])
		all = append(all, gens[i]...)
	}
	// a writes everything meanwhile: the shipper read every generation to its end.
	waitAtLeast(t, a.metrics, "logspread_collector_bytes_total", len(all))
	testsupport.WaitMetric(t, r.addr, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(all)-len(part1)) })

	lost := 0
	wantB := all
	if lostPart2 {
		lost = len(part2)
		wantB = slices.Concat(part1, slices.Concat(gens...))
	}
	b.start()
	// Until b has what it lacked, written or counted as a gap (since its restart: counters
	// per process), then the checks below say which.
	testsupport.EventuallyErr(t, func() error {
		w := testsupport.Metric(t, b.metrics, "logspread_collector_bytes_total")
		g := testsupport.Metric(t, b.metrics, "logspread_collector_gap_bytes_total")
		if int(w+g) < len(all)-len(part1) {
			return fmt.Errorf("b wrote %v bytes and counted %v of gaps since its restart, want %d in all", w, g, len(all)-len(part1))
		}
		return nil
	})
	testsupport.WaitMetric(t, r.addr, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v == 0 })
	if v := testsupport.Metric(t, r.addr, "logspread_shipper_rewinds_total"); v < 1 {
		t.Errorf("rewinds %v, want at least one", v)
	}
	r.terminate()
	if v := testsupport.Metric(t, b.metrics, "logspread_collector_gap_bytes_total"); v != float64(lost) {
		t.Errorf("b counted %v bytes of gaps, want exactly %d", v, lost)
	}
	if v := testsupport.Metric(t, a.metrics, "logspread_collector_gap_bytes_total"); v != 0 {
		t.Errorf("a counted %v bytes of gaps, want none", v)
	}
	checkEveryLineOnce(t, "a (never away)", a.stop(), all)
	checkEveryLineOnce(t, "b (killed while the log rotated)", b.stop(), wantB)
}

// appendOrCreate appends b to path, creating it if need be (the writer's next line
// after logrotate's create... or its copytruncate).
func appendOrCreate(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
