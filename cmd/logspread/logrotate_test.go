package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/testsupport"
)

// TestLogrotateSnippets runs the logrotate samples with the real logrotate (-f, with a
// state file) against temporary logs, while a real shipper and a real collector run on
// an embedded daemon: the web-server snippet renames the log, creates a new one and
// signals the "web server" (this test, through the pid file the snippet reads), which
// writes a few late lines to the renamed file before it reopens, as Apache and nginx do;
// the collector snippet renames the collector's segment (www.log.zst -> www.log.1.zst,
// the older one to www.log.2.zst) and sends the collector SIGHUP, after which its lines
// go to a new www.log.zst. Twice, so the first rotated logs move on and get compressed
// (delaycompress). Then a SIGHUP with nothing moved: no new file, the segment is
// appended to. Every line reaches the collector exactly once, and no segment ever gets
// a collision suffix.
func TestLogrotateSnippets(t *testing.T) {
	bin := logrotateBin(t)
	for _, tc := range []struct {
		snippet, dir, log, pidfile string
	}{
		{snippet: "apache2-source-build", dir: "/usr/local/apache2/logs", log: "access_log", pidfile: "httpd.pid"},
		{snippet: "nginx-source-build", dir: "/usr/local/nginx/logs", log: "access.log", pidfile: "nginx.pid"},
	} {
		t.Run(tc.snippet, func(t *testing.T) {
			testLogrotate(t, bin, tc.snippet, tc.dir, tc.log, tc.pidfile)
		})
	}
}

// logrotateBin returns the logrotate binary's path. It skips the test with -short (it
// runs logrotate and the binary) and when logrotate is not installed (.ci/run installs
// it).
func logrotateBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs logrotate and the binary")
	}
	for _, name := range []string{"logrotate", "/usr/sbin/logrotate"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Skip("logrotate is not installed (.ci/run installs it)")
	return ""
}

func testLogrotate(t *testing.T, logrotate, snippet, snippetDir, logName, pidName string) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	out := filepath.Join(dir, "out")
	for _, d := range []string{logs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	collector := testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", out, "--state-dir", filepath.Join(dir, "collector"),
		"--log", "www=www.log.zst", "--flush-interval", "20ms", "--metrics-addr", "127.0.0.1:0")
	collectorMetrics := collector.MetricsAddr(t)

	// The web server: this test. The snippet signals the pid in its pid file.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	t.Cleanup(func() { signal.Stop(usr1) })
	if err := os.WriteFile(filepath.Join(logs, pidName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	web := openWebLog(t, filepath.Join(logs, logName))
	web.write(t, 300)
	testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "shipper"),
		"--from-beginning", web.path)

	pid := strconv.Itoa(collector.Cmd.Process.Pid)
	conf := filepath.Join(dir, "logrotate.conf")
	text := readSnippet(t, "logspread-collector",
		"/var/log/logspread", out,
		"systemctl --quiet is-active logspread-collector.service", "kill -0 "+pid,
		"systemctl kill --signal=HUP logspread-collector.service", "kill -HUP "+pid)
	webRepl := []string{snippetDir, logs}
	if os.Geteuid() != 0 { // only root may give the new log to root:adm
		webRepl = append(webRepl, "create 0640 root adm", "create 0640")
	}
	text += readSnippet(t, snippet, webRepl...)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "logrotate.state")
	// The collector has written its segment before the first run (notifempty).
	first := web.lines
	testsupport.EventuallyErr(t, func() error { return checkOnce(t, out, first) })

	for round := 1; round <= 2; round++ {
		web.write(t, 1000)
		cmd := exec.Command(logrotate, "-f", "-v", "-s", state, conf)
		b, err := cmd.CombinedOutput()
		if err != nil || bytes.Contains(b, []byte("error:")) {
			t.Fatalf("round %d: logrotate: %v\n%s", round, err, b)
		}
		// The web snippet renamed the log and signalled the server, which writes what it
		// still had to the renamed file, then reopens its log (the one logrotate created).
		testsupport.Receive(t, usr1, "round %d: SIGUSR1 from the %s snippet", round, snippet)
		web.write(t, 50)
		web.reopen(t)
		web.write(t, 1000)
		fi, err := os.Stat(web.path)
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("round %d: new log made by logrotate: %v %v, want mode 0640", round, fi, err)
		}
		rotated := []string{logName + ".1"}
		if round == 2 {
			rotated = append(rotated, logName+".2.gz")
		}
		for _, r := range rotated {
			if _, err := os.Stat(filepath.Join(logs, r)); err != nil {
				t.Fatalf("round %d: rotated log: %v", round, err)
			}
		}
		// The collector snippet moved the segment and sent SIGHUP: the next lines are
		// in a new www.log.zst.
		testsupport.WaitMetric(t, collectorMetrics, "logspread_collector_reopen_requests_total", func(v float64) bool { return v >= float64(round) })
		want := web.lines
		testsupport.EventuallyErr(t, func() error { return checkOnce(t, out, want) })
		wantSegments := []string{"www.log.1.zst", "www.log.zst"}
		if round == 2 {
			wantSegments = []string{"www.log.1.zst", "www.log.2.zst", "www.log.zst"}
		}
		if got := segmentNames(t, out); !slices.Equal(got, wantSegments) {
			t.Fatalf("round %d: segments %v, want %v", round, got, wantSegments)
		}
	}
	// A SIGHUP with nothing moved (a reload, a snippet that matched nothing): the
	// segment is closed and appended to again, no file appears.
	before := testsupport.Metric(t, collectorMetrics, "logspread_collector_segment_reopened_total")
	if err := collector.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitMetric(t, collectorMetrics, "logspread_collector_reopen_requests_total", func(v float64) bool { return v >= 3 })
	web.write(t, 500)
	want := web.lines
	testsupport.EventuallyErr(t, func() error { return checkOnce(t, out, want) })
	if got, want := segmentNames(t, out), []string{"www.log.1.zst", "www.log.2.zst", "www.log.zst"}; !slices.Equal(got, want) {
		t.Errorf("segments %v after a SIGHUP with nothing moved, want %v", got, want)
	}
	if n := testsupport.Metric(t, collectorMetrics, "logspread_collector_segment_reopened_total"); n <= before {
		t.Errorf("segment_reopened_total %v after the SIGHUP, was %v: the segment was not appended to", n, before)
	}
	if n := testsupport.Metric(t, collectorMetrics, "logspread_collector_reopen_requests_total"); n != 3 {
		t.Errorf("collector reopened on request %v times, want 3 (one SIGHUP per logrotate run, one more)", n)
	}
	// What the processes created: files 0640, directories 0750.
	for _, d := range []string{out, filepath.Join(dir, "collector"), filepath.Join(dir, "shipper")} {
		testsupport.CheckModes(t, d, 0o640, 0o750)
	}
}

// readSnippet returns the logrotate sample name with each pair (old, new) of repl
// replaced; every old must occur, so that the test breaks when the sample changes shape.
func readSnippet(t *testing.T, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../configs/logrotate", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("configs/logrotate/%s no longer contains %q", name, repl[i])
		}
		s = strings.ReplaceAll(s, repl[i], repl[i+1])
	}
	return s + "\n"
}

// webLog is the log of the test's web server: numbered lines appended to the file it
// has open, which logrotate may rename under it.
type webLog struct {
	path  string
	f     *os.File
	lines []string // every line written, in order
}

func openWebLog(t *testing.T, path string) *webLog {
	t.Helper()
	w := &webLog{path: path}
	w.open(t, os.O_CREATE)
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *webLog) open(t *testing.T, flag int) {
	t.Helper()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|flag, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	w.f = f
}

// reopen closes the (renamed) log and opens the one at its path, which must exist.
func (w *webLog) reopen(t *testing.T) {
	t.Helper()
	w.f.Close()
	w.open(t, 0)
}

func (w *webLog) write(t *testing.T, n int) {
	t.Helper()
	var b []byte
	for range n {
		line := fmt.Sprintf("203.0.113.9 - - [30/Nov/2026:10:00:00 +0000] \"GET /%06d HTTP/1.1\" 200 512", len(w.lines))
		w.lines = append(w.lines, line)
		b = append(append(b, line...), '\n')
	}
	if _, err := w.f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// checkOnce returns nil once the segments in dir hold exactly the lines want, each
// once; lines of one segment must be in the order they were written.
func checkOnce(t *testing.T, dir string, want []string) error {
	t.Helper()
	index := make(map[string]int, len(want))
	for i, l := range want {
		index[l] = i
	}
	seen := make([]int, len(want))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	got := 0
	for _, e := range entries {
		if !isSegment(e) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		err = segment.Cat(f, &buf)
		f.Close()
		if err != nil && !errors.Is(err, segment.ErrTornFrame) {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		last := -1
		for l := range strings.Lines(buf.String()) {
			i, ok := index[strings.TrimSuffix(l, "\n")]
			if !ok {
				t.Fatalf("%s: line %q was never written", e.Name(), l)
			}
			if i <= last {
				t.Fatalf("%s: line %d after line %d", e.Name(), i, last)
			}
			last = i
			seen[i]++
			got++
		}
	}
	for i, n := range seen {
		if n > 1 {
			t.Fatalf("line %d written %d times", i, n)
		}
		if n == 0 {
			return fmt.Errorf("collector has %d of %d lines; line %d missing", got, len(want), i)
		}
	}
	return nil
}

// isSegment reports whether e is a segment (not the collector's state or a directory).
func isSegment(e fs.DirEntry) bool {
	return e.Type().IsRegular() && strings.HasPrefix(e.Name(), "www")
}

// segmentNames lists the segments in dir, sorted.
func segmentNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if isSegment(e) {
			names = append(names, e.Name())
		}
	}
	return names
}
