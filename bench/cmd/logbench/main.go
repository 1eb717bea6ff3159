// Command logbench runs logspread's end-to-end benchmark side by side with zstd -1
// (the limit), rsyslog and syslog-ng on the same generated input, verifies every
// output, and prints a markdown table. bench/run.sh installs the peers and runs it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/logspread/logspread/bench/harness"
	"github.com/logspread/logspread/bench/loggen"
)

type options struct {
	lines      int64
	hosts      int
	out        string
	peers      string
	logspread  string
	scenarios  string
	collectors int
	quiet      time.Duration
	timeout    time.Duration
	results    string
	repeat     int
	latRate    int
	latSecs    int
	sessMsgs   int
	sessBytes  int
}

func main() {
	var o options
	flag.Int64Var(&o.lines, "lines", 4_000_000, "lines in all input files together")
	flag.IntVar(&o.hosts, "hosts", 4, "input files (web hosts)")
	flag.StringVar(&o.out, "out", "bench/out", "scratch directory (inputs, configs, outputs, logs)")
	flag.StringVar(&o.peers, "peers", "bench/out/peers/root", "where the rsyslog and syslog-ng .debs are unpacked")
	flag.StringVar(&o.logspread, "logspread", "bench/out/logspread", "logspread binary")
	flag.StringVar(&o.scenarios, "scenarios", "zstd,logspread,logspread-ordered,logspread-nocomp,logspread-latency,rsyslog,rsyslog-default,syslog-ng", "comma-separated scenarios to run, in order")
	flag.IntVar(&o.collectors, "collectors", 2, "collectors per scenario, each writing a full copy")
	flag.DurationVar(&o.quiet, "quiet", 2*time.Second, "peers: no progress for this long means they are done")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "per scenario")
	flag.StringVar(&o.results, "results", "", "also write the report to this file (e.g. bench/RESULTS.md)")
	flag.IntVar(&o.repeat, "repeat", 1, "run each scenario this many times and keep the fastest complete run")
	flag.IntVar(&o.sessMsgs, "session-messages", 0, "logspread: the daemon's --max-session-messages (0: its default, 1000)")
	flag.IntVar(&o.sessBytes, "session-bytes", 0, "logspread: the daemon's --max-session-bytes (0: its default, 64 MiB)")
	flag.IntVar(&o.latRate, "latency-rate", 50_000, "logspread-latency: lines per second written to the input files, all together")
	flag.IntVar(&o.latSecs, "latency-seconds", 20, "logspread-latency: seconds of writing (rate x seconds lines)")
	flag.Parse()
	for _, p := range []*string{&o.out, &o.peers, &o.logspread} {
		// The daemons change directory: every path handed to them is absolute.
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "logbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
	}
	inputs, lines, size, err := makeInputs(o, logf)
	if err != nil {
		return err
	}
	env := &harness.Env{
		Inputs: inputs, Lines: lines, Bytes: size,
		OutDir: o.out, PeersRoot: o.peers, Collectors: o.collectors,
		Quiet: o.quiet, Timeout: o.timeout, Logf: logf,
	}
	type entry struct {
		sc   harness.Scenario
		role string
		env  func() (*harness.Env, error) // nil: env
	}
	latencyEnv := func() (*harness.Env, error) {
		n := int64(o.latRate) * int64(o.latSecs)
		files, size, err := makeLatencyInputs(o, n, logf)
		if err != nil {
			return nil, err
		}
		return &harness.Env{
			Inputs: files, Lines: n, Bytes: size,
			OutDir: o.out, PeersRoot: o.peers, Collectors: o.collectors,
			Quiet: o.quiet, Timeout: o.timeout, Logf: logf,
		}, nil
	}
	all := map[string]entry{
		"zstd":      {&harness.Zstd1{}, harness.RoleBaseline, nil},
		"logspread": {&harness.Logspread{Bin: o.logspread, MaxSessionMessages: o.sessMsgs, MaxSessionBytes: o.sessBytes}, harness.RoleSubject, nil},
		"logspread-ordered": {&harness.Logspread{Bin: o.logspread, MaxSessionMessages: o.sessMsgs, MaxSessionBytes: o.sessBytes,
			Title: "logspread (--ack ordered)", ShipArgs: []string{"--ack", "ordered"}}, harness.RoleSubject, nil},
		"logspread-nocomp": {&harness.Logspread{Bin: o.logspread, MaxSessionMessages: o.sessMsgs, MaxSessionBytes: o.sessBytes,
			Title: "logspread (no edge compression)", ShipArgs: []string{"--batch-compression", "none"}}, harness.RoleSubject, nil},
		"logspread-latency": {&harness.LogspreadLatency{Bin: o.logspread, Rate: o.latRate,
			Pipeline: harness.Logspread{MaxSessionMessages: o.sessMsgs, MaxSessionBytes: o.sessBytes}},
			harness.RoleLatency, latencyEnv},
		"rsyslog":         {&harness.Rsyslog{OneWorker: true}, harness.RolePeer, nil},
		"rsyslog-default": {&harness.Rsyslog{}, harness.RolePeer, nil},
		"syslog-ng":       {&harness.SyslogNG{}, harness.RolePeer, nil},
	}
	var results []*harness.Result
	for _, name := range strings.Split(o.scenarios, ",") {
		e, ok := all[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown scenario %q", name)
		}
		senv := env
		if e.env != nil {
			if senv, err = e.env(); err != nil {
				return err
			}
		}
		var best *harness.Result
		for i := 0; i < max(o.repeat, 1); i++ {
			res := harness.Execute(ctx, senv, e.sc, e.role)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if res.Err != nil {
				logf("%s: %v", res.Name, res.Err)
			}
			if best == nil || better(res, best) {
				best = res
			}
			if errors.Is(res.Err, harness.ErrUnavailable) {
				break
			}
		}
		results = append(results, best)
	}

	report := renderReport(o, env, results)
	fmt.Print(report)
	if err := os.WriteFile(filepath.Join(o.out, "RESULTS.md"), []byte(report), 0o644); err != nil {
		return err
	}
	if o.results != "" {
		return os.WriteFile(o.results, []byte(report), 0o644)
	}
	return nil
}

// better reports whether a is a better run to show than b: it completed (every line
// once) where b did not, or it was faster.
func better(a, b *harness.Result) bool {
	if a.Complete() != b.Complete() {
		return a.Complete()
	}
	if a.Err != nil || b.Err != nil {
		return b.Err != nil && a.Err == nil
	}
	return a.Wall < b.Wall
}

// makeInputs writes o.hosts files of loggen lines (seed = host number) totalling
// o.lines, once per size: they are reused while complete.
func makeInputs(o options, logf func(string, ...any)) ([]string, int64, int64, error) {
	dir := filepath.Join(o.out, "input", fmt.Sprintf("%d-x%d", o.lines, o.hosts))
	var files []string
	for i := 1; i <= o.hosts; i++ {
		files = append(files, filepath.Join(dir, fmt.Sprintf("host%d.log", i)))
	}
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		logf("generating %d lines in %d files under %s", o.lines, o.hosts, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, 0, 0, err
		}
		for i, f := range files {
			n := o.lines / int64(o.hosts)
			if i == 0 {
				n += o.lines % int64(o.hosts)
			}
			fh, err := os.Create(f)
			if err != nil {
				return nil, 0, 0, err
			}
			err = loggen.New(int64(i+1), loggen.Options{}).WriteLines(fh, int(n))
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, 0, 0, err
			}
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return nil, 0, 0, err
		}
	}
	var size int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, 0, 0, err
		}
		size += fi.Size()
	}
	return files, o.lines, size, nil
}

// makeLatencyInputs writes the latency scenario's inputs ("hN SEQ " + loggen line),
// once per size.
func makeLatencyInputs(o options, lines int64, logf func(string, ...any)) ([]string, int64, error) {
	dir := filepath.Join(o.out, "input", fmt.Sprintf("latency-%d-x%d", lines, o.hosts))
	marker := filepath.Join(dir, "complete")
	var files []string
	for i := 1; i <= o.hosts; i++ {
		files = append(files, filepath.Join(dir, fmt.Sprintf("host%d.log", i)))
	}
	if _, err := os.Stat(marker); err != nil {
		logf("generating %d latency lines in %d files under %s", lines, o.hosts, dir)
		if files, err = harness.WriteLatencyInputs(dir, o.hosts, lines); err != nil {
			return nil, 0, err
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return nil, 0, err
		}
	}
	var size int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, 0, err
		}
		size += fi.Size()
	}
	return files, size, nil
}

func renderReport(o options, env *harness.Env, results []*harness.Result) string {
	var b strings.Builder
	b.WriteString("# logspread benchmark results\n\n")
	b.WriteString("Generated by `" + commandLine() + "` on " + time.Now().UTC().Format("2006-01-02 15:04 MST") + ".\n\n")
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "- CPUs (nproc): %d; CPU model: %s\n", runtime.NumCPU(), cpuModel())
	fmt.Fprintf(&b, "- kernel: %s; memory: %s\n", firstLine(readFile("/proc/sys/kernel/osrelease")), memTotal())
	fmt.Fprintf(&b, "- %s; %s; %s; %s\n", runtime.Version(),
		strings.TrimSuffix(firstLine(output(filepath.Join(env.PeersRoot, "usr/sbin/rsyslogd"), "-v")), " compiled with:"),
		firstLine(outputEnv([]string{"LD_LIBRARY_PATH=" + filepath.Join(env.PeersRoot, "usr/lib/syslog-ng")}, filepath.Join(env.PeersRoot, "usr/sbin/syslog-ng"), "--version")),
		firstLine(output("zstd", "--version")))
	if rev := firstLine(output("git", "rev-parse", "--short", "HEAD")); rev != "" {
		fmt.Fprintf(&b, "- logspread commit: %s\n", rev)
	}
	b.WriteString("\n## Job\n\n")
	fmt.Fprintf(&b, "%d input files (\"web hosts\", bench/loggen combined-format lines, seeds 1..%d), %d lines, %.1f MB in all, on disk before any process starts; "+
		"every scenario ships them to %d collector(s), each writing every line compressed (the peers over TCP on 127.0.0.1, logspread through its daemon's unix socket). "+
		"CPU is user+system time of every process of the scenario (from wait4), per million lines; peak RSS is the VmHWM (from /proc) of the largest unit of each kind "+
		"(a collector and its compressor add up). MB/s is input bytes per wall second. Verified: each collector's decompressed output holds every input line exactly once "+
		"(missing, extra, duplicated) in each file's order, and all collectors' outputs are byte-identical.\n\n",
		len(env.Inputs), len(env.Inputs), env.Lines, float64(env.Bytes)/1e6, env.Collectors)
	if o.repeat > 1 {
		fmt.Fprintf(&b, "Each scenario ran %d times; the table shows its fastest complete run. ", o.repeat)
	}
	b.WriteString("\"other load\" is the CPU used by other processes of the machine during the run, in CPUs on average: a run with high other load is not a fair one.\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString(harness.Table(results))
	if lt := harness.LatencyTable(results); lt != "" {
		fmt.Fprintf(&b, "\n## Latency\n\nlogspread fed live at a fixed rate (%d lines/s, %d s; its own input, see below): time from a line's write(2) to its input file "+
			"until the zstd frame holding it was complete in every collector's segment.\n\n", o.latRate, o.latSecs)
		b.WriteString(lt)
	}
	if tt := harness.TrafficTable(results); tt != "" {
		b.WriteString("\n## Traffic, size and CPU per unit (issue 11)\n\n")
		b.WriteString(tt)
	}
	b.WriteString("\n## Targets (DESIGN.md §6)\n\n")
	b.WriteString(harness.Targets(results))
	b.WriteString(harness.EdgeTargets(results))
	b.WriteString("\n## Scenarios\n\n")
	for _, r := range results {
		fmt.Fprintf(&b, "- **%s**: %s\n", r.Name, r.Description)
		for _, e := range r.ExitErrors {
			fmt.Fprintf(&b, "  - exited with an error: %s\n", e)
		}
	}
	return b.String()
}

func commandLine() string {
	if c := os.Getenv("LOGBENCH_CMD"); c != "" {
		return strings.TrimSpace(c)
	}
	return strings.Join(os.Args, " ")
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

func cpuModel() string {
	sc := bufio.NewScanner(strings.NewReader(readFile("/proc/cpuinfo")))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	for _, l := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "unknown"
}

func output(name string, args ...string) string { return outputEnv(nil, name, args...) }

func outputEnv(env []string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}
