package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/bench/loggen"
)

// floodLines is the size of the file TestNoKickUnderFlood ships: about 210 MB.
const floodLines = 1_000_000

// floodFreeze is how long TestNoKickUnderFlood freezes the collector (SIGSTOP) while the
// shipper starts: a collector that is slower for a while (a disk or GC stall), well
// below the daemon's --stall-timeout. Meanwhile the shipper sends far more than the
// daemon queues for one session (1000 messages).
const floodFreeze = 2 * time.Second

func TestNoKickUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("ships 210 MB")
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := loggen.New(11, loggen.Options{}).WriteLines(io.MultiWriter(f, h), floodLines); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := h.Sum(nil)

	t.Run("flow control", func(t *testing.T) {
		r := runFlood(t, logFile, true)
		if r.kicked != 0 {
			t.Errorf("daemon kicked %v sessions", r.kicked)
		}
		if r.pauses == 0 || r.paused < floodFreeze.Seconds()/2 {
			t.Errorf("flow control paused %v times for %.2fs; the collector was frozen for %v", r.pauses, r.paused, floodFreeze)
		}
		for name, v := range r.collector {
			if v != 0 && (strings.HasPrefix(name, "logspread_collector_duplicate_lines_total") || strings.HasPrefix(name, "logspread_collector_sessions_lost_total")) {
				t.Errorf("%s = %v", name, v)
			}
		}
		lines, sum := catLines(t, r.stop(t))
		if lines != floodLines || !bytes.Equal(sum, want) {
			t.Fatalf("segments hold %d lines, want the %d shipped, byte for byte (same bytes: %v)",
				lines, floodLines, bytes.Equal(sum, want))
		}
	})
	t.Run("spread", func(t *testing.T) {
		r := runFlood(t, logFile, false)
		if r.kicked == 0 {
			t.Fatalf("without flow control the collector was not disconnected (%v lines)", r.lines)
		}
		if r.lines >= floodLines {
			t.Errorf("collector kicked %v times yet wrote %v lines", r.kicked, r.lines)
		}
	})
}

// floodResult is what runFlood saw.
type floodResult struct {
	kicked, pauses, lines float64
	paused                float64            // seconds
	collector             map[string]float64 // the collector's metrics at the end
	stop                  func(*testing.T) string
}

// runFlood runs daemon (with or without flow control), collector and shipper until the
// shipper has every line acknowledged and the collector has written what it will. stop
// ends the collector cleanly and returns its output directory.
func runFlood(t *testing.T, logFile string, flow bool) floodResult {
	dir := t.TempDir()
	sock := filepath.Join(dir, "spread.sock")
	d := startMetricsProc(t, "daemon", "--listen", "unix:"+sock, fmt.Sprintf("--flow-control=%v", flow), "--metrics-addr", "127.0.0.1:0")
	daemonAddr := d.metricsAddr(t)
	out := filepath.Join(dir, "out")
	c := startMetricsProc(t, "collect", "--spread", "unix:"+sock, "--dir", out, "--log", "www=www.log.zst",
		"--metrics-addr", "127.0.0.1:0")
	collectorAddr := c.metricsAddr(t)
	checkFor(t, 10*time.Second, func() error {
		m, err := scrape(daemonAddr)
		if err != nil {
			return err
		}
		if m["logspread_daemon_groups"] < 1 {
			return fmt.Errorf("collector has not joined")
		}
		return nil
	})
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thaw := func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(thaw) // before startMetricsProc's SIGTERM
	start := time.Now()
	s := startMetricsProc(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", logFile)
	shipperAddr := s.metricsAddr(t)
	metric := func(addr, name string) float64 {
		t.Helper()
		m, err := scrape(addr)
		if err != nil {
			t.Fatal(err)
		}
		return m[name]
	}
	time.Sleep(floodFreeze - time.Since(start))
	thaw()
	checkFor(t, 30*time.Second, func() error {
		if v := metric(shipperAddr, "logspread_shipper_acked_lines_total"); v < floodLines {
			return fmt.Errorf("shipper acknowledged %v lines, want %d", v, floodLines)
		}
		return nil
	})
	// The collector is done when it has every line, or (lines lost) writes no more.
	last, since := -1.0, time.Now()
	checkFor(t, 30*time.Second, func() error {
		v := metric(collectorAddr, "logspread_collector_lines_total")
		if v >= floodLines {
			return nil
		}
		if v != last {
			last, since = v, time.Now()
		}
		if time.Since(since) > time.Second && metric(daemonAddr, "logspread_daemon_queued_messages") == 0 {
			return nil
		}
		return fmt.Errorf("collector wrote %v lines", v)
	})
	r := floodResult{lines: metric(collectorAddr, "logspread_collector_lines_total")}
	dm, err := scrape(daemonAddr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range dm {
		if strings.HasPrefix(k, "logspread_daemon_sessions_kicked_total") {
			r.kicked += v
		}
	}
	r.pauses = dm["logspread_daemon_flow_pauses_total"]
	r.paused = dm["logspread_daemon_flow_paused_seconds_total"]
	if r.collector, err = scrape(collectorAddr); err != nil {
		t.Fatal(err)
	}
	t.Logf("flow control %v: collector wrote %v of %d lines in %v; daemon: %v flow pauses, %.2fs paused, %v kicked",
		flow, r.lines, floodLines, time.Since(start).Round(time.Millisecond), r.pauses, r.paused, r.kicked)
	r.stop = func(t *testing.T) string {
		t.Helper()
		if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			t.Fatal("collector did not stop")
		}
		return out
	}
	return r
}

// catLines prints the segments in dir with `logspread cat` and returns the number of
// lines and the SHA-256 of the output.
func catLines(t *testing.T, dir string) (int, []byte) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.zst"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s (%v)", dir, err)
	}
	if len(segs) > 1 {
		t.Logf("segments %v", segs)
	}
	cat := exec.Command(logspreadBin, append([]string{"cat"}, segs...)...)
	pipe, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cat.Stderr = &stderr
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	lines := 0
	br := bufio.NewReaderSize(pipe, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		h.Write(line)
		if err == bufio.ErrBufferFull {
			continue // the rest of an over-long line follows
		}
		if len(line) > 0 {
			lines++
		}
		if err != nil {
			break
		}
	}
	if err := cat.Wait(); err != nil {
		t.Fatalf("logspread cat: %v\n%s", err, stderr.String())
	}
	return lines, h.Sum(nil)
}
