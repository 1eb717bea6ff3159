package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestCollectStreamBound (the bounded state kind, with real processes): a collector
// kept to one stream (--max-streams 1) hears two shippers' files. The second stream
// expires the first (counted); then the first shipper, its checkpoints lost, resends
// its whole file from the start with the same stream and offsets, plus new lines. The
// expired stream comes back from its record: what it resends is dropped as duplicates,
// the new lines are written, every line once.
func TestCollectStreamBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	out := filepath.Join(dir, "out")
	col := testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", out, "--state-dir", filepath.Join(dir, "collector"),
		"--log", "www=www.log.zst", "--flush-interval", "20ms", "--max-streams", "1", "--metrics-addr", "127.0.0.1:0")
	metrics := col.MetricsAddr(t)

	var want []string
	write := func(name string, from, n int) string {
		t.Helper()
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := from; i < from+n; i++ {
			line := fmt.Sprintf("%s - - [30/Nov/2026:10:00:00 +0000] \"GET /%06d HTTP/1.1\" 200 512", name, i)
			want = append(want, line)
			if _, err := fmt.Fprintln(f, line); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	ship := func(path, state string) {
		t.Helper()
		p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock,
			"--state-dir", filepath.Join(dir, state), "--from-beginning", "--once", path)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("ship %s: exit %d:\n%s", path, code, p.Stderr)
		}
		w := append([]string(nil), want...)
		testsupport.EventuallyErr(t, func() error { return checkOnce(t, out, w) })
	}
	limit := func() float64 {
		m, err := testsupport.Scrape(metrics)
		if err != nil {
			t.Fatal(err)
		}
		return m[`logspread_collector_limit_reached_total{limit="max_streams"}`]
	}

	a := write("a.log", 0, 300)
	ship(a, "sa")
	ship(write("b.log", 0, 300), "sb")
	testsupport.WaitMetric(t, metrics, "logspread_collector_streams_expired_total", func(v float64) bool { return v >= 1 })
	if n := limit(); n < 1 {
		t.Errorf("limit_reached_total{limit=\"max_streams\"} = %v, want at least 1", n)
	}
	// The first shipper loses its checkpoints (not the record of followed sources):
	// it resends a.log from its start, same stream, same offsets; and a.log grew.
	ckpts, err := filepath.Glob(filepath.Join(dir, "sa", "ckpt-*"))
	if err != nil || len(ckpts) == 0 {
		t.Fatalf("checkpoints of the first shipper: %v %v", ckpts, err)
	}
	for _, c := range ckpts {
		if err := os.Remove(c); err != nil {
			t.Fatal(err)
		}
	}
	write("a.log", 300, 50)
	ship(a, "sa")
	testsupport.WaitMetric(t, metrics, "logspread_collector_streams_returned_total", func(v float64) bool { return v >= 1 })
	if d := testsupport.Metric(t, metrics, "logspread_collector_duplicate_lines_total"); d < 300 {
		t.Errorf("duplicate_lines_total %v, want at least 300 (a.log resent from its start)", d)
	}
	if code := col.Terminate(t); code != 0 {
		t.Fatalf("collect: exit %d", code)
	}
	if err := checkOnce(t, out, want); err != nil {
		t.Fatal(err)
	}
	if s := col.Stderr.String(); !strings.Contains(s, "expired stream came back") {
		t.Errorf("the collector did not log the stream's return:\n%s", s)
	}
}
