package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink/daemon"
)

// floodLines is the size of the file TestNoKickUnderFlood ships: about 210 MB, far more
// than the daemon queues for one session (1000 messages or 64 MiB).
const floodLines = 1_000_000

// TestNoKickUnderFlood freezes the collector (SIGSTOP: a disk or GC stall) while a
// shipper floods its group, until the daemon has reacted to the collector's growing
// queue. With flow control the queue passes its soft mark and the daemon stops reading
// the shipper; nobody is disconnected, and after the thaw every line arrives. Without it
// (Spread's rule) the queue passes its bound and the daemon disconnects the collector,
// which loses lines: the control that shows the freeze is long enough. Each step waits
// for the event it needs, never for a span of wall-clock time, so a loaded machine makes
// the test slower, not flaky.
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
		fl := startFlood(t, logFile, true)
		const softMessages = daemon.DefaultMaxSessionMessages / 2
		// The frozen collector's queue passed its soft mark (it cannot shrink while the
		// collector is frozen) and the daemon stopped reading requests. Flow control holds
		// the queue near that mark, far below the bound, and the stall timeout is an hour:
		// nothing can be kicked.
		testsupport.EventuallyErr(t, func() error {
			m, err := testsupport.Scrape(fl.daemon)
			if err != nil {
				return err
			}
			paused, msgs, size := m["logspread_daemon_flow_paused"], m["logspread_daemon_queued_messages"], m["logspread_daemon_queued_bytes"]
			if paused == 1 && (msgs >= softMessages || size >= daemon.DefaultSoftSessionBytes) {
				return nil
			}
			return fmt.Errorf("daemon paused %v with %v messages (%v bytes) queued; want a pause above the soft mark (%v messages or %v bytes)",
				paused, msgs, size, softMessages, daemon.DefaultSoftSessionBytes)
		})
		if k := testsupport.Metric(t, fl.daemon, "logspread_daemon_sessions_kicked_total"); k != 0 {
			t.Fatalf("daemon kicked %v sessions while pausing", k)
		}
		fl.collector.Thaw(t)
		fl.waitAcked(t)
		testsupport.WaitMetric(t, fl.collectorAddr, "logspread_collector_lines_total", func(v float64) bool { return v >= floodLines })
		cm, err := testsupport.Scrape(fl.collectorAddr)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"logspread_collector_duplicate_lines_total", "logspread_collector_sessions_lost_total"} {
			if v := cm[name]; v != 0 {
				t.Errorf("%s = %v", name, v)
			}
		}
		lines, sum := catLines(t, fl.stop(t))
		if lines != floodLines || !bytes.Equal(sum, want) {
			t.Fatalf("segments hold %d lines, want the %d shipped, byte for byte (same bytes: %v)",
				lines, floodLines, bytes.Equal(sum, want))
		}
		dm, err := testsupport.Scrape(fl.daemon)
		if err != nil {
			t.Fatal(err)
		}
		if k := dm[`logspread_daemon_sessions_kicked_total{reason="queue_full"}`] + dm[`logspread_daemon_sessions_kicked_total{reason="stalled"}`]; k != 0 {
			t.Errorf("daemon kicked %v sessions", k)
		}
		t.Logf("flow control: %v pauses, %.2fs paused", dm["logspread_daemon_flow_pauses_total"], dm["logspread_daemon_flow_paused_seconds_total"])
	})
	t.Run("spread", func(t *testing.T) {
		fl := startFlood(t, logFile, false)
		// The frozen collector's queue passes its bound: the daemon disconnects it.
		testsupport.WaitMetric(t, fl.daemon, `logspread_daemon_sessions_kicked_total{reason="queue_full"}`, func(v float64) bool { return v >= 1 })
		fl.collector.Thaw(t)
		// The collector reconnects, and the shipper (which waits while no collector is
		// present) gets every line acknowledged; the lines queued for the collector when
		// it was disconnected were ordered, hence acknowledged, and are lost.
		fl.waitAcked(t)
		lines, _ := catLines(t, fl.stop(t))
		t.Logf("without flow control the collector was disconnected and wrote %d of %d lines", lines, floodLines)
		if lines >= floodLines {
			t.Errorf("collector disconnected yet wrote %d of %d lines", lines, floodLines)
		}
	})
}

// flood is a daemon, a frozen collector and a shipper, as processes.
type flood struct {
	daemon, collectorAddr, shipper string // metrics addresses
	collector                      *testsupport.Process
	out                            string // the collector's output directory
}

// startFlood starts a daemon (with or without flow control, with a stall timeout of an
// hour) and a collector, freezes the collector once it has joined its group and the
// presence group, then starts a shipper on logFile.
func startFlood(t *testing.T, logFile string, flow bool) *flood {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "spread.sock")
	fl := &flood{out: filepath.Join(dir, "out")}
	d := testsupport.StartProcess(t, "daemon", "--listen", "unix:"+sock, fmt.Sprintf("--flow-control=%v", flow),
		"--stall-timeout", "1h", "--metrics-addr", "127.0.0.1:0")
	fl.daemon = d.MetricsAddr(t)
	fl.collector = testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", fl.out, "--log", "www=www.log.zst",
		"--metrics-addr", "127.0.0.1:0")
	fl.collectorAddr = fl.collector.MetricsAddr(t)
	// "www" and "~www": the shipper will see the collector present.
	testsupport.WaitMetric(t, fl.daemon, "logspread_daemon_groups", func(v float64) bool { return v >= 2 })
	fl.collector.Freeze(t)
	// Uncompressed batches: the 210 MB must pass through the daemon's queues to fill
	// them (compressed, the whole file is far below a session's bound). Acknowledged on
	// order: with --ack written the frozen collector's missing progress reports would
	// hold the shipper's window long before the daemon's queues fill (the flood through
	// a daemon without flow control is TestWrittenFloodNoFlowControl).
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--ack", "ordered", "--batch-compression", "none", "--from-beginning", "--metrics-addr", "127.0.0.1:0", logFile)
	fl.shipper = s.MetricsAddr(t)
	return fl
}

// waitAcked waits until the shipper has every line acknowledged (ordered).
func (fl *flood) waitAcked(t *testing.T) {
	t.Helper()
	testsupport.WaitMetric(t, fl.shipper, "logspread_shipper_acked_lines_total", func(v float64) bool { return v >= floodLines })
}

// stop stops the collector cleanly and returns its output directory. The collector
// leaves the presence group first and writes everything ordered before its leave, so
// once the shipper has every line acknowledged the segments hold all the collector will
// ever get.
func (fl *flood) stop(t *testing.T) string {
	t.Helper()
	if code := fl.collector.Terminate(t); code != 0 {
		t.Fatalf("collector exited with %d", code)
	}
	return fl.out
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
	cat := testsupport.Command(t, append([]string{"cat"}, segs...)...)
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
