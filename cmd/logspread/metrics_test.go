package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/internal/testsupport"
)

// TestMetricsPipeline runs daemon, collector and shipper as processes, each with
// --metrics-addr, and watches their counters move over HTTP as lines flow.
func TestMetricsPipeline(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "spread.sock")
	logFile := filepath.Join(dir, "access.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	const lines = 5000
	if err := loggen.New(7, loggen.Options{}).WriteLines(f, lines); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d := testsupport.StartProcess(t, "daemon", "--listen", "unix:"+sock, "--metrics-addr", "127.0.0.1:0")
	daemonAddr := d.MetricsAddr(t)
	c := testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", filepath.Join(dir, "out"),
		"--log", "www=www.log.zst", "--flush-interval", "100ms", "--metrics-addr", "127.0.0.1:0")
	collectorAddr := c.MetricsAddr(t)
	// The collector is healthy once it has joined its group.
	testsupport.EventuallyErr(t, func() error {
		resp, err := http.Get("http://" + collectorAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("collector /healthz: %s", resp.Status)
		}
		return nil
	})
	before, err := testsupport.Scrape(daemonAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", logFile)
	shipperAddr := s.MetricsAddr(t)

	want := []struct {
		addr, name string
		min        float64
	}{
		{shipperAddr, "logspread_shipper_sent_lines_total", lines},
		{shipperAddr, "logspread_shipper_acked_lines_total", lines},
		{collectorAddr, "logspread_collector_lines_total", lines},
		{collectorAddr, "logspread_collector_segment_flushes_total", 1},
		{daemonAddr, "logspread_daemon_received_messages_total", before["logspread_daemon_received_messages_total"] + 2},
		{daemonAddr, "logspread_daemon_sessions", 2},
	}
	for _, w := range want {
		testsupport.WaitMetric(t, w.addr, w.name, func(v float64) bool { return v >= w.min })
	}
	m, err := testsupport.Scrape(collectorAddr)
	if err != nil {
		t.Fatal(err)
	}
	if m["process_resident_memory_bytes"] <= 0 {
		t.Errorf("process metrics missing from the collector's /metrics")
	}
	if v := m["logspread_collector_duplicate_lines_total"]; v != 0 {
		t.Errorf("collector dropped %v duplicate lines on a clean run", v)
	}
}

// TestShipSourceLag: logspread_shipper_source_lag_bytes{source} says, per argument, how
// much of it is not acknowledged: the whole file while no collector is present, then 0
// once one is; a glob sums the files it follows.
func TestShipSourceLag(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "logs", "b.log")
	os.Mkdir(filepath.Dir(b), 0o755)
	os.WriteFile(a, genLines(3, 100), 0o644)
	os.WriteFile(b, genLines(4, 50), 0o644)
	glob := filepath.Join(dir, "logs", "*.log")
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--checkpoint-interval", "0", "--metrics-addr", "127.0.0.1:0", a, glob)
	addr := s.MetricsAddr(t)
	sizeA, sizeB := float64(len(genLines(3, 100))), float64(len(genLines(4, 50)))
	lag := func(src string) string { return fmt.Sprintf("logspread_shipper_source_lag_bytes{source=%q}", src) }
	testsupport.EventuallyErr(t, func() error {
		m, err := testsupport.Scrape(addr)
		if err != nil {
			return err
		}
		if m[lag(a)] != sizeA || m[lag(glob)] != sizeB {
			return fmt.Errorf("lag %v and %v, want %v and %v (no collector: nothing acknowledged)", m[lag(a)], m[lag(glob)], sizeA, sizeB)
		}
		return nil
	})
	startShipReceiver(t, "unix:"+sock, "www")
	testsupport.EventuallyErr(t, func() error {
		m, err := testsupport.Scrape(addr)
		if err != nil {
			return err
		}
		if v, ok := m[lag(a)]; !ok || v != 0 || m[lag(glob)] != 0 {
			return fmt.Errorf("lag %v and %v, want 0 once a collector acknowledged everything", m[lag(a)], m[lag(glob)])
		}
		return nil
	})
}
