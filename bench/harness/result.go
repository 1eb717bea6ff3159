package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Roles of a scenario in the comparison.
const (
	RoleBaseline = "baseline" // zstd -1 alone: the limit
	RolePeer     = "peer"     // rsyslog, syslog-ng
	RoleSubject  = "subject"  // logspread
	RoleLatency  = "latency"  // logspread fed at a fixed rate: no throughput ratios
)

// Result is the measurement of one scenario run.
type Result struct {
	Name        string
	Role        string
	Err         error // the run failed or was unavailable; metrics are then absent
	Wall        time.Duration
	Lines       int64
	Bytes       int64
	CPU         map[string]time.Duration // by process kind, summed
	RSS         map[string]int64         // by process kind: the largest unit's peak (sum over its processes)
	Units       map[string]int           // units (e.g. collectors) by kind
	Verified    []*Verification
	Identical   error         // nil when all outputs are byte-identical
	OtherLoad   float64       // CPUs busy with other processes during the run, on average
	Latency     *LatencyStats // latency scenarios only
	ExitErrors  []string
	Description string
	// DaemonBytesIn is what the Spread daemon received (logspread scenarios; 0 when
	// not measured); OutputBytes the compressed output of the largest collector
	// (or of zstd -1).
	DaemonBytesIn int64
	OutputBytes   int64
}

// Measurer is optionally implemented by a Scenario to measure traffic and output
// sizes once the job is complete (before its processes are stopped).
type Measurer interface {
	Measure(r *Run, res *Result)
}

// CPUTotal is the CPU time of every process of the scenario.
func (r *Result) CPUTotal() time.Duration {
	var t time.Duration
	for _, c := range r.CPU {
		t += c
	}
	return t
}

// LinesPerSec is the end-to-end rate.
func (r *Result) LinesPerSec() float64 { return float64(r.Lines) / r.Wall.Seconds() }

// CPUPerMLines is CPU seconds per million lines for one kind, or all when kind is "".
func (r *Result) CPUPerMLines(kind string) float64 {
	c := r.CPUTotal()
	if kind != "" {
		c = r.CPU[kind]
	}
	return c.Seconds() / (float64(r.Lines) / 1e6)
}

// OK reports whether the run completed and every output verified.
func (r *Result) OK() bool {
	if r.Err != nil || r.Identical != nil || len(r.Verified) == 0 {
		return false
	}
	for _, v := range r.Verified {
		if !v.OK() {
			return false
		}
	}
	return true
}

// Complete reports whether the run completed and every output holds every line
// exactly once (order and identity of the outputs aside).
func (r *Result) Complete() bool {
	if r.Err != nil || len(r.Verified) == 0 {
		return false
	}
	for _, v := range r.Verified {
		if !v.Complete() {
			return false
		}
	}
	return true
}

// VerifiedString is the table's "verified" cell.
func (r *Result) VerifiedString() string {
	if r.Err != nil {
		return "-"
	}
	var bad []string
	for _, v := range r.Verified {
		if !v.OK() {
			bad = append(bad, v.String())
		}
	}
	if r.Identical != nil {
		bad = append(bad, r.Identical.Error())
	}
	if len(r.Verified) == 0 {
		bad = append(bad, "no output")
	}
	if len(bad) == 0 {
		if len(r.Verified) > 1 {
			return fmt.Sprintf("ok (%d identical)", len(r.Verified))
		}
		return "ok"
	}
	return strings.Join(bad, "; ")
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// Execute runs one scenario, measures it and verifies its outputs. Every process it
// started is stopped and waited for before it returns, whatever happens.
func Execute(ctx context.Context, env *Env, sc Scenario, role string) *Result {
	res := &Result{Name: sc.Name(), Role: role, Lines: env.Lines, Bytes: env.Bytes}
	if d, ok := sc.(Describer); ok {
		res.Description = d.Describe()
	}
	slug := strings.Trim(slugRe.ReplaceAllString(strings.ToLower(sc.Name()), "-"), "-")
	r := &Run{Env: env, Dir: env.OutDir + "/runs/" + slug}
	if err := os.RemoveAll(r.Dir); err != nil {
		res.Err = err
		return res
	}
	if err := os.MkdirAll(r.Path("logs"), 0o755); err != nil {
		res.Err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	defer r.StopAll(5 * time.Second) // on every path, including panics and Ctrl-C

	env.Logf("%s: starting (scratch dir %s)", sc.Name(), r.Dir)
	busy0 := machineBusy()
	r.Start = time.Now()
	go r.sampleLoop(sctx, 100*time.Millisecond)
	if err := sc.Start(ctx, r); err != nil {
		res.Err = err
		return res
	}
	done, err := sc.Wait(ctx, r)
	if err != nil {
		res.Err = fmt.Errorf("wait: %w", err)
		return res
	}
	res.Wall = done.Sub(r.Start)
	if m, ok := sc.(Measurer); ok {
		m.Measure(r, res)
	}
	if lm, ok := sc.(LatencyMeasurer); ok {
		res.Latency = lm.Latency()
	}
	busy := machineBusy() - busy0
	stopSampling()
	r.StopAll(30 * time.Second)
	env.Logf("%s: done in %.2fs; verifying", sc.Name(), res.Wall.Seconds())

	res.CPU = map[string]time.Duration{}
	res.RSS = map[string]int64{}
	res.Units = map[string]int{}
	units := map[string]int64{}
	unitKind := map[string]string{}
	for _, p := range r.Procs() {
		res.CPU[p.Kind] += p.CPU()
		units[p.Unit] += p.PeakRSS()
		unitKind[p.Unit] = p.Kind
		if err := p.Err(); err != nil {
			res.ExitErrors = append(res.ExitErrors, fmt.Sprintf("%s: %v", p.Name, err))
		}
	}
	for u, rss := range units {
		k := unitKind[u]
		res.Units[k]++
		if rss > res.RSS[k] {
			res.RSS[k] = rss
		}
	}

	if other := busy - res.CPUTotal(); other > 0 {
		res.OtherLoad = other.Seconds() / time.Since(r.Start).Seconds()
	}

	outs, err := sc.Outputs(r)
	if err != nil {
		res.Err = fmt.Errorf("outputs: %w", err)
		return res
	}
	for _, o := range outs {
		v := Verify(env, o)
		env.Logf("  %s: %d lines, %s", o.Name, v.Lines, v.String())
		res.Verified = append(res.Verified, v)
	}
	for i := 1; i < len(res.Verified); i++ {
		if res.Verified[i].Digest != res.Verified[0].Digest {
			how := ""
			if res.Verified[0].Complete() && res.Verified[i].Complete() {
				how = " (same lines, merged in another order)"
			}
			res.Identical = fmt.Errorf("%s and %s differ%s", res.Verified[0].Output, res.Verified[i].Output, how)
		}
	}
	return res
}

// kindOrder lists process kinds in table order.
func kindOrder(results []*Result) []string {
	seen := map[string]bool{}
	for _, r := range results {
		for k := range r.CPU {
			seen[k] = true
		}
	}
	var ks []string
	for _, k := range []string{KindShipper, KindDaemon, KindCollector, KindZstd} {
		if seen[k] {
			ks = append(ks, k)
			delete(seen, k)
		}
	}
	var rest []string
	for k := range seen {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	return append(ks, rest...)
}

// Table renders the results as a markdown table, with ratios against zstd -1 (the
// first baseline) and the best peer (fastest for lines/s, cheapest for CPU) among the
// peers that delivered every line exactly once (order aside). CPU by kind sums the
// processes of a kind, "(n)" giving how many units (e.g. collectors) there were.
func Table(results []*Result) string {
	var base, fast, cheap *Result
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		switch r.Role {
		case RoleBaseline:
			if base == nil {
				base = r
			}
		case RolePeer:
			if !r.Complete() {
				continue // a peer that loses, garbles or duplicates lines is no yardstick
			}
			if fast == nil || r.LinesPerSec() > fast.LinesPerSec() {
				fast = r
			}
			if cheap == nil || r.CPUPerMLines("") < cheap.CPUPerMLines("") {
				cheap = r
			}
		}
	}
	kinds := kindOrder(results)
	var b strings.Builder
	b.WriteString("| scenario | lines | wall s | lines/s | MB/s | CPU s / M lines (total) | CPU s / M lines by kind | peak RSS by kind | verified | other load | lines/s vs zstd -1 | lines/s vs fastest peer | CPU vs cheapest peer |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|---|---|---|--:|--:|--:|--:|\n")
	for _, r := range results {
		if r.Err != nil {
			what := "failed: " + r.Err.Error()
			if errors.Is(r.Err, ErrUnavailable) {
				what = r.Err.Error()
			}
			fmt.Fprintf(&b, "| %s | %d | | | | | | | %s | | | | |\n", r.Name, r.Lines, cell(what))
			continue
		}
		var byKind, rss []string
		for _, k := range kinds {
			if _, ok := r.CPU[k]; !ok {
				continue
			}
			n := ""
			if r.Units[k] > 1 {
				n = fmt.Sprintf(" (%d)", r.Units[k])
			}
			byKind = append(byKind, fmt.Sprintf("%s%s %.2f", k, n, r.CPUPerMLines(k)))
			rss = append(rss, fmt.Sprintf("%s %.0f MB", k, float64(r.RSS[k])/1e6))
		}
		ratio := func(ref *Result, f func(*Result) float64) string {
			if ref == nil || ref == r || r.Role == RoleLatency {
				return ""
			}
			return fmt.Sprintf("%.2fx", f(r)/f(ref))
		}
		lps := func(x *Result) float64 { return x.LinesPerSec() }
		cpu := func(x *Result) float64 { return x.CPUPerMLines("") }
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.0f | %.1f | %.2f | %s | %s | %s | %.2f | %s | %s | %s |\n",
			r.Name, r.Lines, r.Wall.Seconds(), r.LinesPerSec(), float64(r.Bytes)/1e6/r.Wall.Seconds(),
			r.CPUPerMLines(""), strings.Join(byKind, ", "), strings.Join(rss, ", "),
			cell(r.VerifiedString()), r.OtherLoad, ratio(base, lps), ratio(fast, lps), ratio(cheap, cpu))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// machineBusy returns the CPU time all processes of the machine have used since boot,
// from /proc/stat (user, nice, system, irq, softirq, steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for i, v := range f {
		if i == 0 || i == 4 || i == 5 || i > 8 { // label, idle, iowait, guest
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// Targets checks the subject's rows against DESIGN.md §6: lines/s at least 0.5x zstd -1
// and 2x the fastest peer, CPU per line at most 0.5x the cheapest peer. Peers qualify
// as in Table.
func Targets(results []*Result) string {
	var base, fast, cheap *Result
	var subjects []*Result
	for _, r := range results {
		switch {
		case r.Err != nil:
		case r.Role == RoleBaseline && base == nil:
			base = r
		case r.Role == RolePeer && r.Complete():
			if fast == nil || r.LinesPerSec() > fast.LinesPerSec() {
				fast = r
			}
			if cheap == nil || r.CPUPerMLines("") < cheap.CPUPerMLines("") {
				cheap = r
			}
		case r.Role == RoleSubject:
			subjects = append(subjects, r)
		}
	}
	var b strings.Builder
	for _, r := range results {
		if l := r.Latency; l != nil && r.Err == nil {
			ok := l.P99 <= 2*l.FlushInterval
			fmt.Fprintf(&b, "- %s: p99 %s (target <= 2x the flush interval, %s): %s\n",
				r.Name, fmtDur(l.P99), fmtDur(2*l.FlushInterval), map[bool]string{true: "pass", false: "FAIL"}[ok])
		}
	}
	if len(subjects) == 0 {
		return b.String() + "- logspread's throughput was not measured in this run.\n"
	}
	check := func(name, what string, got, limit float64, atLeast bool) {
		ok := got >= limit
		if !atLeast {
			ok = got <= limit
		}
		verdict := "FAIL"
		if ok {
			verdict = "pass"
		}
		fmt.Fprintf(&b, "- %s: %s %.2fx (target %s %.1fx): %s\n", name, what, got, map[bool]string{true: ">=", false: "<="}[atLeast], limit, verdict)
	}
	for _, s := range subjects {
		if !s.OK() {
			fmt.Fprintf(&b, "- %s: FAIL, output not verified: %s\n", s.Name, s.VerifiedString())
		}
		if base != nil {
			check(s.Name, "lines/s vs "+base.Name, s.LinesPerSec()/base.LinesPerSec(), 0.5, true)
		}
		if fast != nil {
			check(s.Name, "lines/s vs "+fast.Name, s.LinesPerSec()/fast.LinesPerSec(), 2, true)
		}
		if cheap != nil {
			check(s.Name, "CPU per line vs "+cheap.Name, s.CPUPerMLines("")/cheap.CPUPerMLines(""), 0.5, false)
		}
	}
	return b.String()
}

// LatencyTable renders the latency scenarios' measurements, or "" when there are none.
func LatencyTable(results []*Result) string {
	var b strings.Builder
	for _, r := range results {
		l := r.Latency
		if l == nil || r.Err != nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| scenario | lines | rate asked / written (lines/s) | flush interval | frames per collector | p50 | p99 | max | verified | other load |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|--:|\n")
		}
		fmt.Fprintf(&b, "| %s | %d | %d / %.0f | %s | %d | %s | %s | %s | %s | %.2f |\n",
			r.Name, l.Lines, l.Rate, l.WriteRate, fmtDur(l.FlushInterval), l.Frames,
			fmtDur(l.P50), fmtDur(l.P99), fmtDur(l.Max), cell(r.VerifiedString()), r.OtherLoad)
	}
	return b.String()
}

// fmtDur prints a duration in milliseconds, or seconds from 10 s on.
func fmtDur(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// TrafficTable renders, for the runs that measured them, the bytes the daemon
// received per input byte, the segment bytes (largest collector) against zstd -1's
// output of the same lines, and the CPU per million lines of a shipper, the daemon and
// a collector (each unit, not the sum of its kind); "" when nothing was measured.
func TrafficTable(results []*Result) string {
	var base *Result
	for _, r := range results {
		if r.Err == nil && r.Role == RoleBaseline && base == nil && r.OutputBytes > 0 {
			base = r
		}
	}
	var b strings.Builder
	for _, r := range results {
		if r.Err != nil || r.DaemonBytesIn == 0 || r.Role != RoleSubject {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| scenario | daemon bytes in per input byte | segment bytes (per collector) | vs zstd -1 output | CPU s / M lines: all | per shipper | daemon | per collector |\n")
			b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
		}
		vs := ""
		if base != nil {
			vs = fmt.Sprintf("%.2fx", float64(r.OutputBytes)/float64(base.OutputBytes))
		}
		per := func(kind string) float64 { return r.CPUPerMLines(kind) / float64(max(r.Units[kind], 1)) }
		fmt.Fprintf(&b, "| %s | %.3f | %d | %s | %.2f | %.2f | %.2f | %.2f |\n", r.Name,
			float64(r.DaemonBytesIn)/float64(r.Bytes), r.OutputBytes, vs, r.CPUPerMLines(""),
			per(KindShipper), per(KindDaemon), per(KindCollector))
	}
	if b.Len() > 0 && base != nil {
		fmt.Fprintf(&b, "\nzstd -1's output of the same input: %d bytes.\n", base.OutputBytes)
	}
	return b.String()
}

// EdgeTargets checks the subjects' rows against issue 11's targets: daemon traffic
// <= 0.20 bytes per input byte, segments <= 1.10x zstd -1's output, all processes
// <= 1.2 CPU s per million lines, each collector <= 0.15.
func EdgeTargets(results []*Result) string {
	var base *Result
	for _, r := range results {
		if r.Err == nil && r.Role == RoleBaseline && base == nil && r.OutputBytes > 0 {
			base = r
		}
	}
	var b strings.Builder
	verdict := func(ok bool) string { return map[bool]string{true: "pass", false: "FAIL"}[ok] }
	for _, r := range results {
		if r.Err != nil || r.DaemonBytesIn == 0 || r.Role != RoleSubject {
			continue
		}
		traffic := float64(r.DaemonBytesIn) / float64(r.Bytes)
		fmt.Fprintf(&b, "- %s: daemon traffic %.3f bytes per input byte (target <= 0.20): %s\n", r.Name, traffic, verdict(traffic <= 0.20))
		if base != nil {
			size := float64(r.OutputBytes) / float64(base.OutputBytes)
			fmt.Fprintf(&b, "- %s: segments %.2fx zstd -1's output (target <= 1.10x): %s\n", r.Name, size, verdict(size <= 1.10))
		}
		all := r.CPUPerMLines("")
		fmt.Fprintf(&b, "- %s: all processes %.2f CPU s per million lines (target <= 1.2): %s\n", r.Name, all, verdict(all <= 1.2))
		coll := r.CPUPerMLines(KindCollector) / float64(max(r.Units[KindCollector], 1))
		fmt.Fprintf(&b, "- %s: each collector %.2f CPU s per million lines (target <= 0.15): %s\n", r.Name, coll, verdict(coll <= 0.15))
	}
	return b.String()
}
