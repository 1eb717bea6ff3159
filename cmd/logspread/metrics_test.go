package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/bench/loggen"
)

// metricsProc is a logspread process started by a test, with the metrics address it logged.
type metricsProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  bytes.Buffer
	metrics chan string
	done    chan struct{}
}

var metricsLine = regexp.MustCompile(`msg="serving metrics" .*\baddr=(\S+)`)

// startMetricsProc runs logspread with args, stopping it (SIGTERM, then SIGKILL) at cleanup.
func startMetricsProc(t *testing.T, args ...string) *metricsProc {
	t.Helper()
	p := &metricsProc{cmd: exec.Command(logspreadBin, args...), metrics: make(chan string, 1), done: make(chan struct{})}
	r, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := metricsLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case p.metrics <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = p.cmd.Wait()
	})
	return p
}

func (p *metricsProc) metricsAddr(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.metrics:
		return a
	case <-time.After(10 * time.Second):
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("%v logged no metrics address:\n%s", p.cmd.Args, p.stderr.String())
		return ""
	}
}

// scrape fetches /metrics from addr and returns the value of each unlabelled sample.
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

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

	d := startMetricsProc(t, "daemon", "--listen", "unix:"+sock, "--metrics-addr", "127.0.0.1:0")
	daemonAddr := d.metricsAddr(t)
	c := startMetricsProc(t, "collect", "--spread", "unix:"+sock, "--dir", filepath.Join(dir, "out"),
		"--log", "www=www.log.zst", "--flush-interval", "100ms", "--metrics-addr", "127.0.0.1:0")
	collectorAddr := c.metricsAddr(t)
	// The collector is healthy once it has joined its group.
	checkFor(t, 10*time.Second, func() error {
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
	before, err := scrape(daemonAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := startMetricsProc(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", logFile)
	shipperAddr := s.metricsAddr(t)

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
		checkFor(t, 20*time.Second, func() error {
			m, err := scrape(w.addr)
			if err != nil {
				return err
			}
			if v, ok := m[w.name]; !ok || v < w.min {
				return fmt.Errorf("%s = %v (present %v), want >= %v", w.name, v, ok, w.min)
			}
			return nil
		})
	}
	m, err := scrape(collectorAddr)
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
