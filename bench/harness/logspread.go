package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Logspread is logspread's own end-to-end scenario: one `logspread ship` per input
// file (KindShipper, "4 web hosts", each with its own state directory), one
// `logspread daemon` (KindDaemon) on a unix socket in the run directory, and
// Env.Collectors `logspread collect --compress zstd` (KindCollector) with the default
// --flush-interval of 1s.
//
// Completion: a line is in when the zstd frame holding it has been written to its
// segment. Every collector adds the raw size of each frame it writes to
// logspread_collector_segment_raw_bytes_total right after the write; the job is
// complete at the first 10 ms poll (see Wait) at which every collector reports all
// Env.Bytes input bytes written.
type Logspread struct {
	Bin string // path of the logspread binary

	// Title names the scenario in the report ("" means "logspread"); ShipArgs are
	// added to every `logspread ship` (e.g. --batch-compression none).
	Title    string
	ShipArgs []string

	// MaxSessionMessages and MaxSessionBytes are the daemon's --max-session-messages
	// and --max-session-bytes; 0 keeps the daemon's defaults (1000 and 64 MiB). A
	// collector that falls further behind than that is disconnected (with the
	// daemon's flow control off, or before it existed) and loses lines; the run then
	// fails.
	MaxSessionMessages int
	MaxSessionBytes    int

	sock          string // the daemon's unix socket
	daemonMetrics string // http://127.0.0.1:PORT of the daemon's /metrics
	collectors    []lsCollector
}

type lsCollector struct {
	name    string
	dir     string // its segments
	metrics string // http://127.0.0.1:PORT
	proc    *Proc
}

// Name implements Scenario.
func (l *Logspread) Name() string {
	if l.Title != "" {
		return l.Title
	}
	return "logspread"
}

// Describe implements Describer.
func (l *Logspread) Describe() string {
	ship := "`logspread ship --from-beginning`"
	if len(l.ShipArgs) > 0 {
		ship = "`logspread ship --from-beginning " + strings.Join(l.ShipArgs, " ") + "`"
	}
	return "one " + ship + " per input file (each its own state dir) -> `logspread daemon` on a unix socket in the run dir" +
		l.sessionLimits() + " -> collectors `logspread collect --compress zstd --flush-interval 1s`, one segment each; the metrics endpoints are served but " +
		"scraped only when a segment grew. Merge: every collector writes the batches in the daemon's one total order, the " +
		"four shippers' batches interleaved as they reach the daemon, so the collectors' outputs are byte-identical. " +
		"Batches: with edge compression (the default) each is one zstd frame of up to 1 MiB of lines while catching up, which the collectors " +
		"append to their segments as it is; with `--batch-compression none`, up to 64 KiB of uncompressed lines, compressed by each collector. " +
		"Complete = the first 10 ms poll at which every collector's `logspread_collector_segment_raw_bytes_total` (added once a frame is written to its segment) " +
		"equals the input size."
}

// sessionLimits describes the daemon's session bounds in the report.
func (l *Logspread) sessionLimits() string {
	var s []string
	if l.MaxSessionMessages > 0 {
		s = append(s, fmt.Sprintf("`--max-session-messages %d`", l.MaxSessionMessages))
	}
	if l.MaxSessionBytes > 0 {
		s = append(s, fmt.Sprintf("`--max-session-bytes %d`", l.MaxSessionBytes))
	}
	if len(s) == 0 {
		return " (default session bounds)"
	}
	return " (" + strings.Join(s, ", ") + ")"
}

// Start implements Scenario.
func (l *Logspread) Start(ctx context.Context, r *Run) error {
	if _, err := os.Stat(l.Bin); err != nil {
		return fmt.Errorf("logspread binary %s: %w", l.Bin, ErrUnavailable)
	}
	if err := l.startDaemonAndCollectors(ctx, r, "--flush-interval", "1s"); err != nil {
		return err
	}
	for i, in := range r.Env.Inputs {
		args := append(append([]string{"--from-beginning"}, l.ShipArgs...), in)
		if _, err := l.startShipper(r, i+1, args...); err != nil {
			return err
		}
	}
	return nil
}

// startDaemonAndCollectors starts the daemon, waits for its socket, then starts the
// collectors and waits until each has joined its group (healthy), so that no batch
// is multicast before every collector hears it.
func (l *Logspread) startDaemonAndCollectors(ctx context.Context, r *Run, collectArgs ...string) error {
	l.sock = r.Path("spread.sock")
	l.collectors = nil
	port, err := FreePort()
	if err != nil {
		return err
	}
	l.daemonMetrics = fmt.Sprintf("http://127.0.0.1:%d", port)
	daemon := exec.Command(l.Bin, "daemon", "--listen", "unix:"+l.sock,
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port))
	if l.MaxSessionMessages > 0 {
		daemon.Args = append(daemon.Args, "--max-session-messages", strconv.Itoa(l.MaxSessionMessages))
	}
	if l.MaxSessionBytes > 0 {
		daemon.Args = append(daemon.Args, "--max-session-bytes", strconv.Itoa(l.MaxSessionBytes))
	}
	dp, err := r.Exec(KindDaemon, "daemon", "daemon", daemon)
	if err != nil {
		return err
	}
	if err := waitUnix(ctx, l.sock, dp); err != nil {
		return err
	}
	for i := 1; i <= r.Env.Collectors; i++ {
		name := fmt.Sprintf("collector-%d", i)
		port, err := FreePort()
		if err != nil {
			return err
		}
		c := lsCollector{name: name, dir: r.Path(name), metrics: fmt.Sprintf("http://127.0.0.1:%d", port)}
		args := append([]string{"collect", "--spread", "unix:" + l.sock,
			"--dir", c.dir, "--state-dir", r.Path(name + ".state"),
			"--log", "www=www.log.zst", "--compress", "zstd",
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port)}, collectArgs...)
		if c.proc, err = r.Exec(KindCollector, name, name, exec.Command(l.Bin, args...)); err != nil {
			return err
		}
		l.collectors = append(l.collectors, c)
	}
	for _, c := range l.collectors {
		if err := waitHealthy(ctx, c.metrics, c.proc); err != nil {
			return err
		}
	}
	return nil
}

// startShipper starts shipper i ("web host" i) on the given files.
func (l *Logspread) startShipper(r *Run, i int, args ...string) (*Proc, error) {
	name := fmt.Sprintf("shipper-%d", i)
	cmd := exec.Command(l.Bin, append([]string{"ship", "--group", "www", "--spread", "unix:" + l.sock,
		"--state-dir", r.Path(name + ".state")}, args...)...)
	return r.Exec(KindShipper, name, name, cmd)
}

// Wait implements Scenario. Every 10 ms it looks at the size of each collector's
// segments (a stat), and reads a collector's /metrics only when its segments grew
// since the last scrape and then either stopped growing (the poll before saw the
// same size: the last frame may be in) or 100 ms have passed, or when a second has
// passed, so that the scrapes cost the collectors next to nothing (a scrape reads
// /proc for the process metrics) and completion is seen within a poll or two.
func (l *Logspread) Wait(ctx context.Context, r *Run) (time.Time, error) {
	type progress struct {
		size    int64     // segment bytes at the last scrape
		polled  int64     // segment bytes at the last poll
		scraped time.Time // last scrape
		done    bool      // every input byte is in a written frame
	}
	prog := make([]progress, len(l.collectors))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
		if err := l.checkAlive(r); err != nil {
			return time.Time{}, err
		}
		now := time.Now()
		all := true
		for i, c := range l.collectors {
			p := &prog[i]
			size := dirSize(c.dir)
			paused := size == p.polled
			p.polled = size
			since := now.Sub(p.scraped)
			if !p.done && ((size != p.size && (paused || since >= 100*time.Millisecond)) || since >= time.Second) {
				m, err := scrapeMetrics(c.metrics)
				if err != nil {
					return time.Time{}, fmt.Errorf("%s: %w", c.name, err)
				}
				p.size, p.scraped = size, now
				// A collector that fell too far behind was disconnected by the daemon and
				// lost lines: the run cannot complete.
				if g := m["logspread_collector_connection_gaps_total"] + m["logspread_collector_gaps_total"]; g > 0 {
					return time.Time{}, fmt.Errorf("%s: %v gaps (disconnected by the daemon: its session queue passed --max-session-bytes/--max-session-messages; see logs/daemon.log)", c.name, g)
				}
				// The writer's counters appear with the first segment (absent = 0).
				p.done = int64(m["logspread_collector_segment_raw_bytes_total"]) >= r.Env.Bytes
			}
			all = all && p.done
		}
		if all {
			return now, nil
		}
	}
}

// Measure implements Measurer: the bytes the daemon received (every request of
// every client, headers included) and the largest collector's segment bytes.
func (l *Logspread) Measure(r *Run, res *Result) {
	if v, err := scrapeCounter(l.daemonMetrics, "logspread_daemon_received_bytes_total"); err == nil {
		res.DaemonBytesIn = int64(v)
	} else {
		r.Env.Logf("%s: daemon bytes received: %v", l.Name(), err)
	}
	for _, c := range l.collectors {
		res.OutputBytes = max(res.OutputBytes, dirSize(c.dir))
	}
}

// dirSize is the total size of the files in dir (0 if unreadable).
func dirSize(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// checkAlive fails if any process of the pipeline has exited.
func (l *Logspread) checkAlive(r *Run) error {
	for _, p := range r.Procs() {
		if p.Exited() {
			return fmt.Errorf("%s exited early: %v", p.Name, p.Err())
		}
	}
	return nil
}

// Outputs implements Scenario.
func (l *Logspread) Outputs(r *Run) ([]Output, error) {
	var outs []Output
	for _, c := range l.collectors {
		files, err := segments(c.dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		outs = append(outs, Output{Name: c.name, Files: files, Open: OpenZstd})
	}
	return outs, nil
}

// segments lists the segments of one collector in the order they were written:
// www.log.zst, then www.1.log.zst, www.2.log.zst, ... (collision suffixes after a
// rotation to the same name).
func segments(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "www*.log.zst"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no segment in %s", dir)
	}
	suffix := func(p string) int {
		mid := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "www"), ".log.zst")
		n, _ := strconv.Atoi(strings.TrimPrefix(mid, "."))
		return n
	}
	sort.Slice(names, func(i, j int) bool { return suffix(names[i]) < suffix(names[j]) })
	return names, nil
}

// waitUnix waits until something accepts connections on the unix socket path.
func waitUnix(ctx context.Context, path string, p *Proc) error {
	for {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before listening on %s: %v", p.Name, path, p.Err())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitHealthy waits until base/healthz answers 200 (a collector has joined its groups).
func waitHealthy(ctx context.Context, base string, p *Proc) error {
	for {
		resp, err := httpClient.Get(base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before becoming healthy: %v", p.Name, p.Err())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

var errNoMetric = errors.New("metric not found")

// httpClient bounds every request to the pipeline's metrics endpoints, so that a stuck
// process fails the run instead of hanging it.
// Responses are not gzipped: compressing every scrape would cost the collectors CPU.
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableCompression: true},
}

// scrapeCounter reads one unlabelled counter or gauge from a Prometheus text endpoint.
func scrapeCounter(base, name string) (float64, error) {
	m, err := scrapeMetrics(base)
	if err != nil {
		return 0, err
	}
	v, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("%s: %w", name, errNoMetric)
	}
	return v, nil
}

// scrapeMetrics reads every unlabelled sample of a Prometheus text endpoint.
func scrapeMetrics(base string) (map[string]float64, error) {
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			m[name] = f
		}
	}
	return m, sc.Err()
}
