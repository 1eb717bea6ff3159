package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper"
	"github.com/spf13/pflag"
)

// TestCheckConfigEveryCommand: --check-config prints "configuration ok" and exits 0
// for every command that takes a configuration.
func TestCheckConfigEveryCommand(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"daemon", "--listen", "127.0.0.1:4803"},
		{"ship", "--group", "www", "access.log"},
		{"ship", "--group", "www", "--once", "access.log"},
		{"collect", "--log", "www={group}.log.zst", "--dir", dir},
		{"tail", "www"},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, out, stderr := runMain(t, "", append(args, "--check-config")...)
			if code != exitOK || out != "configuration ok\n" {
				t.Errorf("logspread %s --check-config: exit %d, stdout %q, stderr %q; want 0 and \"configuration ok\"", strings.Join(args, " "), code, out, stderr)
			}
		})
	}
}

// TestSizeSyntax: every size option of every command takes the one size syntax (a
// number of bytes, or K, M, G, T), refuses others, and an option whose name says it
// is a size is one.
func TestSizeSyntax(t *testing.T) {
	root := newRootCmd(&streams{})
	n := 0
	for _, c := range root.Commands() {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			sizeName := strings.HasSuffix(f.Name, "-size") || strings.HasSuffix(f.Name, "-bytes") ||
				f.Name == "max-line" || f.Name == "journal-size"
			if f.Value.Type() != "size" {
				if sizeName {
					t.Errorf("%s --%s is a %s, want a size", c.Name(), f.Name, f.Value.Type())
				}
				return
			}
			n++
			for _, ok := range []string{"65536", "64K", "64k", "1M", "1G"} {
				if err := f.Value.Set(ok); err != nil {
					t.Errorf("%s --%s %s: %v", c.Name(), f.Name, ok, err)
				}
			}
			for _, bad := range []string{"64KiB", "1MB", "1.5G", "-1", "1 G", "lots"} {
				if err := f.Value.Set(bad); err == nil {
					t.Errorf("%s --%s %s accepted", c.Name(), f.Name, bad)
				}
			}
		})
	}
	if n < 7 {
		t.Errorf("found %d size options, want at least 7", n)
	}
	// The same syntax in YAML.
	file := filepath.Join(t.TempDir(), "ship.yaml")
	os.WriteFile(file, []byte("group: www\npaths: [a.log]\nbatch_size: 32K\nmax_line: 2M\njournal_size: 1G\n"), 0o644)
	if code, out, stderr := runMain(t, "", "ship", "--config", file, "--check-config"); code != exitOK {
		t.Errorf("sizes in YAML: exit %d %s%s", code, out, stderr)
	}
	os.WriteFile(file, []byte("group: www\npaths: [a.log]\nmax_line: 2MiB\n"), 0o644)
	if code, _, stderr := runMain(t, "", "ship", "--config", file, "--check-config"); code != exitUsage || !strings.Contains(stderr, "line 3: max_line: \"2MiB\": want "+sizeSyntax) {
		t.Errorf("max_line: 2MiB: exit %d, stderr %q", code, stderr)
	}
}

// TestUniqueKeys: a key given again by an inner logger or by the record replaces the
// earlier value instead of appearing twice.
func TestUniqueKeys(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newUniqueKeys(slog.NewJSONHandler(&buf, nil)))
	log.With("cmd", "collect", "component", "collector").With("component", "segment", "group", "www").
		Info("x", "group", "api", "n", 1)
	log.With("component", "a").WithGroup("g").With("component", "b").Info("y")
	lines := decodeJSONLogs(t, buf.Bytes())
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	if got := lines[0]; got["component"] != "segment" || got["group"] != "api" || got["cmd"] != "collect" || got["n"] != 1.0 {
		t.Errorf("first line %v", got)
	}
	if g, _ := lines[1]["g"].(map[string]any); lines[1]["component"] != "a" || g["component"] != "b" {
		t.Errorf("second line %v", lines[1])
	}
}

// decodeJSONLogs decodes JSON log lines, failing the test on a line that is not a JSON
// object or that has a key twice (encoding/json would keep the last silently).
func decodeJSONLogs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(b) {
		if err := checkUniqueJSON(json.NewDecoder(bytes.NewReader(line))); err != nil {
			t.Errorf("log line %s: %v", line, err)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// checkUniqueJSON reads one JSON value from d and reports a key repeated in an object.
func checkUniqueJSON(d *json.Decoder) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("key %q twice", key)
			}
			seen[key] = true
			if err := checkUniqueJSON(d); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	case json.Delim('['):
		for d.More() {
			if err := checkUniqueJSON(d); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	}
	return nil
}

// TestJSONLogsProcess runs a collector and a shipper with --log-format json at debug
// level through a shipped line, a rotation and a shutdown: every line of their logs is
// a JSON object with each key once.
func TestJSONLogsProcess(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	col := testsupport.StartProcess(t, "--log-format", "json", "--log-level", "debug", "collect",
		"--spread", "unix:"+sock, "--dir", filepath.Join(dir, "out"), "--log", "www={group}.log.zst", "--flush-interval", "50ms")
	col.WaitLog(t, `"msg":"joined all groups"`)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := startWithStdin(t, pr, "--log-format", "json", "--log-level", "debug", "ship", "--group", "www",
		"--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"), "-")
	io.WriteString(pw, "one line\n")
	pw.Close()
	if code := sh.Wait(t); code != 0 {
		t.Fatalf("ship: exit %d", code)
	}
	col.Signal(t, syscall.SIGHUP)
	col.WaitLog(t, `"msg":"SIGHUP`)
	if code := col.Terminate(t); code != 0 {
		t.Fatalf("collect: exit %d", code)
	}
	for _, p := range []*testsupport.Process{col, sh} {
		lines := decodeJSONLogs(t, []byte(p.Stderr.String()))
		comps := 0
		for _, l := range lines {
			if _, ok := l["component"]; ok {
				comps++
			}
		}
		if len(lines) < 3 || comps == 0 {
			t.Errorf("%v: %d log lines, %d with a component:\n%s", p.Cmd.Args, len(lines), comps, p.Stderr)
		}
	}
}

// TestShipSummary: the line a shipper logs when it stops says what was left
// unacknowledged, sent or not. Here no collector ever joins, so nothing is
// acknowledged: the summary must not claim otherwise.
func TestShipSummary(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	file := filepath.Join(dir, "access.log")
	os.WriteFile(file, []byte("a\nb\nc\n"), 0o644)
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock,
		"--state-dir", filepath.Join(dir, "state"), "--from-beginning", file)
	p.WaitLog(t, "no collector in the presence group")
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	m := p.WaitLog(t, `level=WARN msg="stopped with lines not acknowledged.*acked_lines=(\d+).*unacknowledged_bytes=(\d+)`)
	if m[1] != "0" || m[2] != "6" {
		t.Errorf("summary says acked_lines=%s unacknowledged_bytes=%s, want 0 and 6:\n%s", m[1], m[2], p.Stderr)
	}
	if strings.Contains(p.Stderr.String(), "every line read was acknowledged") {
		t.Errorf("summary claims everything was acknowledged:\n%s", p.Stderr)
	}

	// With a collector, everything is acknowledged and the summary says so.
	r := startShipReceiver(t, "unix:"+sock, "www")
	p = testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock,
		"--state-dir", filepath.Join(dir, "state"), "--once", file)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("--once: exit %d:\n%s", code, p.Stderr)
	}
	r.expect(t, []byte("a\nb\nc\n"))
	p.WaitLog(t, `level=INFO msg="stopped; every line read was acknowledged" .*acked_lines=3 .*unacknowledged_bytes=0`)
}

// TestShipWarnsUnreachable: a shipper that cannot reach its daemon warns at once and
// again, with the journal's fill level.
func TestShipWarnsUnreachable(t *testing.T) {
	dir := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", "unix:"+filepath.Join(dir, "nothing-here"),
		"--state-dir", filepath.Join(dir, "state"), "--journal-size", "64M", "-")
	io.WriteString(pw, "waiting line\n")
	// Every repetition, not only the first, carries the address, the error and the
	// journal's fill.
	re := `level=WARN msg="cannot reach the Spread daemon; stdin goes to the journal[^\n]* spread=unix:\S*nothing-here err="[^"\n]*nothing-here[^"\n]*no such file or directory" [^\n]*journal_bytes=\d+ journal_size=67108864 journal_fill=\d+\.\d%`
	p.WaitLog(t, re+`(?s:.*)`+re+`(?s:.*)`+re)
	warnings := 0
	for line := range strings.Lines(p.Stderr.String()) {
		if strings.Contains(line, "cannot reach the Spread daemon") {
			warnings++
			if !regexp.MustCompile(re).MatchString(line) {
				t.Errorf("a warning lacks the address, the error or the journal's fill: %s", line)
			}
		}
	}
	if warnings < 3 {
		t.Errorf("%d warnings, want 3 or more:\n%s", warnings, p.Stderr)
	}
	if !strings.Contains(p.Stderr.String(), "unacknowledged_bytes=13") {
		t.Errorf("warning does not count the waiting line:\n%s", p.Stderr)
	}
}

// TestShipWarnsLostDaemon: a shipper whose daemon goes away warns with the loss's
// error, then with the connection attempts' error, every time with the address.
func TestShipWarnsLostDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	d := startTestDaemon(t, sock)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", "unix:"+sock,
		"--state-dir", filepath.Join(dir, "state"), "-")
	p.WaitLog(t, `msg="connected to the Spread daemon"`)
	d.Stop(t)
	io.WriteString(pw, "waiting line\n")
	re := `level=WARN msg="cannot reach the Spread daemon[^\n]* spread=unix:\S*4803 err="[^"\n]*(no such file or directory|connection refused)[^"\n]*" [^\n]*journal_fill=`
	p.WaitLog(t, re+`(?s:.*)`+re+`(?s:.*)`+re)
}

// TestTailWarnsRepeatedly: tail whose daemon is gone says so again while it retries,
// each time with the address and the error.
func TestTailWarnsRepeatedly(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "4803")
	d := startTestDaemon(t, sock)
	p := testsupport.StartProcess(t, "tail", "--spread", "unix:"+sock, "www")
	joinAndWait(t, "unix:"+sock, "www", 2)
	d.Stop(t)
	re := `logspread: tail: cannot reach unix:\S*4803 \([^)\n]*(no such file or directory|connection refused)[^)\n]*\); still trying \(\d+ attempts\)`
	p.WaitLog(t, re+`(?s:.*)`+re+`(?s:.*)`+re)
}

// TestShipOnceWaitsForCollector: ship --once FILE... ships the files to their end and
// keeps running until a collector has acknowledged everything, then exits 0.
func TestShipOnceWaitsForCollector(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	a, b := filepath.Join(dir, "access.log.1"), filepath.Join(dir, "access.log.2")
	os.WriteFile(a, []byte("one\ntwo\n"), 0o644)
	os.WriteFile(b, []byte("three\nfour without newline"), 0o644)
	// A finished rotated file: its writer is done with it (modified longer than
	// --rotate-wait ago), so its last line is shipped terminated.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(b, old, old); err != nil {
		t.Fatal(err)
	}
	// Two files, two pumps: their order here rests on timing; uncompressed batches keep the old timing.
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--batch-compression", "none",
		"--state-dir", filepath.Join(dir, "state"), "--once", filepath.Join(dir, "access.log.?"))
	p.WaitLog(t, "no collector in the presence group")
	if p.Exited() {
		t.Fatalf("--once exited before a collector acknowledged:\n%s", p.Stderr)
	}
	r := startShipReceiver(t, "unix:"+sock, "www")
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.Stderr)
	}
	// The two files are two streams: each keeps its own order, but their batches
	// interleave as the two pumps reach the daemon.
	want := "one\ntwo\nthree\nfour without newline\n"
	testsupport.EventuallyErr(t, func() error {
		if n := r.len(); n < len(want) {
			return fmt.Errorf("receiver has %d bytes, want %d", n, len(want))
		}
		return nil
	})
	r.mu.Lock()
	got := string(r.out)
	r.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("received %q, want the lines of %q once each", got, want)
	}
	for _, pair := range [][2]string{{"one\n", "two\n"}, {"three\n", "four without newline\n"}} {
		i, j := strings.Index(got, pair[0]), strings.Index(got, pair[1])
		if i < 0 || j < 0 || i > j {
			t.Errorf("received %q: want %q before %q, each once", got, pair[0], pair[1])
		}
	}
}

// TestProgressLine: the progress line says what shipping waits for.
func TestProgressLine(t *testing.T) {
	cfg := shipper.DefaultConfig()
	cfg.Address, cfg.Group, cfg.RequireCollector = "unix:/run/logspread/4803", "www", true
	for _, tc := range []struct {
		st   shipper.Stats
		want string
	}{
		{shipper.Stats{}, "shipped:  50.0% of 2.0 KiB, 1 MiB/s; waiting for the Spread daemon at unix:/run/logspread/4803 "},
		{shipper.Stats{Connected: true}, "shipped:  50.0% of 2.0 KiB, 1 MiB/s; waiting for a collector in ~www "},
		{shipper.Stats{Connected: true, Collectors: 1}, "shipped:  50.0% of 2.0 KiB, 1 MiB/s "},
	} {
		if got := progressLine("shipped", 1024, 2048, 1, shipWaiting(tc.st, cfg)); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
}

// TestCheckConfigRefusesEmpty: every string setting of every command given empty, on
// the command line or in the config file, is refused by --check-config with an error
// naming it, unless empty has a documented meaning (emptyMeans). An empty address is
// never Spread's /tmp/4803, an empty setting never silently its default.
func TestCheckConfigRefusesEmpty(t *testing.T) {
	dir := t.TempDir()
	base := map[string][]string{
		"daemon":  {"--listen", "127.0.0.1:4803"},
		"ship":    {"--group", "www", "--state-dir", filepath.Join(dir, "st"), filepath.Join(dir, "access.log")},
		"collect": {"--log", "www={group}.log.zst", "--dir", filepath.Join(dir, "out")},
		"tail":    {"www"},
	}
	// Settings whose empty value means something, as their help says.
	emptyMeans := map[string]string{
		"config":             "no config file",
		"metrics-addr":       "no metrics server",
		"socket-group":       "the daemon's group",
		"require-collectors": "an empty list",
		"rotated-names":      "an empty list",
	}
	root := newRootCmd(&streams{})
	checked := 0
	for _, c := range root.Commands() {
		args, ok := base[c.Name()]
		if !ok {
			continue
		}
		flags := []*pflag.Flag{}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "string", "stringArray", "stringSlice":
				if _, ok := emptyMeans[f.Name]; !ok {
					flags = append(flags, f)
				}
			}
		})
		for _, f := range flags {
			checked++
			t.Run(c.Name()+"/--"+f.Name, func(t *testing.T) {
				code, out, stderr := runMain(t, "", append([]string{c.Name(), "--check-config"}, append(args, "--"+f.Name+"=")...)...)
				if code != exitUsage || !strings.Contains(stderr, "--"+f.Name+` ""`) {
					t.Errorf("--%s '': exit %d, stdout %q, stderr %q; want exit %d naming --%s \"\"", f.Name, code, out, stderr, exitUsage, f.Name)
				}
			})
			if f.Value.Type() != "string" || f.Name == "log" {
				continue
			}
			t.Run(c.Name()+"/"+flagKey(f.Name), func(t *testing.T) {
				file := filepath.Join(t.TempDir(), c.Name()+".yaml")
				os.WriteFile(file, []byte(flagKey(f.Name)+": \"\"\n"), 0o644)
				code, out, stderr := runMain(t, "", append([]string{c.Name(), "--config", file, "--check-config"}, without(args, "--"+f.Name)...)...)
				want := "line 1: " + flagKey(f.Name) + `: ""`
				if code != exitUsage || !strings.Contains(stderr, want) {
					t.Errorf("%s: \"\": exit %d, stdout %q, stderr %q; want exit %d and %q", flagKey(f.Name), code, out, stderr, exitUsage, want)
				}
			})
		}
	}
	if checked < 20 {
		t.Errorf("checked %d settings, want at least 20", checked)
	}
	// The global flags, and addresses that are not empty but not addresses either.
	for _, args := range [][]string{
		{"tail", "--log-level=", "www"},
		{"tail", "--log-format=yaml", "www"},
		{"daemon", "--listen", "127.0.0.1:4803", "--metrics-addr", "9481"},
		{"collect", "--log", "www=x.log.zst", "--dir", dir, "--metrics-addr", " "},
	} {
		code, out, stderr := runMain(t, "", append(args, "--check-config")...)
		if code != exitUsage || out != "" {
			t.Errorf("%q --check-config: exit %d, stdout %q, stderr %q; want exit %d", args, code, out, stderr, exitUsage)
		}
	}
}

// TestTailEmptySpreadProcess: `logspread tail --spread ”` refuses to start, as a
// process, naming the flag (it used to try Spread's /tmp/4803).
func TestTailEmptySpreadProcess(t *testing.T) {
	for _, check := range []bool{true, false} {
		args := []string{"tail", "--spread", "", "www"}
		if check {
			args = append(args, "--check-config")
		}
		p := testsupport.StartProcess(t, args...)
		if code := p.Wait(t); code != exitUsage || !strings.Contains(p.Stderr.String(), `--spread "": want an address`) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d naming --spread", args, code, p.Stderr, exitUsage)
		}
	}
}

// without returns args less the flag and its value.
func without(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// TestZeroAndNegativeSettings: every number, size and duration setting of every
// command, given 0 on the command line or in the config file, is either refused by
// --check-config with an error naming it, or its help says what 0 means; no 0 is
// silently a default. A negative value is always refused.
func TestZeroAndNegativeSettings(t *testing.T) {
	dir := t.TempDir()
	base := map[string][]string{
		"daemon":  {"--listen", "127.0.0.1:4803"},
		"ship":    {"--group", "www", "--state-dir", filepath.Join(dir, "st"), "-"},
		"collect": {"--log", "www={group}.log.zst", "--dir", filepath.Join(dir, "out")},
	}
	zeroMeans := regexp.MustCompile(`\(0: |; 0: |0 keeps|0: never`)
	root := newRootCmd(&streams{})
	checked := 0
	for _, c := range root.Commands() {
		args, ok := base[c.Name()]
		if !ok {
			continue
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			neg := ""
			switch f.Value.Type() {
			case "int":
				neg = "-1"
			case "duration":
				neg = "-1s"
			case "size":
				neg = "-1"
			default:
				return
			}
			checked++
			t.Run(c.Name()+"/--"+f.Name, func(t *testing.T) {
				code, _, stderr := runMain(t, "", append([]string{c.Name(), "--check-config"}, append(args, "--"+f.Name+"=0")...)...)
				switch {
				case code == exitOK && !zeroMeans.MatchString(f.Usage):
					t.Errorf("--%s 0 is accepted, but its help does not say what 0 means: %q", f.Name, f.Usage)
				case code != exitOK && (code != exitUsage || !strings.Contains(stderr, "--"+f.Name+" 0")):
					t.Errorf("--%s 0: exit %d, stderr %q; want exit %d naming --%s 0", f.Name, code, stderr, exitUsage, f.Name)
				}
				file := filepath.Join(t.TempDir(), c.Name()+".yaml")
				os.WriteFile(file, []byte(flagKey(f.Name)+": 0\n"), 0o644)
				ycode, _, ystderr := runMain(t, "", append([]string{c.Name(), "--config", file, "--check-config"}, args...)...)
				if ycode != code || (code != exitOK && !strings.Contains(ystderr, "line 1: "+flagKey(f.Name)+": 0")) {
					t.Errorf("%s: 0 in a file: exit %d, stderr %q; want as the flag (exit %d) naming the key and line", flagKey(f.Name), ycode, ystderr, code)
				}
				code, _, stderr = runMain(t, "", append([]string{c.Name(), "--check-config"}, append(args, "--"+f.Name+"="+neg)...)...)
				if code != exitUsage || !strings.Contains(stderr, "--"+f.Name) {
					t.Errorf("--%s %s: exit %d, stderr %q; want exit %d naming it", f.Name, neg, code, stderr, exitUsage)
				}
			})
		})
	}
	if checked < 25 {
		t.Errorf("checked %d settings, want at least 25", checked)
	}
}

// TestShipJournalSizeZeroProcess: `ship --journal-size 0 -` refuses to start, as a
// process, naming the flag (it ran with the 1G default).
func TestShipJournalSizeZeroProcess(t *testing.T) {
	dir := t.TempDir()
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--state-dir", filepath.Join(dir, "st"), "--journal-size", "0", "-")
	if code := p.Wait(t); code != exitUsage || !strings.Contains(p.Stderr.String(), "--journal-size 0: want at least 8K") {
		t.Errorf("exit %d, stderr %q; want exit %d naming --journal-size 0", code, p.Stderr, exitUsage)
	}
}

// TestShipOnceRestartSendsOnce: `ship --once` run again on its --state-dir after the
// file grew sends each new batch once (the collector's hello on its join used to make
// it resend the first new batch: the collector dropped the copy as a duplicate, tail
// printed it twice), and tail prints every line once.
func TestShipOnceRestartSendsOnce(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	col := startCollectProc(t, sock, filepath.Join(dir, "out"), filepath.Join(dir, "cstate"), "--metrics-addr", "127.0.0.1:0")
	metrics := col.MetricsAddr(t)
	tail := testsupport.StartProcess(t, "tail", "--spread", col.addr, "www")
	joinAndWait(t, col.addr, "www", 3) // collector, tail and this connection
	file := filepath.Join(dir, "access.log")
	want := ""
	for i := range 4 {
		line := fmt.Sprintf("line %d\n", i)
		want += line
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
		p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", col.addr,
			"--state-dir", filepath.Join(dir, "state"), "--from-beginning", "--once", file)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i, code, p.Stderr)
		}
		if s := p.Stderr.String(); !strings.Contains(s, " resent_batches=0 ") {
			t.Errorf("run %d resent a batch:\n%s", i, s)
		}
	}
	testsupport.EventuallyErr(t, func() error {
		if got := tail.Stdout.String(); got != want {
			return fmt.Errorf("tail printed %q, want %q", got, want)
		}
		return nil
	})
	m, err := testsupport.Scrape(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if d := m["logspread_collector_duplicate_lines_total"]; d != 0 {
		t.Errorf("the collector dropped %v duplicate lines, want 0", d)
	}
}

// TestShipOnceUnfinishedLine: `ship --once` on a file whose last line has no '\n' yet
// and was written less than --rotate-wait ago leaves that line for the next run (exit 0,
// the bytes counted in the stop line), which ships it whole once its writer ended it:
// it used to be shipped as two lines, "partial-begin" and " partial-end".
func TestShipOnceUnfinishedLine(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	col := startCollectProc(t, sock, filepath.Join(dir, "out"), filepath.Join(dir, "cstate"))
	tail := testsupport.StartProcess(t, "tail", "--spread", col.addr, "www")
	joinAndWait(t, col.addr, "www", 3) // collector, tail and this connection
	file := filepath.Join(dir, "access.log")
	for i, write := range []string{"one\npartial-begin", " partial-end\ntwo\n"} {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(write)
		f.Close()
		p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", col.addr,
			"--state-dir", filepath.Join(dir, "state"), "--rotate-wait", "1h", "--once", file)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i, code, p.Stderr)
		}
		if s, left := p.Stderr.String(), " unfinished_line_bytes=13"; (i == 0) != strings.Contains(s, left) {
			t.Errorf("run %d: stop line with %q: %v, want %v:\n%s", i, left, strings.Contains(s, left), i == 0, s)
		}
	}
	want := "one\npartial-begin partial-end\ntwo\n"
	testsupport.EventuallyErr(t, func() error {
		if got := tail.Stdout.String(); got != want {
			return fmt.Errorf("tail printed %q, want %q", got, want)
		}
		return nil
	})
}

// TestLinkWatch: reportLink warns from the first look that finds the link down, for as
// long as it is down, and says when it is reached again; a link first found down once
// its shipper was asked to stop (shutdown, or a reload replacing it) is the sender
// closing its own session, and is not reported (a clean stop warned "cannot reach the
// Spread daemon ... no connection attempt has ended yet" in 1 of ~35 runs, and 6 of ~10
// reloads under load did, with "Spread daemon reached ... after=7s" later); a shipper
// started by a reload is reported only from the second look that finds it unconnected.
func TestLinkWatch(t *testing.T) {
	type look struct {
		wait                time.Duration // since the previous look
		comp                int           // which shipper (0: the first)
		connected, stopping bool
		warn, reached       bool
		down                time.Duration
	}
	for _, tc := range []struct {
		name  string
		looks []look
	}{
		{"up, then shutdown closes the session", []look{
			{wait: time.Second, connected: true},
			{wait: time.Second, stopping: true},
			{wait: time.Second, stopping: true},
		}},
		{"down, back, down", []look{
			{wait: time.Second, warn: true, down: time.Second},
			{wait: 2 * time.Second, warn: true, down: 3 * time.Second},
			{wait: 4 * time.Second, connected: true, reached: true, down: 7 * time.Second},
			{wait: time.Second, warn: true, down: time.Second},
		}},
		{"down before shutdown began: still reported", []look{
			{wait: time.Second, warn: true, down: time.Second},
			{wait: 2 * time.Second, stopping: true, warn: true, down: 3 * time.Second},
		}},
		{"a reload: the old shipper drains and closes, the new one connects", []look{
			{wait: time.Second, connected: true},
			{wait: time.Second, stopping: true}, // draining, then its session closed
			{wait: time.Second, stopping: true}, // the new sources are opened
			{wait: time.Second, comp: 1},        // started, connecting
			{wait: time.Second, comp: 1, connected: true},
		}},
		{"a reload's shipper that cannot connect is reported from its second look", []look{
			{wait: time.Second, connected: true},
			{wait: time.Second, comp: 1},
			{wait: time.Second, comp: 1, warn: true, down: time.Second},
			{wait: 2 * time.Second, comp: 1, connected: true, reached: true, down: 3 * time.Second},
		}},
		{"down across a reload: still reported, reached once", []look{
			{wait: time.Second, warn: true, down: time.Second},
			{wait: 2 * time.Second, stopping: true, warn: true, down: 3 * time.Second},
			{wait: 4 * time.Second, comp: 1, warn: true, down: 7 * time.Second},
			{wait: time.Second, comp: 1, connected: true, reached: true, down: 8 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			comps := []*int{new(int), new(int)}
			w := linkWatch{comp: comps[0]}
			now := time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)
			for i, l := range tc.looks {
				now = now.Add(l.wait)
				warn, reached, down := w.look(now, l.wait, comps[l.comp], l.connected, l.stopping)
				if warn != l.warn || reached != l.reached || down != l.down {
					t.Errorf("look %d: warn %v, reached %v, down %v; want %v, %v, %v", i, warn, reached, down, l.warn, l.reached, l.down)
				}
			}
		})
	}
}

// TestShipSummaryRotatedAmongArguments: files rotated from one argument's path to
// another's (app.log -> app.1.log -> app.2.log, create mode), all shipped and acknowledged:
// the stop summary says everything was acknowledged. A path's checkpoint that names another
// file (or none: a stream that never got a file of its own) counted the whole file it names
// now, though another path's stream had read it, and a file a stream started at its end
// and left unread counted whole too, so the shipper warned "stopped with lines not
// acknowledged" at every clean stop (and source_lag_bytes said so while running).
func TestShipSummaryRotatedAmongArguments(t *testing.T) {
	for _, tc := range []struct{ name, second string }{
		{"paths", "app.1.log"},
		{"glob", "*.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "4803")
			startTestDaemon(t, sock)
			logs := filepath.Join(dir, "logs")
			os.Mkdir(logs, 0o755)
			app := filepath.Join(logs, "app.log")
			os.WriteFile(app, []byte("a1\na2\na3\n"), 0o644) // before the start: not shipped
			r := startShipReceiver(t, "unix:"+sock, "www")
			p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock,
				"--state-dir", filepath.Join(dir, "state"), app, filepath.Join(logs, tc.second))
			p.WaitLog(t, `msg=following .*source=`+regexp.QuoteMeta(app)+` from=end`)
			var want [][]byte
			for _, gen := range []string{"b", "c"} {
				if gen == "c" {
					if err := os.Rename(filepath.Join(logs, "app.1.log"), filepath.Join(logs, "app.2.log")); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Rename(app, filepath.Join(logs, "app.1.log")); err != nil {
					t.Fatal(err)
				}
				lines := []byte(fmt.Sprintf("%s1\n%s2\n%s3\n", gen, gen, gen))
				if err := os.WriteFile(app, lines, 0o644); err != nil {
					t.Fatal(err)
				}
				want = append(want, lines)
				r.expectLines(t, p, want...)
			}
			if code := p.Terminate(t); code != 0 {
				t.Fatalf("exit %d", code)
			}
			p.WaitLog(t, `level=INFO msg="stopped; every line read was acknowledged" .*unacknowledged_bytes=0`)
		})
	}
}
