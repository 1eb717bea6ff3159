package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink/daemon"
)

// The receiving side's bad days (issue 14), each with real processes: a daemon, a
// collector, shippers and tail.

// segProc is a `logspread collect` process writing www's lines split by vhost.
type segProc struct {
	*testsupport.Process
	out     string // output directory
	metrics string // metrics address
}

func startSegCollector(t *testing.T, addr string, extra ...string) *segProc {
	t.Helper()
	tmp := t.TempDir()
	p := &segProc{out: filepath.Join(tmp, "out")}
	args := append([]string{"collect", "--spread", addr, "--dir", p.out, "--state-dir", filepath.Join(tmp, "state"),
		"--log", "www=www/{vhost}.log.zst", "--flush-interval", "20ms", "--metrics-addr", "127.0.0.1:0"}, extra...)
	p.Process = testsupport.StartProcess(t, args...)
	p.metrics = p.MetricsAddr(t)
	p.WaitLog(t, "joined all groups")
	return p
}

// ship ships lines through `logspread ship -` (stdin), which exits once every line
// is acknowledged.
func shipLines(t *testing.T, addr, state string, lines []byte) {
	t.Helper()
	// Uncompressed: the slow-tail test must fill a reader's queue with these bytes.
	cmd := testsupport.Command(t, "ship", "--spread", addr, "--group", "www", "--state-dir", state, "--batch-compression", "none", "-")
	cmd.Stdin = bytes.NewReader(lines)
	p := testsupport.Start(t, cmd)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, p.Stderr)
	}
}

// vhostLine is an access log line of vhost (vhost_combined).
func vhostLine(vhost string, i int) string {
	return fmt.Sprintf("%s:80 10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] \"GET /%06d HTTP/1.1\" 200 512 \"-\" \"curl\"\n", vhost, i)
}

// segFiles lists the segment files below dir, relative, in byte order.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(names)
	return names
}

// catSegs returns the lines of the segments below dir whose names start with prefix,
// read in byte order (a torn tail is not an error here: a frame may be in flight).
func catSegs(t *testing.T, dir, prefix string) []string {
	t.Helper()
	var buf bytes.Buffer
	for _, name := range segFiles(t, dir) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		_ = segment.Cat(f, &buf)
		f.Close()
	}
	return slices.Collect(strings.Lines(buf.String()))
}

// TestCollectVhostsOverOpenFiles (case 20): more vhosts than --max-open-files, lines
// round robin: every eviction closes a writer, and the vhost's next line is appended
// to its segment again. One segment per vhost, every line once, in order.
func TestCollectVhostsOverOpenFiles(t *testing.T) {
	d := testsupport.StartDaemon(t)
	p := startSegCollector(t, d.Addr, "--max-open-files", "2")
	const vhosts, rounds = 12, 15
	var in strings.Builder
	for i := range rounds * vhosts {
		in.WriteString(vhostLine(fmt.Sprintf("v%02d.example", i%vhosts), i))
	}
	shipLines(t, d.Addr, t.TempDir(), []byte(in.String()))
	testsupport.EventuallyErr(t, func() error {
		if n := len(catSegs(t, p.out, "")); n != rounds*vhosts {
			return fmt.Errorf("%d of %d lines written", n, rounds*vhosts)
		}
		return nil
	})
	files := segFiles(t, p.out)
	if len(files) != vhosts {
		t.Errorf("%d segments for %d vhosts: %v", len(files), vhosts, files)
	}
	for v := range vhosts {
		name := fmt.Sprintf("www/v%02d.example.log.zst", v)
		got := catSegs(t, p.out, name)
		if len(got) != rounds {
			t.Fatalf("%s: %d lines, want %d", name, len(got), rounds)
		}
		for r, l := range got {
			if want := vhostLine(fmt.Sprintf("v%02d.example", v), r*vhosts+v); l != want {
				t.Fatalf("%s line %d = %q, want %q", name, r, l, want)
			}
		}
	}
	if e := testsupport.Metric(t, p.metrics, "logspread_collector_writers_evicted_total"); e < vhosts {
		t.Errorf("evictions %v: the bound was not exercised", e)
	}
	if r := testsupport.Metric(t, p.metrics, "logspread_collector_segment_reopened_total"); r < vhosts {
		t.Errorf("segments reopened %v, want at least %d", r, vhosts)
	}
}

// TestCollectVhostNameTooLong (case 21): a valid vhost name too long for the file
// system (251 bytes: the segment name would be 259) sends its lines to the _default
// vhost log, counted and logged once; the other vhosts and the health are unaffected,
// also past a flush step of long-vhost lines, and the collector stops cleanly.
func TestCollectVhostNameTooLong(t *testing.T) {
	d := testsupport.StartDaemon(t)
	p := startSegCollector(t, d.Addr)
	long := strings.Join([]string{strings.Repeat("a", 61), strings.Repeat("b", 61), strings.Repeat("c", 61), strings.Repeat("d", 61)}, ".") + ".com"
	var in strings.Builder
	in.WriteString(vhostLine("short.example", 0))
	in.WriteString(vhostLine(long, 1))
	for i := 2; i < 12000; i++ { // more than a flush step (1 MiB) of long-vhost lines
		v := long
		if i%10 == 0 {
			v = "short.example"
		}
		in.WriteString(vhostLine(v, i))
	}
	shipLines(t, d.Addr, t.TempDir(), []byte(in.String()))
	testsupport.EventuallyErr(t, func() error {
		if n := len(catSegs(t, p.out, "")); n != 12000 {
			return fmt.Errorf("%d of 12000 lines written", n)
		}
		return nil
	})
	if got := len(catSegs(t, p.out, "www/_default.log.zst")); got != 12000-1-1199 {
		t.Errorf("_default log: %d lines, want the %d long-vhost lines", got, 12000-1-1199)
	}
	if got := len(catSegs(t, p.out, "www/short.example.log.zst")); got != 1200 {
		t.Errorf("short.example: %d lines, want 1200", got)
	}
	if n := strings.Count(p.Stderr.String(), "cannot be a file name here"); n != 1 {
		t.Errorf("%d warnings for the long name, want 1", n)
	}
	if r := testsupport.Metric(t, p.metrics, "logspread_collector_rejected_vhost_lines_total"); r < 1 {
		t.Errorf("rejected vhost lines %v", r)
	}
	resp, err := http.Get("http://" + p.metrics + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz %d, want 200", resp.StatusCode)
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("collect exited %d after SIGTERM", code)
	}
}

// TestCollectSegmentDeleted (case 25): an open segment deleted (rm, find -delete) is
// noticed at the next flush: counted, logged, closed (the collector holds no deleted
// file), and the vhost's later lines are in a new file of the same name.
func TestCollectSegmentDeleted(t *testing.T) {
	d := testsupport.StartDaemon(t)
	p := startSegCollector(t, d.Addr)
	state := t.TempDir()
	var in strings.Builder
	for i := range 10 {
		in.WriteString(vhostLine("quiet.example", i))
		in.WriteString(vhostLine("busy.example", i))
	}
	shipLines(t, d.Addr, state, []byte(in.String()))
	seg := filepath.Join(p.out, "www/quiet.example.log.zst")
	testsupport.EventuallyErr(t, func() error {
		if n := len(catSegs(t, p.out, "")); n != 20 {
			return fmt.Errorf("%d of 20 lines written", n)
		}
		return nil
	})
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitMetric(t, p.metrics, "logspread_collector_segment_vanished_total", func(v float64) bool { return v == 1 })
	p.WaitLog(t, "open segment was deleted or renamed")
	if held := deletedFDs(t, p.Cmd.Process.Pid); held != 0 {
		t.Errorf("collector holds %d deleted files open", held)
	}
	in.Reset()
	var want []string
	for i := 10; i < 110; i++ {
		in.WriteString(vhostLine("quiet.example", i))
		in.WriteString(vhostLine("busy.example", i))
		want = append(want, vhostLine("quiet.example", i))
	}
	shipLines(t, d.Addr, state, []byte(in.String()))
	testsupport.EventuallyErr(t, func() error {
		if got := catSegs(t, p.out, "www/quiet.example"); !slices.Equal(got, want) {
			return fmt.Errorf("quiet.example: %d lines on disk, want the %d written after the deletion", len(got), len(want))
		}
		return nil
	})
	if n := len(catSegs(t, p.out, "www/busy.example")); n != 110 {
		t.Errorf("busy.example: %d lines, want 110", n)
	}
	if files := segFiles(t, p.out); len(files) != 2 {
		t.Errorf("segments %v, want one per vhost", files)
	}
}

// deletedFDs counts the deleted files process pid holds open.
func deletedFDs(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no %s: %v", dir, err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasSuffix(target, " (deleted)") {
			n++
		}
	}
	return n
}

// TestTailSlowReaderDoesNotStall (case 28): a `logspread tail` whose output is not
// read never slows the pipeline: the collector writes every line while the tail's
// reader sleeps, no session is kicked, and once the reader reads again tail prints
// '# dropped N messages' where lines are missing; every line is printed or counted.
func TestTailSlowReaderDoesNotStall(t *testing.T) {
	d := testsupport.StartDaemon(t, testsupport.WithConfig(func(c *daemon.Config) {
		c.StallTimeout = time.Hour // a stall would hang the test, not pass it
	}))
	p := startSegCollector(t, d.Addr)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	cmd := testsupport.Command(t, "tail", "--spread", d.Addr, "www")
	cmd.Stdout = pw
	testsupport.Start(t, cmd)
	pw.Close()
	// The tail has joined when a line sent now reaches its pipe.
	r := bufio.NewReaderSize(pr, 1<<20)
	state := t.TempDir()
	testsupport.EventuallyErr(t, func() error {
		shipLines(t, d.Addr, state, []byte(vhostLine("warm.example", 0)))
		_ = pr.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := r.ReadString('\n'); err != nil {
			return fmt.Errorf("tail printed nothing yet: %v", err)
		}
		return nil
	})
	// Nobody reads the tail's pipe now: it fills, tail blocks, its daemon queue fills.
	const n = 200000 // 20 MB: past the daemon's soft mark (8 MiB) behind the full pipe
	var in strings.Builder
	for i := range n {
		in.WriteString(vhostLine("load.example", i))
	}
	shipLines(t, d.Addr, state, []byte(in.String()))
	testsupport.EventuallyErr(t, func() error {
		if got := len(catSegs(t, p.out, "www/load.example")); got != n {
			return fmt.Errorf("collector wrote %d of %d lines while the tail was not read", got, n)
		}
		return nil
	})
	if k := testsupport.Gather(t, d.Registry, "logspread_daemon_sessions_kicked_total"); k != 0 {
		t.Errorf("%v sessions kicked", k)
	}
	dropped := testsupport.Gather(t, d.Registry, "logspread_daemon_dropped_messages_total")
	if dropped == 0 {
		t.Fatal("nothing dropped for the unread tail: the test did not fill its queue")
	}
	// The reader wakes up: the tail goes on, and says what it missed.
	shipLines(t, d.Addr, state, []byte(vhostLine("after.example", 0)))
	_ = pr.SetReadDeadline(time.Time{})
	var printed, notices int
	for {
		l, err := r.ReadString('\n')
		if err == io.EOF {
			t.Fatal("tail ended")
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(l, "# dropped "):
			notices++
		case strings.Contains(l, "load.example"):
			printed++
		}
		if strings.HasPrefix(l, "after.example") {
			break
		}
	}
	if notices == 0 || printed >= n {
		t.Errorf("tail printed %d of %d lines and %d drop notices", printed, n, notices)
	}
	t.Logf("tail printed %d of %d lines, %d drop notices; daemon dropped %v messages", printed, n, notices, dropped)
}
