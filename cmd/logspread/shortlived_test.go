package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// shortLivedEnv sets how many files TestShipManyShortLivedFiles creates: the long mode,
// run on demand (LOGSPREAD_SHORT_LIVED_FILES=100000 go test -run TestShipManyShortLivedFiles
// -timeout 30m ./cmd/logspread/).
const shortLivedEnv = "LOGSPREAD_SHORT_LIVED_FILES"

// shipperState is what a shipper holds that could grow with the files it has seen.
type shipperState struct {
	goroutines, heapInuse, rss, fds float64
	followed, open                  float64 // tailers, descriptors
	checkpoints                     int     // ckpt-* files in the state directory
	recordLines                     int     // lines of the record of followed sources
	tracked                         float64 // streams the sender keeps (ack written)
	cursorStreams                   int     // stream entries in the saved collector cursors
}

func (s shipperState) String() string {
	return fmt.Sprintf("goroutines=%.0f heap_inuse=%.1fMiB rss=%.1fMiB fds=%.0f followed_files=%.0f open_files=%.0f checkpoint_files=%d followed.log_lines=%d streams_tracked=%.0f cursor_streams=%d",
		s.goroutines, s.heapInuse/(1<<20), s.rss/(1<<20), s.fds, s.followed, s.open, s.checkpoints, s.recordLines, s.tracked, s.cursorStreams)
}

func readShipperState(t *testing.T, addr, state string) shipperState {
	t.Helper()
	m, err := testsupport.Scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := shipperState{
		goroutines: m["go_goroutines"], heapInuse: m["go_memstats_heap_inuse_bytes"],
		rss: m["process_resident_memory_bytes"], fds: m["process_open_fds"],
		followed: m["logspread_shipper_followed_files"], open: m["logspread_shipper_open_files"],
		tracked: m["logspread_shipper_streams_tracked"],
	}
	ents, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "ckpt-") {
			s.checkpoints++
		}
	}
	b, _ := os.ReadFile(filepath.Join(state, "followed.log"))
	s.recordLines = bytes.Count(b, []byte("\n"))
	if b, err := os.ReadFile(filepath.Join(state, "collectors.json")); err == nil {
		var doc struct {
			Collectors []struct {
				Streams map[string]uint64 `json:"streams"`
			} `json:"collectors"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("collectors.json: %v", err)
		}
		for _, c := range doc.Collectors {
			s.cursorStreams += len(c.Streams)
		}
	}
	return s
}

// TestShipManyShortLivedFiles is case 14 (issue item 8): job logs under a glob, each
// created with one line, shipped, acknowledged and deleted, a round of files at a time.
// Afterwards the shipper holds what it held before the first: goroutines, tailers and
// descriptors, checkpoint files, the record of followed sources (bounded by compaction),
// the sender's stream state and the saved collector cursors, and heap (coarsely: a leak of per-file state would hold megabytes). CI creates 1,000
// files; LOGSPREAD_SHORT_LIVED_FILES=100000 is the long mode (numbers in the log, -v).
func TestShipManyShortLivedFiles(t *testing.T) {
	// Rounds of 100 files: job logs come and go a few at a time. (Rounds of 1,000 cost about
	// 1.4 times as much per file: BenchmarkGlobShortLived in shipper/source.)
	n, round := 1000, 100
	if v := os.Getenv(shortLivedEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a number of files", shortLivedEnv, v)
		}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	if os.Geteuid() == 0 {
		// On a tmpfs, as root: the per-file cost is the shipper's, not the disk's fsyncs.
		fs := filepath.Join(dir, "fs")
		os.MkdirAll(fs, 0o755)
		if exec.Command("mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", fs).Run() == nil {
			t.Cleanup(func() { exec.Command("umount", fs).Run() }) // after the processes' cleanups
			dir = fs
		}
	}
	out := filepath.Join(dir, "out")
	c := testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", out, "--log", "www={group}.log.zst",
		"--state-dir", filepath.Join(dir, "cstate"), "--flush-interval", "20ms", "--metrics-addr", "127.0.0.1:0")
	caddr := c.MetricsAddr(t)
	logs := filepath.Join(dir, "jobs")
	os.MkdirAll(logs, 0o755)
	state := filepath.Join(dir, "state")
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", state,
		"--metrics-addr", "127.0.0.1:0", "--rotate-wait", "100ms", filepath.Join(logs, "job-*.log"))
	addr := p.MetricsAddr(t)
	p.WaitLog(t, `pattern matches no file yet`)
	testsupport.WaitMetric(t, addr, "logspread_shipper_collectors", func(v float64) bool { return v == 1 })
	p.WaitLog(t, `msg="collector present"`)
	before := readShipperState(t, addr, state)
	t.Logf("before: %v", before)

	start := time.Now()
	mark, markAt := 0, start // files and time at the last progress log
	for i := 0; i < n; i += round {
		names := make([]string, 0, round)
		for j := i; j < min(i+round, n); j++ {
			name := filepath.Join(logs, fmt.Sprintf("job-%06d.log", j))
			if err := os.WriteFile(name, accessLines("j", j, j), 0o644); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		written := min(i+round, n)
		testsupport.EventuallyErr(t, func() error {
			if p.Exited() {
				t.Fatalf("the shipper exited; stderr:\n%s", p.Stderr)
			}
			if got := testsupport.Metric(t, caddr, "logspread_collector_lines_total"); got < float64(written) {
				return fmt.Errorf("the collector wrote %v of %d lines", got, written)
			}
			return nil
		})
		for _, name := range names {
			os.Remove(name)
		}
		if n >= 10*round && (i/round)%(n/round/10) == 0 {
			now := time.Now()
			t.Logf("%d files: %v per file since %d files; %v", i+round,
				(now.Sub(markAt) / time.Duration(i+round-mark)).Round(10*time.Microsecond), mark, readShipperState(t, addr, state))
			mark, markAt = i+round, now
		}
	}
	shipped := time.Since(start)

	// Every file is released: the shipper is back to its state before the first.
	var after shipperState
	testsupport.EventuallyErr(t, func() error {
		after = readShipperState(t, addr, state)
		switch {
		case after.followed != before.followed || after.open != before.open:
			return fmt.Errorf("tailers or descriptors left: %v", after)
		case after.checkpoints != before.checkpoints:
			return fmt.Errorf("checkpoint files left: %v", after)
		case after.goroutines > before.goroutines+2: // +2: metrics scrapes' connections
			return fmt.Errorf("goroutines left: %v", after)
		case after.tracked != before.tracked || after.cursorStreams > before.cursorStreams:
			// The sender's stream state and the saved collector cursors (written at the
			// next checkpoint interval after a change).
			return fmt.Errorf("stream state left: %v", after)
		}
		return nil
	})
	t.Logf("after %d files created, shipped and deleted in %v: %v", n, shipped.Round(time.Millisecond), after)
	// Compaction bounds the record by the sources it recently held (a round's files).
	if after.recordLines > 2*round+65 {
		t.Errorf("the record of followed sources keeps %d lines after %d files: it grows with the files seen", after.recordLines, n)
	}
	if after.heapInuse > before.heapInuse+32<<20 {
		t.Errorf("heap in use %.1f MiB after, %.1f MiB before: per-file state is kept", after.heapInuse/(1<<20), before.heapInuse/(1<<20))
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
	if code := c.Terminate(t); code != 0 {
		t.Errorf("collector exit code after SIGTERM %d", code)
	}
	got, _, _ := catAll(t, out)
	lines := strings.SplitAfter(string(got), "\n")
	lines = lines[:len(lines)-1]
	slices.Sort(lines)
	for j, l := range lines {
		if want := string(accessLines("j", j, j)); l != want {
			t.Fatalf("line %d of %d written is %q, want %q (every line once)", j, len(lines), l, want)
		}
	}
	if len(lines) != n {
		t.Errorf("%d lines written, want %d", len(lines), n)
	}
}
