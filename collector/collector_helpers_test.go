package collector

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testLogger(t testing.TB, sink *testsupport.Buffer) *slog.Logger {
	t.Helper()
	if sink != nil {
		return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a collector configuration for one log "www" written below a temp dir.
func testConfig(t testing.TB, addr string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Spread = addr
	cfg.Dir = t.TempDir()
	cfg.Logs = []LogConfig{{Group: "www", Template: "{group}.log.zst"}}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.ReconnectMin = 10 * time.Millisecond
	cfg.ReconnectMax = 100 * time.Millisecond
	cfg.WriteRetryMax = 50 * time.Millisecond
	return cfg
}

// testCollector is a Collector running in the background.
type testCollector struct {
	*Collector
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// newTestCollector builds a collector (not yet running).
func newTestCollector(t testing.TB, cfg Config, sink *testsupport.Buffer) *testCollector {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, testLogger(t, sink), reg)
	if err != nil {
		t.Fatal(err)
	}
	return &testCollector{Collector: c, reg: reg}
}

// start runs the collector and waits until it has joined its groups.
func (tc *testCollector) start(t testing.TB) *testCollector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tc.cancel, tc.done = cancel, make(chan struct{})
	go func() {
		defer close(tc.done)
		tc.err = tc.Run(ctx)
	}()
	t.Cleanup(func() { tc.stop(t) })
	testsupport.Eventually(t, func() bool { return tc.Healthy() == nil }, "collector joined")
	return tc
}

// stop cancels Run and waits for it; it fails the test if Run failed.
func (tc *testCollector) stop(t testing.TB) {
	t.Helper()
	tc.once.Do(func() {
		tc.cancel()
		<-tc.done
		if tc.err != nil {
			t.Errorf("collector Run: %v", tc.err)
		}
	})
}

// waitMessages waits until the collector has queued n data messages.
func (tc *testCollector) waitMessages(t testing.TB, n int) {
	t.Helper()
	testsupport.Eventually(t, func() bool { return testutil.ToFloat64(tc.m.Messages) >= float64(n) }, "%d messages", n)
}

func counter(c prometheus.Counter) int { return int(testutil.ToFloat64(c)) }

// sender multicasts batches of one stream (or raw messages) to a group.
type sender struct {
	t      testing.TB
	conn   *spreadlink.Conn
	stream uint64
	next   uint64
	host   string // the batches' host extension ("" none)
}

func newSender(t testing.TB, addr string, stream uint64) *sender {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sender{t: t, conn: conn, stream: stream}
}

// batchAt sends body (whole lines) as a batch at logical offset off.
func (s *sender) batchAt(groups []string, off uint64, body []byte) {
	s.t.Helper()
	h := envelope.BatchHeader{Stream: s.stream, Offset: off, Lines: uint32(bytes.Count(body, []byte{'\n'})), Host: s.host}
	msg := envelope.AppendBatch(nil, h, body)
	var err error
	if len(groups) == 1 {
		err = s.conn.Multicast(spreadlink.Agreed, groups[0], envelope.MessTypeBatch, msg)
	} else {
		err = s.conn.MulticastGroups(spreadlink.Agreed, groups, envelope.MessTypeBatch, msg)
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// batch sends body as the next batch of the stream.
func (s *sender) batch(group string, body []byte) {
	s.t.Helper()
	s.batchAt([]string{group}, s.next, body)
	s.next += uint64(len(body))
}

// loss sends a loss notice: the bytes [off, off+span) of the stream will never be sent.
func (s *sender) loss(group string, off, span uint64) {
	s.t.Helper()
	if err := s.conn.Multicast(spreadlink.Agreed, group, envelope.MessTypeBatch, envelope.AppendLoss(nil, s.stream, off, span)); err != nil {
		s.t.Fatal(err)
	}
}

// raw sends one raw (type 0) message, as mod_log_spread does.
func (s *sender) raw(group string, body []byte) {
	s.t.Helper()
	if err := s.conn.Multicast(spreadlink.Agreed, group, envelope.MessTypeRaw, body); err != nil {
		s.t.Fatal(err)
	}
}

// testLines returns n distinct '\n'-terminated lines of about 100 bytes, tagged.
func testLines(tag string, from, n int) []byte {
	var b []byte
	for i := from; i < from+n; i++ {
		b = fmt.Appendf(b, "%s 10.0.%d.%d - - [01/Jan/2026:00:00:00 +0000] \"GET /page/%06d HTTP/1.1\" 200 %d\n",
			tag, i%250, i%200, i, 100+i%900)
	}
	return b
}

// splitLines cuts b into batches of at most n lines.
func splitLines(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		end, k := 0, 0
		for end < len(b) && k < n {
			i := bytes.IndexByte(b[end:], '\n')
			if i < 0 {
				panic("splitLines: unterminated line")
			}
			end += i + 1
			k++
		}
		out = append(out, b[:end])
		b = b[end:]
	}
	return out
}

// segmentFiles lists the segment files below dir (state files excluded), relative,
// in byte order, which is write order for each log.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), StateFileName) || strings.HasPrefix(d.Name(), "."+StateFileName) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Segment names sort in the order they were written (collision suffixes
	// "_000001" sort after the name without one): byte order is write order.
	slices.Sort(names)
	return names
}

// readLog returns the decompressed, concatenated segments below dir whose names
// start with prefix, in write order.
func readLog(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, name := range segmentFiles(t, dir) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = segment.Cat(f, &out)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return out.Bytes()
}

// catFile returns the lines of the segment at path and the error of segment.Cat.
func catFile(t testing.TB, path string) (string, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	err = segment.Cat(f, &out)
	return out.String(), err
}

// flakyFS wraps a segment.FS: WriteAt fails with ENOSPC while failing is set, and
// waits on gate (when not nil) before writing.
type flakyFS struct {
	segment.FS
	mu      sync.Mutex
	failing bool
	gate    chan struct{}
	writes  int // WriteAt calls, failed ones included
}

func (f *flakyFS) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

func (f *flakyFS) Create(name string) (segment.File, error) {
	sf, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &flakyFile{File: sf, fs: f}, nil
}

type flakyFile struct {
	segment.File
	fs *flakyFS
}

func (f *flakyFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	gate := f.fs.gate
	f.fs.writes++
	f.fs.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.fs.mu.Lock()
	failing := f.fs.failing
	f.fs.mu.Unlock()
	if failing {
		// A partial write, as on a full disk: the writer must cut it back.
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// useFlakyFS makes c write through a flakyFS on its output directory.
func useFlakyFS(t testing.TB, c *Collector) *flakyFS {
	t.Helper()
	if err := os.MkdirAll(c.cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(c.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f := &flakyFS{FS: segment.RootFS(root)}
	c.fs = f
	return f
}
