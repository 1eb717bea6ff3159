package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink/daemon"
)

// Written acknowledgements (ship --ack written, the default) end to end: a daemon, real
// `logspread collect` and `logspread ship` processes, real files, kill -9.

// writtenFloodLines is the size of TestWrittenFloodNoFlowControl's file. The issue's
// case is 1,000,000 lines (about 210 MB): run it with
// `go test ./cmd/logspread -run TestWrittenFloodNoFlowControl -args -written-flood-lines=1000000`.
// The default is smaller so that the package's tests stay short on a loaded machine;
// it still passes the daemon's default session bound (1000 messages, 64 MiB) many times
// over had the shipper's window not followed written progress.
var writtenFloodLines = flag.Int("written-flood-lines", 300_000, "lines TestWrittenFloodNoFlowControl ships")

// writtenCollector is a `logspread collect` process with a stable name, restartable on
// the same directories.
type writtenCollector struct {
	*testsupport.Process
	t       *testing.T
	args    []string
	out     string // output directory
	metrics string
}

func startWrittenCollector(t *testing.T, spread, name string, extra ...string) *writtenCollector {
	t.Helper()
	dir := t.TempDir()
	c := &writtenCollector{t: t, out: filepath.Join(dir, "out")}
	c.args = append([]string{"collect", "--spread", spread, "--dir", c.out, "--state-dir", filepath.Join(dir, "state"),
		"--name", name, "--flush-interval", "20ms", "--metrics-addr", "127.0.0.1:0"}, extra...)
	if !slices.Contains(extra, "--log") {
		c.args = append(c.args, "--log", "www={group}.log.zst")
	}
	c.start()
	return c
}

// start starts (or restarts) the process; it returns once the collector is up (its
// metrics are served), not necessarily joined.
func (c *writtenCollector) start() {
	c.t.Helper()
	c.Process = testsupport.StartProcess(c.t, c.args...)
	c.metrics = c.MetricsAddr(c.t)
}

// stop stops the collector cleanly and returns what its segments hold (in write order).
func (c *writtenCollector) stop() []byte {
	c.t.Helper()
	if code := c.Terminate(c.t); code != 0 {
		c.t.Fatalf("collector exited %d:\n%s", code, c.Stderr)
	}
	got, _, torn := catAll(c.t, c.out)
	if torn != 0 {
		c.t.Errorf("%d torn segments after a clean stop", torn)
	}
	return got
}

// writtenShip starts `logspread ship --once` on path (read from its beginning): it exits 0
// once every line was acknowledged, with the default --ack written.
func writtenShip(t *testing.T, spread, state, path string, extra ...string) *testsupport.Process {
	t.Helper()
	args := append([]string{"ship", "--group", "www", "--spread", spread, "--state-dir", state, "--once",
		"--metrics-addr", "127.0.0.1:0"}, extra...)
	return testsupport.StartProcess(t, append(args, path)...)
}

// waitShipped waits until ship --once exits 0.
func waitShipped(t *testing.T, s *testsupport.Process) {
	t.Helper()
	if code := s.Wait(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, s.Stderr)
	}
	s.WaitLog(t, `msg="stopped; every line read was acknowledged"`)
}

// processRig is what the process tests of a shipper's restarts share: an embedded
// daemon, the shipper's arguments, and the shipper run now going (restarted on the same
// state directory by ship, or shipStdin for `ship -`).
type processRig struct {
	t      *testing.T
	dir    string // the test's temporary directory
	spread string
	state  string // the shipper's state directory
	args   []string
	s      *testsupport.Process // the shipper run now going
	addr   string               // its metrics address
	stdin  *os.File             // the writing end of its standard input (shipStdin)
}

// newProcessRig starts a daemon. The shipper's arguments are "ship --group www", the
// daemon, the state directory (dir/state) and a metrics address, then args (more flags,
// then the paths or "-").
func newProcessRig(t *testing.T, args ...string) *processRig {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	r := &processRig{t: t, dir: dir, spread: "unix:" + sock, state: filepath.Join(dir, "state")}
	r.args = append([]string{"ship", "--group", "www", "--spread", r.spread, "--state-dir", r.state,
		"--metrics-addr", "127.0.0.1:0"}, args...)
	return r
}

// collector starts a written collector on the rig's daemon.
func (r *processRig) collector(name string) *writtenCollector {
	r.t.Helper()
	c := startWrittenCollector(r.t, r.spread, name)
	// Joined before it returns: a shipper started next has it present from its first
	// batch (a collector that joins later gets lines from there on only, and a test that
	// expects all of them waited for ever, 1 run in ~40 under load).
	testsupport.WaitMetric(r.t, c.metrics, "logspread_collector_connected", func(v float64) bool { return v == 1 })
	return c
}

// ship starts a shipper run.
func (r *processRig) ship() {
	r.t.Helper()
	r.s = testsupport.StartProcess(r.t, r.args...)
	r.addr = r.s.MetricsAddr(r.t)
}

// shipStdin starts a shipper run on a new pipe, written by write.
func (r *processRig) shipStdin() {
	r.t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { pw.Close() })
	r.stdin = pw
	r.s = startWithStdin(r.t, pr, r.args...)
	r.addr = r.s.MetricsAddr(r.t)
}

// write writes b to the shipper's standard input.
func (r *processRig) write(b []byte) {
	r.t.Helper()
	if _, err := r.stdin.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// kill kills the shipper (SIGKILL).
func (r *processRig) kill() {
	r.t.Helper()
	r.s.Kill(r.t)
}

// terminate stops the shipper (SIGTERM) and fails unless it exits 0.
func (r *processRig) terminate() {
	r.t.Helper()
	if code := r.s.Terminate(r.t); code != 0 {
		r.t.Fatalf("ship exited %d:\n%s", code, r.s.Stderr)
	}
}

// stop kills the shipper or terminates it (and fails unless it exits 0).
func (r *processRig) stop(kill bool) {
	r.t.Helper()
	if kill {
		r.kill()
	} else {
		r.terminate()
	}
}

// stopUnacked kills the shipper or stops it (SIGTERM) while not every line was
// acknowledged: its exit code says so, and is not checked.
func (r *processRig) stopUnacked(kill bool) {
	r.t.Helper()
	if kill {
		r.kill()
	} else {
		r.s.Terminate(r.t)
	}
}

// waitShip waits until the shipper's metric name is n or more.
func (r *processRig) waitShip(name string, n int) {
	r.t.Helper()
	waitAtLeast(r.t, r.addr, name, n)
}

// shipped waits until c wrote n bytes and the shipper had n acknowledged.
func (r *processRig) shipped(c *writtenCollector, n int) {
	r.t.Helper()
	waitAtLeast(r.t, c.metrics, "logspread_collector_bytes_total", n)
	r.waitShip("logspread_shipper_acked_bytes_total", n)
}

// collectorGone stops c cleanly and waits until the shipper knows no collector.
func (r *processRig) collectorGone(c *writtenCollector) {
	r.t.Helper()
	if code := c.Terminate(r.t); code != 0 {
		r.t.Fatalf("collector exited %d", code)
	}
	testsupport.WaitMetric(r.t, r.addr, "logspread_shipper_collectors", func(v float64) bool { return v == 0 })
}

// logFile writes data at path and makes the shipper follow it: its arguments end with
// --from-beginning, flags and path.
func (r *processRig) logFile(path string, data []byte, flags ...string) {
	r.t.Helper()
	r.args = append(append(append(r.args, "--from-beginning"), flags...), path)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// readUnsent starts collector a and the shipper on the log file path (part1 in it), waits
// until part1 is written and acknowledged, stops the collector cleanly, appends part2
// and waits until the shipper read it (with no collector to send it to). It returns the
// collector, stopped.
func (r *processRig) readUnsent(path string, part1, part2 []byte) *writtenCollector {
	r.t.Helper()
	c := r.collector("a")
	r.ship()
	r.shipped(c, len(part1))

	// The collector stops cleanly (not waited for); part 2 is read, not sent.
	r.collectorGone(c)
	appendTo(r.t, path, part2)
	r.waitShip("logspread_shipper_read_bytes_total", len(part1)+len(part2))
	return c
}

// shipReplaced deletes the log file path and writes b there, starts the shipper and
// waits until it said the checkpointed file is gone.
func (r *processRig) shipReplaced(path string, b []byte) {
	r.t.Helper()
	replaceFile(r.t, path, b)
	r.ship()
	r.s.WaitLog(r.t, `checkpointed file not found at the path or any rotated name`)
}

// waitAtLeast waits until the metric name at addr is n or more.
func waitAtLeast(t *testing.T, addr, name string, n int) {
	t.Helper()
	testsupport.WaitMetric(t, addr, name, func(v float64) bool { return v >= float64(n) })
}

// gaps returns what the collector counted of gaps: bytes, and gaps of unknown size.
func (c *writtenCollector) gaps() (gapBytes, unknown float64) {
	c.t.Helper()
	return testsupport.Metric(c.t, c.metrics, "logspread_collector_gap_bytes_total"),
		testsupport.Metric(c.t, c.metrics, "logspread_collector_unknown_gaps_total")
}

// replaceFile deletes path and writes a new file b there.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce fails unless got is want exactly (every line once, in order).
func checkExactlyOnce(t *testing.T, who string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s wrote %d bytes, want the %d shipped, every line once and in order%s", who, len(got), len(want), describeDiff(got, want))
	}
}

// checkEveryLineOnce fails unless got holds the lines of want, each exactly once, in any
// order: what a collector that joins late lacks is resent and written after the lines
// that reached it first. The lines of want must be distinct.
func checkEveryLineOnce(t *testing.T, who string, got, want []byte) {
	t.Helper()
	g, w := bytes.SplitAfter(got, []byte("\n")), bytes.SplitAfter(want, []byte("\n"))
	slices.SortFunc(g, bytes.Compare)
	slices.SortFunc(w, bytes.Compare)
	if !slices.EqualFunc(g, w, bytes.Equal) {
		t.Fatalf("%s wrote %d lines (%d bytes), want the %d shipped (%d bytes), each exactly once", who, len(g)-1, len(got), len(w)-1, len(want))
	}
}

// TestWrittenCollectorKill9: a lone collector is killed with SIGKILL ten times, at
// random points, while `ship --once` ships a file, and restarted each time. The shipper
// (--ack written) resends what each restart lacks; the collector's segments hold every
// line exactly once, in order, and ship exits 0 only then.
func TestWrittenCollectorKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	path := filepath.Join(dir, "access.log")
	content := accessLines("k", 0, 199_999) // 200,000 lines, 15 MB
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startWrittenCollector(t, spread, "solo")
	s := writtenShip(t, spread, filepath.Join(dir, "state"), path)
	shipper := s.MetricsAddr(t)

	// Ten kill points, at random acknowledged offsets (acknowledged: written by the
	// collector and reported), in increasing order.
	seed := time.Now().UnixNano()
	t.Logf("kill points seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 13))
	points := make([]float64, 10)
	for i := range points {
		points[i] = float64(rng.IntN(len(content) * 9 / 10))
	}
	slices.Sort(points)
	// The first kill at the first acknowledgement: 15 MB take long enough to ship then
	// that it lands mid-stream. Random points only: on a quiet machine the shipper
	// finished the whole file before the first of them was polled (0 of 10 kills landed).
	points[0] = 1
	mid := 0 // kills while ship was still running
	for i, at := range points {
		// Either the collector has written past the point (the kill lands mid-stream),
		// or ship has ended (everything written: the kill lands after the end).
		testsupport.EventuallyErr(t, func() error {
			if s.Exited() {
				return nil
			}
			v, err := testsupport.Scrape(shipper)
			if err != nil {
				return err
			}
			if a := v["logspread_shipper_acked_bytes_total"]; a < at {
				return fmt.Errorf("kill %d: %v bytes acknowledged, waiting for %v", i+1, a, at)
			}
			return nil
		})
		if !s.Exited() {
			mid++
		}
		c.Kill(t)
		c.start()
	}
	t.Logf("%d of 10 kills landed while the file was shipping", mid)
	if mid == 0 {
		t.Fatal("every kill came after the file was shipped: nothing was tested")
	}
	waitShipped(t, s)
	checkExactlyOnce(t, "collector killed 10 times", c.stop(), content)
	checkSummaryOnce(t, s, 200_000, len(content))
}

// checkSummaryOnce checks the shutdown summary of a ship --once that shipped a file of
// lines lines (size bytes) from its beginning: every line is counted once as read and
// once as acknowledged, whatever was re-read for collectors that were away (counted
// apart; acked_lines was 241,296 for 200,000 lines after 3 collector kills).
func checkSummaryOnce(t *testing.T, s *testsupport.Process, lines, size int) {
	t.Helper()
	m := s.WaitLog(t, `msg="stopped; every line read was acknowledged" .*read_lines=(\d+) read_bytes=(\d+) reread_lines=(\d+) reread_bytes=(\d+) acked_lines=(\d+) acked_bytes=(\d+) resent_batches=(\d+)`)
	want := map[string]string{"read_lines": strconv.Itoa(lines), "read_bytes": strconv.Itoa(size),
		"acked_lines": strconv.Itoa(lines), "acked_bytes": strconv.Itoa(size)}
	got := map[string]string{"read_lines": m[1], "read_bytes": m[2], "acked_lines": m[5], "acked_bytes": m[6]}
	if !maps.Equal(got, want) {
		t.Errorf("summary %v, want %v (each line once)\n%s", got, want, m[0])
	}
	t.Logf("re-read %s lines (%s bytes), resent %s batches", m[3], m[4], m[7])
}

// TestWrittenUnwritableKillWritable: the collector cannot create its segments (their
// directory is a file): it reports itself stalled and the shipper acknowledges nothing.
// Killed with SIGKILL, the directory fixed, restarted: every line is written once.
func TestWrittenUnwritableKillWritable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	path := filepath.Join(dir, "access.log")
	content := accessLines("u", 0, 19_999)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startWrittenCollector(t, spread, "blocked", "--log", "www=sub/{group}.log.zst")
	if err := os.MkdirAll(c.out, 0o750); err != nil {
		t.Fatal(err)
	}
	block := filepath.Join(c.out, "sub") // a file where the segments' directory goes: even root cannot write
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := writtenShip(t, spread, filepath.Join(dir, "state"), path)
	shipper := s.MetricsAddr(t)
	c.WaitLog(t, `stalled: cannot write`)
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_stalled{collector="blocked",reason="other"}`, func(v float64) bool { return v == 1 })
	if v := testsupport.Metric(t, shipper, "logspread_shipper_acked_bytes_total"); v != 0 {
		t.Fatalf("%v bytes acknowledged while the only collector could write none", v)
	}
	c.Kill(t)
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	c.start()
	waitShipped(t, s)
	got := c.stop()
	sub, _, _ := catAll(t, filepath.Join(c.out, "sub"))
	if len(got) != 0 {
		t.Errorf("%d bytes outside the template's directory", len(got))
	}
	checkExactlyOnce(t, "collector unwritable, killed, then writable", sub, content)
}

// TestWrittenRequireCollectorsLate: `ship --require-collectors a,b` starts before its
// collectors; a starts, b 50 ms later. The lines b missed while only a was there are
// read again from the file for it: both write every line once (the case, where
// with ordered acknowledgements b lacked the first thousands of lines). a has them in
// order; b has the batches in flight when it joined first, then the rest from the start
// of the file (a resend fills a hole after the lines that came first).
func TestWrittenRequireCollectorsLate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	path := filepath.Join(dir, "access.log")
	content := accessLines("late", 0, 199_999) // distinct lines
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	s := writtenShip(t, spread, filepath.Join(dir, "state"), path, "--require-collectors", "a,b")
	shipper := s.MetricsAddr(t)
	testsupport.WaitMetric(t, shipper, "logspread_shipper_absent_collectors", func(v float64) bool { return v == 2 })
	a := startWrittenCollector(t, spread, "a")
	time.Sleep(50 * time.Millisecond) // the spacing between the two starts
	b := startWrittenCollector(t, spread, "b")
	waitShipped(t, s)
	checkExactlyOnce(t, "a", a.stop(), content)
	checkEveryLineOnce(t, "b", b.stop(), content)
}

// TestWrittenRequiredAway: two required collectors; b is killed while a file is being
// written and shipped, and stays away while more lines arrive (the shipper holds its
// checkpoint and counts the bytes it holds for b, while a goes on). When b returns it
// gets what it lacks, read again from the file: both write every line once.
func TestWrittenRequiredAway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	path := filepath.Join(dir, "access.log")
	part1, part2, part3 := accessLines("p1", 0, 9_999), accessLines("p2", 0, 29_999), accessLines("p3", 0, 9_999)
	if err := os.WriteFile(path, part1, 0o644); err != nil {
		t.Fatal(err)
	}
	a := startWrittenCollector(t, spread, "a")
	b := startWrittenCollector(t, spread, "b")
	// Followed, not --once: the file grows while b is away. A short absent timeout shows
	// that a required collector is waited for beyond it.
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--require-collectors", "a,b", "--absent-timeout", "50ms", "--from-beginning", "--metrics-addr", "127.0.0.1:0", path)
	shipper := s.MetricsAddr(t)
	written := func(c *writtenCollector, n int) {
		t.Helper()
		testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(n) })
	}
	written(a, len(part1))
	written(b, len(part1))

	b.Kill(t)
	appendTo(t, path, part2)
	written(a, len(part1)+len(part2))
	// b is away and waited for: the shipper holds part 2 for it.
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(part2)) })
	if v := testsupport.Metric(t, shipper, "logspread_shipper_absent_collectors"); v != 1 {
		t.Errorf("absent collectors %v, want 1 (b)", v)
	}

	b.start()
	// Once the shipper has seen b back (and gone back in the file for it), what is
	// appended is read after what b lacks: b gets every line in order.
	testsupport.WaitMetric(t, shipper, "logspread_shipper_absent_collectors", func(v float64) bool { return v == 0 })
	appendTo(t, path, part3)
	all := slices.Concat(part1, part2, part3)
	written(a, len(all))
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_written_offset_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(all)) })
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d", code)
	}
	checkExactlyOnce(t, "a", a.stop(), all)
	checkExactlyOnce(t, "b (away, then back)", b.stop(), all)
}

// TestWrittenKickedCollectorBack: two collectors; b stops reading (SIGSTOP, a long GC or
// disk stall) while a file grows. Its queue at the daemon passes the soft mark, the
// daemon's flow control pauses everyone, and after the stall timeout the daemon
// disconnects b as stalled. a is never disconnected and goes on: it writes every line
// while b is away, because b's departure frees the shipper's window from b's progress
// (b is absent, and the checkpoint waits for it). b, let go on (SIGCONT), finds its
// session gone, reconnects, and gets the backlog, read again from the file: both write
// every line once.
func TestWrittenKickedCollectorBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	const stallTimeout = 3 * time.Second // a reading collector on a loaded machine is never that slow
	d := testsupport.StartDaemon(t, testsupport.WithSocket(sock), testsupport.WithConfig(func(c *daemon.Config) {
		c.SoftSessionBytes = 1 << 20
		c.StallTimeout = stallTimeout
	}))
	spread := "unix:" + sock
	path := filepath.Join(dir, "access.log")
	// part 2 is sent uncompressed: far more than the soft mark and a socket buffer.
	part1, part2, part3 := accessLines("k1", 0, 9_999), accessLines("k2", 0, 99_999), accessLines("k3", 0, 9_999)
	if err := os.WriteFile(path, part1, 0o644); err != nil {
		t.Fatal(err)
	}
	a := startWrittenCollector(t, spread, "a")
	b := startWrittenCollector(t, spread, "b")
	// Neither is required: a collector that joins after the first batches are ordered
	// does not get them (they were acknowledged without it). Both must be there first.
	a.WaitLog(t, "joined all groups")
	b.WaitLog(t, "joined all groups")
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--batch-compression", "none", "--from-beginning", "--metrics-addr", "127.0.0.1:0", path)
	shipper := s.MetricsAddr(t)
	written := func(c *writtenCollector, n int) {
		t.Helper()
		testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(n) })
	}
	written(a, len(part1))
	written(b, len(part1))
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_written_offset_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(part1)) })

	b.Freeze(t) // the process cleanup lets it go on (SIGCONT) should the test end before
	appendTo(t, path, part2)
	testsupport.EventuallyErr(t, func() error {
		if k := d.Metric(t, "logspread_daemon_sessions_kicked_total"); k < 1 {
			return fmt.Errorf("the daemon has not disconnected the stopped collector (kicked %v)", k)
		}
		return nil
	})
	// b is away and waited for; a gets every line meanwhile.
	written(a, len(part1)+len(part2))
	testsupport.WaitMetric(t, shipper, "logspread_shipper_absent_collectors", func(v float64) bool { return v == 1 })
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v > 0 })

	b.Thaw(t)
	b.WaitLog(t, `msg=connected .*\n(?s:.*)msg=connected `) // its second session
	testsupport.WaitMetric(t, shipper, "logspread_shipper_absent_collectors", func(v float64) bool { return v == 0 })
	appendTo(t, path, part3)
	all := slices.Concat(part1, part2, part3)
	written(a, len(all))
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_written_offset_bytes{collector="b"}`, func(v float64) bool { return v >= float64(len(all)) })
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v == 0 })
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d", code)
	}
	if v := testsupport.Metric(t, a.metrics, "logspread_collector_sessions_lost_total"); v != 0 {
		t.Errorf("a lost %v sessions: only b should have been disconnected", v)
	}
	if v := testsupport.Metric(t, b.metrics, "logspread_collector_sessions_lost_total"); v < 1 {
		t.Errorf("b lost %v sessions, want at least 1", v)
	}
	if k := d.Metric(t, "logspread_daemon_sessions_kicked_total"); k != 1 {
		t.Errorf("daemon kicked %v sessions, want 1 (b)", k)
	}
	checkExactlyOnce(t, "a (never stopped)", a.stop(), all)
	checkEveryLineOnce(t, "b (disconnected, then back)", b.stop(), all)
}

// TestWrittenFloodNoFlowControl: a daemon without flow control (Spread's behaviour:
// senders are never slowed, a session whose queue passes its bound is disconnected)
// with its default session bounds, a file of *writtenFloodLines lines shipped at full
// speed into two collectors. The shipper's window follows the collectors' written
// progress, so their queues stay small: both write every line, and no session is kicked.
func TestWrittenFloodNoFlowControl(t *testing.T) {
	if testing.Short() {
		t.Skip("ships a large file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := loggen.New(11, loggen.Options{}).WriteLines(io.MultiWriter(f, h), *writtenFloodLines); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := h.Sum(nil)
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	spread := "unix:" + sock
	d := testsupport.StartProcess(t, "daemon", "--listen", spread, "--flow-control=false", "--metrics-addr", "127.0.0.1:0")
	daemonAddr := d.MetricsAddr(t)
	a := startWrittenCollector(t, spread, "a")
	b := startWrittenCollector(t, spread, "b")
	a.WaitLog(t, "joined all groups")
	b.WaitLog(t, "joined all groups")
	// Uncompressed, as the flow-control flood test: the bytes must pass through the
	// daemon's queues.
	s := writtenShip(t, spread, filepath.Join(dir, "state"), path, "--batch-compression", "none")
	waitShipped(t, s)
	for _, c := range []*writtenCollector{a, b} {
		if v := testsupport.Metric(t, c.metrics, "logspread_collector_sessions_lost_total"); v != 0 {
			t.Errorf("collector lost %v sessions", v)
		}
		if code := c.Terminate(t); code != 0 {
			t.Fatalf("collector exited %d", code)
		}
		lines, sum := catLines(t, c.out)
		if lines != *writtenFloodLines || !bytes.Equal(sum, want) {
			t.Errorf("collector %s: %d lines, want the %d shipped, byte for byte (same bytes: %v)", c.out, lines, *writtenFloodLines, bytes.Equal(sum, want))
		}
	}
	if k := testsupport.Metric(t, daemonAddr, "logspread_daemon_sessions_kicked_total"); k != 0 {
		t.Errorf("daemon kicked %v sessions", k)
	}
}

// TestWrittenGlobCollectorAway: files followed through a glob, two collectors; b is
// killed while every file grows and is rotated once (renamed to NAME.1, a new file
// created). When b comes back, the shipper reads each file's stream again for b from
// where b's checkpoint stands, through the rotated generation (found by identity) into
// the new file, while the other streams go on. One rotated generation is deleted on
// purpose before b returns: only what b lacks of it is lost, and exactly: the shipper
// counts it for b, b counts it as a gap, and b has every other line exactly once; a,
// never away, has every line once and no gap.
func TestWrittenGlobCollectorAway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	spread := "unix:" + sock
	const files = 3
	var part1, part2, part3 [files][]byte
	var sum1, all int
	for i := range files {
		tag := fmt.Sprintf("g%d", i)
		part1[i], part2[i], part3[i] = accessLines(tag+"a", 0, 3_999), accessLines(tag+"b", 0, 5_999), accessLines(tag+"c", 0, 2_999)
		sum1 += len(part1[i])
		all += len(part1[i]) + len(part2[i]) + len(part3[i])
		if err := os.WriteFile(filepath.Join(logs, fmt.Sprintf("h%d.log", i)), part1[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := startWrittenCollector(t, spread, "a")
	b := startWrittenCollector(t, spread, "b")
	// Neither is required: both must have joined before the first batches are ordered.
	a.WaitLog(t, "joined all groups")
	b.WaitLog(t, "joined all groups")
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", filepath.Join(logs, "*.log"))
	shipper := s.MetricsAddr(t)
	written := func(c *writtenCollector, n int) {
		t.Helper()
		testsupport.WaitMetric(t, c.metrics, "logspread_collector_bytes_total", func(v float64) bool { return v >= float64(n) })
	}
	written(a, sum1)
	written(b, sum1)
	// The shipper knows b has part 1 of every file: its checkpoints stand there.
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_written_offset_bytes{collector="b"}`, func(v float64) bool { return v >= float64(sum1) })

	b.Kill(t)
	for i := range files {
		path := filepath.Join(logs, fmt.Sprintf("h%d.log", i))
		appendTo(t, path, part2[i])
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, part3[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// a writes everything meanwhile: the shipper read every generation to its end.
	written(a, all)
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v >= float64(all-sum1) })
	// The rotated generation of h0 is deleted before b is back: what b lacks of it
	// (part 2 of h0) is gone from the disk.
	if err := os.Remove(filepath.Join(logs, "h0.log.1")); err != nil {
		t.Fatal(err)
	}
	lost := len(part2[0])

	b.start()
	written(b, all-sum1-lost) // since its restart (a counter per process)
	testsupport.WaitMetric(t, shipper, `logspread_shipper_collector_held_bytes{collector="b"}`, func(v float64) bool { return v == 0 })
	testsupport.WaitMetric(t, b.metrics, `logspread_collector_gap_bytes_by_cause_total{cause="loss_notice"}`, func(v float64) bool { return v >= float64(lost) })
	if v := testsupport.Metric(t, shipper, `logspread_shipper_collector_lost_bytes_total{collector="b"}`); v != float64(lost) {
		t.Errorf("shipper counted %v bytes lost for b, want %d (part 2 of h0, deleted)", v, lost)
	}
	if v := testsupport.Metric(t, shipper, `logspread_shipper_collector_lost_bytes_total{collector="a"}`); v != 0 {
		t.Errorf("shipper counted %v bytes lost for a, want 0", v)
	}
	if v := testsupport.Metric(t, shipper, "logspread_shipper_rewinds_total"); v < files {
		t.Errorf("rewinds %v, want at least one per file (%d)", v, files)
	}
	if code := s.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d", code)
	}
	if v := testsupport.Metric(t, b.metrics, "logspread_collector_gap_bytes_total"); v != float64(lost) {
		t.Errorf("b counted %v bytes of gaps, want exactly %d", v, lost)
	}
	if v := testsupport.Metric(t, a.metrics, "logspread_collector_gap_bytes_total"); v != 0 {
		t.Errorf("a counted %v bytes of gaps, want none", v)
	}
	var want, wantB []byte
	for i := range files {
		want = slices.Concat(want, part1[i], part2[i], part3[i])
		if i == 0 {
			wantB = slices.Concat(wantB, part1[i], part3[i])
		} else {
			wantB = slices.Concat(wantB, part1[i], part2[i], part3[i])
		}
	}
	checkEveryLineOnce(t, "a (never away)", a.stop(), want)
	checkEveryLineOnce(t, "b (away while the files rotated)", b.stop(), wantB)
}
