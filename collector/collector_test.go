package collector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.Logs = []LogConfig{{Group: "www", Template: "{group}.log.zst"}}
		return c
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		want  error
		match string
	}{
		{name: "ok", edit: func(*Config) {}},
		{name: "no logs", edit: func(c *Config) { c.Logs = nil }, want: ErrBadConfig, match: "no logs"},
		{name: "hostile group", edit: func(c *Config) { c.Logs[0].Group = "../etc" }, want: ErrBadName},
		{name: "private group", edit: func(c *Config) { c.Logs[0].Group = "#x#y" }, want: ErrBadName},
		{name: "duplicate group", edit: func(c *Config) { c.Logs = append(c.Logs, c.Logs[0]) }, want: ErrBadConfig, match: "twice"},
		{name: "bad template", edit: func(c *Config) { c.Logs[0].Template = "a//{group}" }, want: segment.ErrBadTemplate},
		{name: "absolute template", edit: func(c *Config) { c.Logs[0].Template = "/var/log/central/{group}-%Y%m%d.log.zst" }},
		{name: "unknown field", edit: func(c *Config) { c.Logs[0].Template = "{hostname}.log" }, want: segment.ErrBadTemplate, match: "unknown field {hostname}"},
		{name: "extension contradicts compression", edit: func(c *Config) { c.Logs[0].Template = "{group}.log.gz" }, want: segment.ErrBadTemplate, match: `end in ".gz" but the segments are compressed with "zstd"`},
		{name: "zst without compression", edit: func(c *Config) { c.Logs[0].Template = "{group}.log.zst"; c.Compression = segment.CompressNone }, want: segment.ErrBadTemplate, match: "compress"},
		{name: "gz with gzip", edit: func(c *Config) { c.Logs[0].Template = "{group}.log.gz"; c.Compression = segment.CompressGzip }},
		{name: "escaping template", edit: func(c *Config) { c.Logs[0].Template = "../{group}" }, want: segment.ErrBadTemplate},
		{name: "vhost format", edit: func(c *Config) { c.Logs[0].Template = "{vhost}.log"; c.Logs[0].Format = "combined" }, want: ErrBadConfig, match: "no vhost field"},
		{name: "unknown format", edit: func(c *Config) { c.Logs[0].Template = "{vhost}.log"; c.Logs[0].Format = "nope" }, want: ErrBadConfig},
		{name: "vhost default format", edit: func(c *Config) { c.Logs[0].Template = "{group}/{vhost}.log" }},
		{name: "compression", edit: func(c *Config) { c.Compression = "lz4" }, want: ErrBadConfig},
		{name: "small queue", edit: func(c *Config) { c.QueueBytes = 100 }, want: ErrBadConfig},
		{name: "backoff", edit: func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Second, time.Millisecond }, want: ErrBadConfig},
		{name: "spread address", edit: func(c *Config) { c.Spread = "no port here" }, want: ErrBadConfig},
		{name: "default vhost", edit: func(c *Config) { c.DefaultVhost = "../x" }, want: ErrBadName},
		{name: "private name", edit: func(c *Config) { c.PrivateName = "c01" }},
		{name: "not a collector private name", edit: func(c *Config) { c.PrivateName = "s01" }, want: ErrBadConfig, match: "starting with 'c'"},
		{name: "collector name", edit: func(c *Config) { c.Name = "web-1.example_A" }},
		{name: "bad collector name", edit: func(c *Config) { c.Name = "web 1" }, want: ErrBadConfig, match: "collector name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			_, err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.match) {
				t.Fatalf("Validate = %v, want %v containing %q", err, tc.want, tc.match)
			}
		})
	}
}

// TestConfigValidateCompiles: Validate leaves its Config as it is and returns the
// configuration a Collector runs with: defaults filled in, templates and formats
// compiled.
func TestConfigValidateCompiles(t *testing.T) {
	c := Config{Logs: []LogConfig{
		{Group: "www", Template: "{group}/{vhost}.log"},
		{Group: "api", Template: "{group}.log"},
	}}
	v, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Logs[0].Format != "" || c.Compression != "" || c.StateDir != "" || c.MaxOpenWriters != 0 {
		t.Errorf("Validate changed its Config: %+v", c)
	}
	got := v.Config
	if got.Logs[0].Format != DefaultFormat || got.Logs[1].Format != "" {
		t.Errorf("formats %q, %q; want %q for the {vhost} log only", got.Logs[0].Format, got.Logs[1].Format, DefaultFormat)
	}
	if got.Compression != segment.CompressZstd || got.Dir != "." || got.StateDir != "." || got.MaxOpenWriters != DefaultConfig().MaxOpenWriters {
		t.Errorf("defaults not filled in: %+v", got)
	}
	if len(v.Logs) != 2 || v.Logs[0].Template.String() != "{group}/{vhost}.log" || v.Logs[1].Template.String() != "{group}.log" {
		t.Fatalf("compiled logs %+v", v.Logs)
	}
	if v.Logs[0].Format == nil || !v.Logs[0].Format.HasVHost() || v.Logs[1].Format != nil {
		t.Errorf("compiled formats %v, %v; want the vhost format for the {vhost} log only", v.Logs[0].Format, v.Logs[1].Format)
	}
}

// TestCollectorsIdentical runs two collectors on the same groups and three senders
// (batches, a resend, raw lines): the decompressed outputs are byte-identical and hold
// every line once.
func TestCollectorsIdentical(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	var cs []*testCollector
	for range 2 {
		cfg := testConfig(t, addr)
		cfg.FlushBytes = 8 << 10 // many frames
		cs = append(cs, newTestCollector(t, cfg, nil).start(t))
	}
	a, b, legacy := newSender(t, addr, 0xa), newSender(t, addr, 0xb), newSender(t, addr, 0)
	linesA, linesB := testLines("A", 0, 3000), testLines("B", 0, 3000)
	ba, bb := splitLines(linesA, 37), splitLines(linesB, 53)
	sent := 0
	for i := range max(len(ba), len(bb)) {
		if i < len(ba) {
			a.batch("www", ba[i])
			sent++
		}
		if i < len(bb) {
			b.batch("www", bb[i])
			sent++
		}
		if i%10 == 0 {
			legacy.raw("www", testLines("R", i, 1))
			sent++
		}
	}
	// A resend of stream A from the start, cut differently: all duplicates.
	a2 := newSender(t, addr, 0xa)
	for _, p := range splitLines(linesA, 101) {
		a2.batch("www", p)
		sent++
	}
	for _, c := range cs {
		c.waitMessages(t, sent)
		c.stop(t)
	}
	out0 := readLog(t, cs[0].cfg.Dir, "www")
	out1 := readLog(t, cs[1].cfg.Dir, "www")
	if !bytes.Equal(out0, out1) {
		t.Fatalf("outputs differ: %d and %d bytes", len(out0), len(out1))
	}
	var gotA, gotB []byte
	raws := 0
	for _, l := range bytes.SplitAfter(out0, []byte("\n")) {
		switch {
		case bytes.HasPrefix(l, []byte("A ")):
			gotA = append(gotA, l...)
		case bytes.HasPrefix(l, []byte("B ")):
			gotB = append(gotB, l...)
		case bytes.HasPrefix(l, []byte("R ")):
			raws++
		}
	}
	if !bytes.Equal(gotA, linesA) || !bytes.Equal(gotB, linesB) {
		t.Fatalf("per-stream lines differ from what was sent (A %d/%d bytes, B %d/%d)", len(gotA), len(linesA), len(gotB), len(linesB))
	}
	if raws != (len(ba)+9)/10 && raws != (max(len(ba), len(bb))+9)/10 {
		t.Fatalf("%d raw lines", raws)
	}
	if d := counter(cs[0].seqMetrics().DuplicateLines); d != 3000 {
		t.Errorf("duplicate lines = %d, want 3000", d)
	}
}

// seqMetrics returns the sequencer counters registered on the collector's registry.
func (tc *testCollector) seqMetrics() *SequencerMetrics {
	m, err := NewSequencerMetrics(tc.reg) // returns the registered counters
	if err != nil {
		panic(err)
	}
	return m
}

// TestCollectorRawLegacy accepts raw type-0 messages (mod_log_spread): one or more
// lines, a missing final newline added, on a group given by name.
func TestCollectorRawLegacy(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Compression = segment.CompressNone
	cfg.Logs[0].Template = "{group}.log"
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 0)
	s.raw("www", []byte("one\n"))
	s.raw("www", []byte("two\nthree\n"))
	s.raw("www", []byte("four"))
	s.raw("other", []byte("not ours\n")) // not joined: never delivered
	c.waitMessages(t, 3)
	c.stop(t)
	got := readLog(t, cfg.Dir, "www")
	if want := "one\ntwo\nthree\nfour\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestCollectorRestartNoDuplicates stops a collector, restarts it on the same
// directory (state file), and resends the whole stream cut differently: nothing is
// written twice, and new lines follow.
func TestCollectorRestartNoDuplicates(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.StateDir = t.TempDir()
	lines := testLines("S", 0, 2000)
	first := len(testLines("S", 0, 1200)) // the bytes of the first 1200 lines

	c1 := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 7)
	n := 0
	for _, p := range splitLines(lines[:first], 64) {
		s.batch("www", p)
		n++
	}
	c1.waitMessages(t, n)
	c1.stop(t)
	if _, err := os.Stat(filepath.Join(cfg.StateDir, StateFileName)); err != nil {
		t.Fatalf("no state file: %v", err)
	}

	c2 := newTestCollector(t, cfg, nil).start(t)
	s2 := newSender(t, addr, 7)
	n = 0
	for _, p := range splitLines(lines, 45) { // resend from 0, then continue
		s2.batch("www", p)
		n++
	}
	c2.waitMessages(t, n)
	c2.stop(t)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, lines) {
		t.Fatalf("after restart: %d bytes, want %d (duplicates or loss)", len(got), len(lines))
	}
	if d := counter(c2.seqMetrics().DuplicateLines); d != 1200 {
		t.Errorf("duplicates dropped after restart = %d, want 1200", d)
	}
	// The second run appends to the segment the first one wrote (the state file
	// names it, and the template still expands to it).
	if got := segmentFiles(t, cfg.Dir); len(got) != 1 {
		t.Errorf("segments %v, want one: the restart continues the segment", got)
	}
	if counter(c2.segm.Reopened) < 1 {
		t.Errorf("segment not reopened after the restart")
	}
}

// TestCollectorVhostSplit writes each line to its vhost's log; lines without a vhost
// and lines with hostile vhost names go to the default log; nothing leaves the
// output directory.
func TestCollectorVhostSplit(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Dir = filepath.Join(t.TempDir(), "out")
	cfg.Compression = segment.CompressGzip
	cfg.Logs[0].Template = "{group}/{vhost}.log.gz"
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 1)
	line := func(vhost, path string) string {
		return vhost + `:80 10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET ` + path + ` HTTP/1.1" 200 512 "-" "curl/8"` + "\n"
	}
	body := line("a.example", "/1") + line("a.example", "/2") + line("b.example", "/3") +
		"garbage without a vhost\n" +
		line("../../escape", "/4") + line(".hidden", "/5") + line("a.example", "/6") +
		line("..", "/7") + line("b.example", "/8")
	s.batch("www", []byte(body))
	s.raw("www", []byte(line("c.example", "/raw")))
	c.waitMessages(t, 2)
	c.stop(t)

	want := map[string]string{
		"www/a.example.log.gz": line("a.example", "/1") + line("a.example", "/2") + line("a.example", "/6"),
		"www/b.example.log.gz": line("b.example", "/3") + line("b.example", "/8"),
		"www/c.example.log.gz": line("c.example", "/raw"),
		"www/_default.log.gz": "garbage without a vhost\n" + line("../../escape", "/4") + line(".hidden", "/5") +
			line("..", "/7"),
	}
	files := segmentFiles(t, cfg.Dir)
	if len(files) != len(want) {
		t.Fatalf("files %v, want %d", files, len(want))
	}
	for name, w := range want {
		if got := readLog(t, cfg.Dir, name); string(got) != w {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, w)
		}
	}
	if n := counter(c.m.RejectedVhost); n != 3 {
		t.Errorf("rejected vhost lines = %d, want 3", n)
	}
	if n := counter(c.m.DefaultVhost); n != 4 {
		t.Errorf("default vhost lines = %d, want 4", n)
	}
	if n := counter(c.segm.NamesRejected); n != 3 {
		t.Errorf("names_rejected_total = %d, want 3 (../../escape, .hidden, ..)", n)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Dir))
	for _, e := range entries {
		if e.Name() != "out" {
			t.Errorf("file %s created outside the output directory", e.Name())
		}
	}
}

// TestCollectorHosts: the host a batch carries names the segment of a {host} log and
// prefixes the lines of a host_prefix log; lines without a host (raw messages, batches
// of older shippers) and with an unsafe one (path traversal, a space, a line end) go
// under the default host, and so does a host too long for a file name (in file names
// only); each is counted in names_rejected_total, and no file appears outside the
// output directory.
func TestCollectorHosts(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Dir = filepath.Join(t.TempDir(), "out")
	cfg.Compression = segment.CompressGzip
	cfg.Logs = []LogConfig{
		{Group: "www", Template: "{group}/{host}.log.gz"},
		{Group: "api", Template: "{group}.log.gz", HostPrefix: true},
	}
	c := newTestCollector(t, cfg, nil).start(t)
	both := []string{"www", "api"}
	web1, web2, old := newSender(t, addr, 1), newSender(t, addr, 2), newSender(t, addr, 3)
	web1.host, web2.host = "web1", "web2.example.com"
	long := strings.Repeat("h", envelope.MaxHostLen) // a valid host, too long for a file name
	bad := []string{"../evil", "..", "a b", "x\ny", long}
	sent := 0
	// One message at a time: the senders' connections are not ordered among themselves.
	deliver := func(send func()) {
		t.Helper()
		send()
		sent++
		c.waitMessages(t, sent)
	}
	batch := func(s *sender, body string) {
		deliver(func() { s.batchAt(both, s.next, []byte(body)) })
		s.next += uint64(len(body))
	}
	batch(web1, "w1 a\nw1 b\n")
	batch(web2, "w2 a\n")
	batch(old, "old a\n")
	deliver(func() { web1.raw("www", []byte("raw a\n")) })
	deliver(func() { web1.raw("api", []byte("raw b\n")) })
	for i, h := range bad {
		s := newSender(t, addr, uint64(10+i))
		s.host = h
		batch(s, fmt.Sprintf("bad %d\n", i))
	}
	batch(web1, "w1 c\n")
	c.stop(t)

	wantWWW := map[string]string{
		"www/web1.log.gz":             "w1 a\nw1 b\nw1 c\n",
		"www/web2.example.com.log.gz": "w2 a\n",
		"www/_unknown.log.gz":         "old a\nraw a\nbad 0\nbad 1\nbad 2\nbad 3\nbad 4\n",
	}
	for name, w := range wantWWW {
		if got := readLog(t, cfg.Dir, name); string(got) != w {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, w)
		}
	}
	wantAPI := "web1 w1 a\nweb1 w1 b\nweb2.example.com w2 a\n_unknown old a\n_unknown raw b\n" +
		"_unknown bad 0\n_unknown bad 1\n_unknown bad 2\n_unknown bad 3\n" + long + " bad 4\nweb1 w1 c\n"
	if got := readLog(t, cfg.Dir, "api.log.gz"); string(got) != wantAPI {
		t.Errorf("api.log.gz:\n%s\nwant:\n%s", got, wantAPI)
	}
	if files := segmentFiles(t, cfg.Dir); len(files) != len(wantWWW)+1 {
		t.Errorf("files %v, want %d", files, len(wantWWW)+1)
	}
	if n := counter(c.segm.NamesRejected); n != len(bad) {
		t.Errorf("names_rejected_total = %d, want %d", n, len(bad))
	}
	// Per group: every line once (11 in each log), bytes with the host prefixes.
	for g, want := range map[string]int{"www": len(wantWWW["www/web1.log.gz"]) + len(wantWWW["www/web2.example.com.log.gz"]) + len(wantWWW["www/_unknown.log.gz"]), "api": len(wantAPI)} {
		if n := counter(c.m.GroupLines.WithLabelValues(g)); n != 11 {
			t.Errorf("group_lines_total{group=%q} = %d, want 11", g, n)
		}
		if n := counter(c.m.GroupBytes.WithLabelValues(g)); n != want {
			t.Errorf("group_bytes_total{group=%q} = %d, want %d", g, n, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Dir))
	if len(entries) != 1 {
		t.Errorf("entries next to the output directory: %v", entries)
	}
}

// TestCollectorHostileGroups: messages that also name unconfigured groups with
// path-like names are written to the configured log only; no file appears elsewhere.
func TestCollectorHostileGroups(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Dir = filepath.Join(t.TempDir(), "out")
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 3)
	body := testLines("H", 0, 10)
	s.batchAt([]string{"www", "../../evil", "..", "$x/y"}, 0, body)
	c.waitMessages(t, 1)
	c.stop(t)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, body) {
		t.Fatalf("got %q", got)
	}
	if files := segmentFiles(t, cfg.Dir); len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Dir))
	if len(entries) != 1 {
		t.Fatalf("entries next to the output directory: %v", entries)
	}
	if _, err := New(Config{Logs: []LogConfig{{Group: "../../evil", Template: "{group}.log"}}}, nil, nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("New with a hostile group: %v", err)
	}
}

// TestCollectorWriteErrorRetried injects ENOSPC (with partial writes) for a while:
// the collector retries, reports itself unhealthy, and loses nothing once the disk
// has room again.
func TestCollectorWriteErrorRetried(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.FlushBytes = 4 << 10
	c := newTestCollector(t, cfg, nil)
	ffs := useFlakyFS(t, c.Collector)
	c.start(t)
	s := newSender(t, addr, 9)
	lines := testLines("E", 0, 3000)
	batches := splitLines(lines, 30)
	for _, p := range batches[:20] {
		s.batch("www", p)
	}
	c.waitMessages(t, 20)
	ffs.setFailing(true)
	for _, p := range batches[20:60] {
		s.batch("www", p)
	}
	testsupport.Eventually(t, func() bool { return counter(c.m.WriteRetries) >= 3 }, "write retries")
	if err := c.Healthy(); err == nil {
		t.Error("Healthy = nil while writes fail")
	}
	ffs.setFailing(false)
	for _, p := range batches[60:] {
		s.batch("www", p)
	}
	c.waitMessages(t, len(batches))
	testsupport.Eventually(t, func() bool { return c.Healthy() == nil }, "healthy again")
	c.stop(t)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, lines) {
		t.Fatalf("after ENOSPC: %d bytes, want %d", len(got), len(lines))
	}
	if n := counter(c.segm.WriteErrors); n == 0 {
		t.Error("no write errors counted")
	}
}

// TestCollectorSlowWriterKicked blocks the segment writes: the queue fills, the
// reader stops reading, the daemon disconnects the session as a slow reader, and the
// collector records the gap (counter, log line, marker), reconnects and writes on.
func TestCollectorSlowWriterKicked(t *testing.T) {
	d := testsupport.StartDaemon(t, testsupport.WithFlowControl(false), testsupport.WithSessionBounds(100, 0)) // Spread: kick at the bound
	addr := d.Addr
	cfg := testConfig(t, addr)
	cfg.Compression = segment.CompressNone
	cfg.Logs[0].Template = "{group}.log"
	cfg.QueueBytes = 64 << 10
	cfg.FlushBytes = 4 << 10
	cfg.GapMarkers = true
	var logs testsupport.Buffer
	c := newTestCollector(t, cfg, &logs)
	ffs := useFlakyFS(t, c.Collector)
	gate := make(chan struct{})
	ffs.gate = gate
	c.start(t)

	s := newSender(t, addr, 5)
	big := testLines("K", 0, 20) // ~2 KiB per message
	// The writer blocks on its first frame; the queue fills and the reader stops.
	for n := 0; counter(c.m.QueueFull) == 0; n++ {
		if n > 10000 {
			t.Fatal("queue never full")
		}
		s.batch("www", big) // the same lines at new offsets: all new
		testsupport.Eventually(t, func() bool {
			return counter(c.m.Messages) > n || counter(c.m.QueueFull) > 0
		}, "message queued or queue full")
	}
	// The daemon queues for the paused session until it passes its bound.
	for n := 0; d.Metric(t, "logspread_daemon_sessions_kicked_total") == 0; n++ {
		if n > 100000 {
			t.Fatal("never kicked")
		}
		s.batch("www", big)
	}
	if counter(c.m.QueueFull) == 0 {
		t.Error("queue never full")
	}
	if counter(c.m.SessionsLost) != 0 {
		t.Error("session loss noticed while the reader was paused")
	}
	ffs.mu.Lock()
	ffs.gate = nil
	ffs.mu.Unlock()
	close(gate)
	testsupport.Eventually(t, func() bool { return c.Healthy() == nil && counter(c.m.Connects) >= 2 }, "reconnected")
	testsupport.Eventually(t, func() bool { return counter(c.seqMetrics().ConnectionGaps) >= 1 }, "gap recorded")
	m0 := counter(c.m.Messages)
	afterAt := s.next
	after := testLines("after", 0, 3)
	s.batch("www", after)
	c.waitMessages(t, m0+1)
	// The messages the daemon dropped are a hole (a resend could fill it), not a gap.
	testsupport.Eventually(t, func() bool { return testutil.ToFloat64(c.seqMetrics().Holes) == 1 }, "hole open")
	if n := counter(c.seqMetrics().Gaps); n != 0 {
		t.Errorf("%d gaps counted before the loss notice, want 0", n)
	}
	// The shipper gives the hole up: a gap of exactly the bytes this collector lacks.
	s.loss("www", 0, afterAt)
	c.waitMessages(t, m0+2)
	c.stop(t)
	out := readLog(t, cfg.Dir, "www")
	if !bytes.Contains(out, []byte(connGapMarker)) {
		t.Error("no connection gap marker in the output")
	}
	if !bytes.Contains(out, after) {
		t.Error("lines after the reconnect missing")
	}
	if counter(c.m.SessionsLost) < 1 {
		t.Error("sessions lost not counted")
	}
	if !strings.Contains(logs.String(), "Spread session lost") {
		t.Error("no log line for the lost session")
	}
	// The loss notice made the hole a counted, marked gap of its exact size.
	written := 0
	for l := range strings.Lines(string(out)) {
		if !strings.HasPrefix(l, "# logspread gap") {
			written += len(l)
		}
	}
	missing := int(afterAt) + len(after) - written
	if g, gb := counter(c.seqMetrics().Gaps), counter(c.seqMetrics().GapBytes); g != 1 || gb != missing || missing <= 0 {
		t.Errorf("gaps %d of %d bytes, want 1 of %d (the bytes missing)", g, gb, missing)
	}
	if !bytes.Contains(out, fmt.Appendf(nil, "# logspread gap stream=0000000000000005 bytes=%d\n", missing)) {
		t.Error("stream gap not marked")
	}
	if h := testutil.ToFloat64(c.seqMetrics().Holes); h != 0 {
		t.Errorf("holes %v after the loss notice, want 0", h)
	}
}

// TestCollectorReopenUnderLoad reopens (SIGHUP) while batches stream in: the segment
// holds every line once, in order, and no reopen started another file (nothing moved
// the segment).
func TestCollectorReopenUnderLoad(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 11)
	lines := testLines("R", 0, 20000)
	batches := splitLines(lines, 50)
	reopens := 0
	for i, p := range batches {
		s.batch("www", p)
		if i%40 == 20 {
			// Wait until the writer has taken this batch, then ask for a reopen.
			want := (i + 1) * 50
			testsupport.Eventually(t, func() bool { return counter(c.seqMetrics().Lines) >= want }, "lines written")
			c.Reopen()
			c.Reopen() // coalesced
			reopens++
			testsupport.Eventually(t, func() bool { return counter(c.m.ReopenRequests) >= reopens }, "reopen")
		}
	}
	c.waitMessages(t, len(batches))
	c.stop(t)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, lines) {
		t.Fatalf("after reopens: %d bytes, want %d", len(got), len(lines))
	}
	if files := segmentFiles(t, cfg.Dir); len(files) != 1 {
		t.Fatalf("segments %v after %d reopen pairs, want one", files, reopens)
	}
}

// TestCollectorManyWriters bounds the open writers: vhost logs beyond the bound close
// the least recently used, and reopen a new segment when needed again.
func TestCollectorManyWriters(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Compression = segment.CompressNone
	cfg.Logs[0].Template = "{vhost}.log"
	cfg.MaxOpenWriters = 3
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 12)
	var want = map[string]string{}
	for round := range 3 {
		var body string
		for _, v := range []string{"a", "b", "c", "d", "e"} {
			l := v + `.example:80 10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /` + string(rune('0'+round)) + ` HTTP/1.1" 200 5 "-" "x"` + "\n"
			body += l
			want[v] += l
		}
		s.batch("www", []byte(body))
	}
	c.waitMessages(t, 3)
	c.stop(t)
	for v, w := range want {
		if got := readLog(t, cfg.Dir, v+".example"); string(got) != w {
			t.Errorf("%s: %q, want %q", v, got, w)
		}
	}
	if counter(c.m.Evictions) == 0 {
		t.Error("no evictions")
	}
}

// TestCollectorPresence: the collector joins the group and then its presence group
// under a name starting with 'c'; stopping, it leaves the presence group first and
// writes every batch ordered before that leave, even while batches stream in.
func TestCollectorPresence(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Compression = segment.CompressNone
	cfg.Logs[0].Template = "{group}.log"
	presence := envelope.PresenceGroup("www")

	// A watcher in both groups sees joins, leaves and data in the one total order.
	w, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: "watch", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, g := range []string{"www", presence} {
		if err := w.Join(g); err != nil {
			t.Fatal(err)
		}
	}
	// Joins are asynchronous: wait until both are delivered, so the watcher sees the
	// collector's joins, which come later.
	for joined := 0; joined < 2; {
		var m spreadlink.Message
		if err := w.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Changed == w.PrivateGroup() {
			joined++
		}
	}
	type seen struct {
		kind  string // "join", "leave", "disconnect", "data"
		group string
		who   string
		body  []byte
	}
	events := make(chan seen, 100000)
	go func() { // owned: ends when the watcher's connection is closed
		defer close(events)
		var m spreadlink.Message
		for w.Receive(&m) == nil {
			switch {
			case m.Service.IsRegular() && m.MessType == envelope.MessTypeProgress:
				events <- seen{kind: "progress", group: m.Groups[0], who: m.Sender, body: bytes.Clone(m.Data)}
			case m.Service.IsRegular():
				events <- seen{kind: "data", body: bytes.Clone(m.Data)}
			case m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Changed != w.PrivateGroup():
				kind := "join"
				if m.Service&spreadlink.CausedByLeave != 0 {
					kind = "leave"
				} else if m.Service&spreadlink.CausedByDisconnect != 0 {
					kind = "disconnect"
				}
				events <- seen{kind: kind, group: m.Sender, who: m.Membership.Changed}
			}
		}
	}()
	next := func() seen {
		t.Helper()
		return testsupport.Receive(t, events, "the watcher's next event")
	}

	c := newTestCollector(t, cfg, nil).start(t)
	var who string
	for _, g := range []string{"www", presence} {
		e := next()
		if e.kind != "join" || e.group != g || !envelope.IsCollector(e.who) || (who != "" && e.who != who) {
			t.Fatalf("watcher saw %+v, want the collector (name c…) joining %s", e, g)
		}
		who = e.who
	}
	// Once its joins are delivered it says hello in the presence group: its name, no
	// streams yet.
	var p envelope.Progress
	if e := next(); e.kind != "progress" || e.group != presence || e.who != who || envelope.ParseProgress(e.body, &p) != nil ||
		p.Name != DefaultName(cfg.Dir) || p.Flags != 0 || len(p.Streams) != 0 {
		t.Fatalf("watcher saw %+v (%+v), want the collector's hello", e, p)
	}

	// Batches stream in while the collector stops.
	s := newSender(t, addr, 9)
	lines := testLines("P", 0, 20000)
	batches := splitLines(lines, 10)
	stopNow, stopped := make(chan struct{}), make(chan struct{})
	go func() { // owned: ends before the test (waited on stopped)
		defer close(stopped)
		<-stopNow
		c.stop(t)
	}()
	for i, b := range batches {
		s.batch("www", b)
		if i == 100 {
			// Mid-stream, once the collector is writing: it stops while the rest streams in.
			c.waitMessages(t, 50)
			close(stopNow)
		}
	}
	<-stopped
	// Everything the watcher saw before the collector's leave of the presence group
	// must be in the collector's output.
	var before []byte
	final := false
	for {
		e := next()
		if e.kind == "progress" {
			if err := envelope.ParseProgress(e.body, &p); err != nil {
				t.Fatal(err)
			}
			if final {
				t.Fatalf("report after the final one: %+v", p)
			}
			if p.Flags&envelope.ProgressFinal != 0 {
				final = true
				// Everything it reports is written, and it had written what the
				// watcher saw before: the report comes after the last flush.
				for _, sp := range p.Streams {
					if sp.Stream != 9 || sp.End > uint64(len(before)) {
						t.Errorf("final report %+v: beyond the %d bytes ordered before it", sp, len(before))
					}
				}
			}
			continue
		}
		if e.kind == "data" {
			_, body, err := envelope.ParseBatch(e.body)
			if err != nil {
				t.Fatal(err)
			}
			before = append(before, body...)
			continue
		}
		if e.group == presence && e.who == who {
			if e.kind != "leave" {
				t.Fatalf("the collector left the presence group by %s, want a leave before disconnecting", e.kind)
			}
			if !final {
				t.Fatal("the collector left the presence group without a final progress report")
			}
			break
		}
		if e.group == "www" && e.who == who {
			t.Fatalf("the collector left the group (%s) before the presence group", e.kind)
		}
	}
	got := readLog(t, cfg.Dir, "www")
	if !bytes.HasPrefix(got, before) {
		t.Fatalf("collector wrote %d bytes; the %d bytes ordered before its leave are not all there", len(got), len(before))
	}
	if len(before) == len(lines) {
		t.Log("every batch was ordered before the leave (the stop came late)")
	}
	t.Logf("ordered before the leave: %d of %d bytes; written %d", len(before), len(lines), len(got))
}

// TestCollectorHoleFilledByResend: batches missed (here: never sent the first time)
// leave a hole; the resend fills it, its lines are written once, and the state file
// holds one span from the base on. Resending everything again writes nothing.
func TestCollectorHoleFilledByResend(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 21)
	lines := testLines("H", 0, 90)
	parts := splitLines(lines, 30) // three batches
	off1 := uint64(len(parts[0]))
	off2 := off1 + uint64(len(parts[1]))
	s.batchAt([]string{"www"}, 0, parts[0])
	s.batchAt([]string{"www"}, off2, parts[2])
	c.waitMessages(t, 2)
	testsupport.Eventually(t, func() bool { return testutil.ToFloat64(c.seqMetrics().Holes) == 1 }, "hole open")
	s.batchAt([]string{"www"}, off1, parts[1]) // the resend fills the hole
	s.batchAt([]string{"www"}, 0, lines)       // everything again: duplicates
	c.waitMessages(t, 4)
	testsupport.Eventually(t, func() bool {
		st, err := LoadState(filepath.Join(cfg.Dir, StateFileName))
		return err == nil && len(st.Streams[21].Written) == 1 && st.Streams[21].End() == uint64(len(lines))
	}, "one written span in the state file")
	c.stop(t)
	want := append(append(bytes.Clone(parts[0]), parts[2]...), parts[1]...)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, want) {
		t.Errorf("log holds %d bytes, want the first batch, the third, then the resent second (%d bytes)", len(got), len(want))
	}
	if g, h := counter(c.seqMetrics().Gaps), testutil.ToFloat64(c.seqMetrics().Holes); g != 0 || h != 0 {
		t.Errorf("gaps %d, holes %v; want 0, 0", g, h)
	}
	if d := counter(c.seqMetrics().DuplicateLines); d != 90 {
		t.Errorf("duplicates %d, want 90", d)
	}
}

// TestCollectorAbsoluteTemplate: a log whose template is absolute writes below the
// template's own directory (created if missing, confined like Dir), next to a log
// relative to Dir; the state file names its segments by their absolute names, and a
// restart continues them.
func TestCollectorAbsoluteTemplate(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	central := filepath.Join(t.TempDir(), "central")
	cfg.StateDir = t.TempDir()
	cfg.UTC = true
	cfg.Logs = []LogConfig{
		{Group: "www", Template: central + "/www-%Y%m%d.log.zst"},
		{Group: "api", Template: "{group}.log.zst"},
	}
	halves := [][]byte{testLines("A", 0, 25), testLines("A", 25, 25)}
	for run, half := range halves {
		c := newTestCollector(t, cfg, nil).start(t)
		s := newSender(t, addr, uint64(7+run))
		s.batch("www", half)
		s.batch("api", half)
		c.waitMessages(t, 2)
		c.stop(t)
	}
	want := testLines("A", 0, 50)
	if got := readLog(t, central, "www-"); !bytes.Equal(got, want) {
		t.Errorf("www: %d bytes, want %d", len(got), len(want))
	}
	if got := readLog(t, cfg.Dir, "api"); !bytes.Equal(got, want) {
		t.Errorf("api: %d bytes, want %d", len(got), len(want))
	}
	files := segmentFiles(t, central)
	if len(files) != 1 || !strings.HasPrefix(files[0], "www-") {
		t.Fatalf("segments in the template's directory: %v, want one www-DATE.log.zst (continued by the restart)", files)
	}
	if got := segmentFiles(t, cfg.Dir); len(got) != 1 || got[0] != "api.log.zst" {
		t.Errorf("segments in --dir: %v, want api.log.zst", got)
	}
	st, err := LoadState(filepath.Join(cfg.StateDir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if seg := st.Logs["www"].Segment; seg != filepath.Join(central, files[0]) {
		t.Errorf("state names www's segment %q, want %q", seg, filepath.Join(central, files[0]))
	}
}
