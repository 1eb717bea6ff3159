package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/testsupport"
)

// preparedSegment writes lines a as one complete frame of a segment, then prepares a
// frame of lines b without writing it. It returns the segment, the prepared frame and
// its bytes, as a crash between the intent save and the frame write leaves them.
func preparedSegment(t *testing.T, c segment.Compression, a, b string) (dir string, root *os.Root, pf segment.Frame, frame []byte) {
	t.Helper()
	dir, root = testsupport.TempRoot(t)
	tmpl, err := segment.ParseTemplate("{group}.log")
	if err != nil {
		t.Fatal(err)
	}
	cfg := segment.DefaultConfig()
	cfg.Compression = c
	w, err := segment.NewWriter(segment.RootFS(root), tmpl, segment.Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Abandon() })
	if err := w.Write([]byte(a)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := w.Prepare(); err != nil || !ok {
		t.Fatalf("Prepare = %v, %v", ok, err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte(b)); err != nil {
		t.Fatal(err)
	}
	pf, ok, err := w.Prepare()
	if err != nil || !ok {
		t.Fatalf("Prepare = %v, %v", ok, err)
	}
	path := filepath.Join(dir, pf.Segment)
	if st, _ := os.Stat(path); st.Size() != pf.Before {
		t.Fatalf("prepared %+v: segment holds %d bytes", pf, st.Size())
	}
	// The frame's bytes: write it, read it back, and cut the segment back to where
	// it was when the frame was prepared.
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	seg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(seg)) != pf.After {
		t.Fatalf("prepared %+v: the written segment holds %d bytes", pf, len(seg))
	}
	if err := os.Truncate(path, pf.Before); err != nil {
		t.Fatal(err)
	}
	return dir, root, pf, seg[pf.Before:]
}

// TestRecoverIntentFrame: a frame in flight at a crash is kept when complete (the
// offsets roll forward) and cut off when torn or never written (the offsets stay), for
// every compression; the segment is then a valid sequence of complete frames.
func TestRecoverIntentFrame(t *testing.T) {
	a, b := string(testLines("L", 0, 40)), string(testLines("L", 40, 25))
	const stream = 7
	for _, c := range []segment.Compression{segment.CompressZstd, segment.CompressGzip, segment.CompressNone} {
		for _, tc := range []struct {
			name     string
			written  func(frame []byte) []byte // the part of the frame on disk
			complete bool
		}{
			{"complete", func(f []byte) []byte { return f }, true},
			{"torn", func(f []byte) []byte { return f[:len(f)/2] }, false},
			{"torn one byte", func(f []byte) []byte { return f[:1] }, false},
			{"torn all but one byte", func(f []byte) []byte { return f[:len(f)-1] }, false},
			{"not written", func(f []byte) []byte { return nil }, false},
		} {
			t.Run(string(c)+"/"+tc.name, func(t *testing.T) {
				dir, root, pf, frame := preparedSegment(t, c, a, b)
				path := filepath.Join(dir, pf.Segment)
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(tc.written(frame), pf.Before); err != nil {
					t.Fatal(err)
				}
				f.Close()
				st := State{
					Streams: map[uint64]StreamState{stream: ss(0, len(a)), 9: ss(0, 5)},
					Logs:    map[string]LogState{"www": {Segment: pf.Segment}},
					Intent: []FrameIntent{{Segment: pf.Segment, Before: pf.Before, After: pf.After,
						Streams: map[uint64]FrameSpans{stream: fsp(len(a), len(a)+len(b))}}},
				}
				got, rep, err := recoverIntent(segment.RootFS(root), st, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := State{Streams: map[uint64]StreamState{stream: ss(0, len(a)), 9: ss(0, 5)}, Logs: st.Logs}
				wantOut, wantSize := a, pf.Before
				if tc.complete {
					want.Streams[stream] = ss(0, len(a)+len(b))
					wantOut, wantSize = a+b, pf.After
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("state (-want +got):\n%s", diff)
				}
				if tc.complete != (rep.complete == 1) || tc.complete == (rep.torn == 1) {
					t.Errorf("report %+v", rep)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != wantSize {
					t.Errorf("segment is %d bytes, want %d", fi.Size(), wantSize)
				}
				out, err := catFile(t, path)
				if err != nil || out != wantOut {
					t.Errorf("segment reads %d bytes (want %d), err %v", len(out), len(wantOut), err)
				}
				// Idempotent: a crash during recovery redoes it with the same outcome.
				again, _, err := recoverIntent(segment.RootFS(root), st, nil)
				if err != nil || !cmp.Equal(got, again) {
					t.Errorf("second recovery: %v, %v", again, err)
				}
			})
		}
	}
}

// writeFile creates dir/name holding n bytes.
func writeFile(t *testing.T, dir, name string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{'x'}, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, dir, name string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestRecoverIntentCases covers the per-segment decisions and the per-stream outcome
// when one flush wrote a stream's lines to several segments (one log per vhost).
// ss returns a stream state with base 0 and the written spans given as from, to pairs.
func ss(ft ...int) StreamState {
	var st StreamState
	for i := 0; i < len(ft); i += 2 {
		st.Written = append(st.Written, Span{uint64(ft[i]), uint64(ft[i+1])})
	}
	return st
}

// fsp returns a frame's spans of one stream, given as from, to pairs.
func fsp(ft ...int) FrameSpans { return FrameSpans{Spans: ss(ft...).Written} }

func TestRecoverIntentCases(t *testing.T) {
	type file struct {
		name string
		size int // -1: missing
	}
	tests := []struct {
		name      string
		files     []file
		committed map[uint64]StreamState
		intent    []FrameIntent
		want      map[uint64]StreamState
		wantSizes map[string]int64 // -1: missing
		wantRep   recoveryReport
		wantLog   string
	}{
		{
			name:      "all complete: roll forward",
			files:     []file{{"www/a.log", 30}, {"www/b.log", 20}},
			committed: map[uint64]StreamState{1: ss(0, 100), 2: ss(0, 7), 3: {}},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 30, Streams: map[uint64]FrameSpans{1: fsp(100, 150), 3: fsp(0, 40)}},
				{Segment: "www/b.log", Before: 0, After: 20, Streams: map[uint64]FrameSpans{1: fsp(150, 230)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 230), 2: ss(0, 7), 3: ss(0, 40)},
			wantSizes: map[string]int64{"www/a.log": 30, "www/b.log": 20},
			wantRep:   recoveryReport{complete: 2},
		},
		{
			name:      "later lines complete, earlier torn: a hole that a resend fills",
			files:     []file{{"www/a.log", 20}, {"www/b.log", 9}},
			committed: map[uint64]StreamState{1: ss(0, 200), 2: ss(0, 50)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(300, 400)}},
				{Segment: "www/b.log", Before: 5, After: 15, Streams: map[uint64]FrameSpans{1: fsp(200, 300), 2: fsp(50, 60)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 200, 300, 400), 2: ss(0, 50)},
			wantSizes: map[string]int64{"www/a.log": 20, "www/b.log": 5},
			wantRep:   recoveryReport{complete: 1, torn: 1, cut: 1, holes: 2},
			wantLog:   "torn",
		},
		{
			name:      "vhosts interleaved: the torn frame's own spans are holes",
			files:     []file{{"www/a.log", 20}, {"www/b.log", 5}},
			committed: map[uint64]StreamState{1: ss(0, 100)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(100, 150, 250, 400)}},
				{Segment: "www/b.log", Before: 5, After: 15, Streams: map[uint64]FrameSpans{1: fsp(150, 250)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 150, 250, 400)},
			wantSizes: map[string]int64{"www/a.log": 20, "www/b.log": 5},
			wantRep:   recoveryReport{complete: 1, torn: 1, holes: 1},
		},
		{
			name:      "a torn frame's rest span is taken out too (rewritten, never skipped)",
			files:     []file{{"www/a.log", 20}, {"www/b.log", 5}},
			committed: map[uint64]StreamState{1: ss(0, 250)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(300, 400)}},
				{Segment: "www/b.log", Before: 5, After: 15, Streams: map[uint64]FrameSpans{1: {Spans: []Span{{250, 260}}, Rest: &Span{270, 450}}}},
			},
			want:      map[uint64]StreamState{1: ss(0, 250)},
			wantSizes: map[string]int64{"www/a.log": 20, "www/b.log": 5},
			wantRep:   recoveryReport{complete: 1, torn: 1, holes: 1},
		},
		{
			name:      "earlier lines complete, later torn: resend rewrites them",
			files:     []file{{"www/a.log", 20}, {"www/b.log", 12}},
			committed: map[uint64]StreamState{1: ss(0, 200)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(200, 300)}},
				{Segment: "www/b.log", Before: 5, After: 15, Streams: map[uint64]FrameSpans{1: fsp(300, 350)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 300)},
			wantSizes: map[string]int64{"www/a.log": 20, "www/b.log": 5},
			wantRep:   recoveryReport{complete: 1, torn: 1, cut: 1, holes: 1},
		},
		{
			name:      "new segment torn: removed",
			files:     []file{{"www/c.log", 4}},
			committed: map[uint64]StreamState{1: ss(0, 10)},
			intent: []FrameIntent{
				{Segment: "www/c.log", Before: 0, After: 15, Streams: map[uint64]FrameSpans{1: fsp(10, 90), 4: fsp(0, 8)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 10)},
			wantSizes: map[string]int64{"www/c.log": -1},
			wantRep:   recoveryReport{torn: 1, cut: 1, holes: 1},
		},
		{
			name:      "new segment never created",
			committed: map[uint64]StreamState{1: ss(0, 10)},
			intent: []FrameIntent{
				{Segment: "www/c.log", Before: 0, After: 15, Streams: map[uint64]FrameSpans{1: fsp(10, 90)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 10)},
			wantSizes: map[string]int64{"www/c.log": -1},
			wantRep:   recoveryReport{missing: 1, holes: 1},
			wantLog:   "never created",
		},
		{
			name:      "existing segment missing: its spans are holes",
			files:     []file{{"www/a.log", 20}},
			committed: map[uint64]StreamState{1: ss(0, 10)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(40, 50)}},
				{Segment: "www/gone.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(10, 40)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 10, 40, 50)},
			wantSizes: map[string]int64{"www/a.log": 20, "www/gone.log": -1},
			wantRep:   recoveryReport{complete: 1, missing: 1, holes: 1},
			wantLog:   "missing",
		},
		{
			name:      "longer than after: complete, left alone",
			files:     []file{{"www/a.log", 25}},
			committed: map[uint64]StreamState{},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(0, 50)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 50)},
			wantSizes: map[string]int64{"www/a.log": 25},
			wantRep:   recoveryReport{complete: 1},
			wantLog:   "longer",
		},
		{
			name:      "shorter than before: left alone, not advanced",
			files:     []file{{"www/a.log", 3}},
			committed: map[uint64]StreamState{1: ss(0, 5)},
			intent: []FrameIntent{
				{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(5, 50)}},
			},
			want:      map[uint64]StreamState{1: ss(0, 5)},
			wantSizes: map[string]int64{"www/a.log": 3},
			wantRep:   recoveryReport{torn: 1, holes: 1},
			wantLog:   "shorter",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, root := testsupport.TempRoot(t)
			for _, f := range tc.files {
				writeFile(t, dir, f.name, f.size)
			}
			var sink testsupport.Buffer
			st := State{Streams: tc.committed, Logs: map[string]LogState{}, Intent: tc.intent}
			got, rep, err := recoverIntent(segment.RootFS(root), st, testLogger(t, &sink))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(State{Streams: tc.want, Logs: map[string]LogState{}}, got); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			if !cmp.Equal(rep, tc.wantRep, cmp.AllowUnexported(recoveryReport{})) {
				t.Errorf("report %+v, want %+v", rep, tc.wantRep)
			}
			for name, size := range tc.wantSizes {
				if got := fileSize(t, dir, name); got != size {
					t.Errorf("%s: size %d, want %d", name, got, size)
				}
			}
			if !strings.Contains(sink.String(), tc.wantLog) {
				t.Errorf("log does not say %q:\n%s", tc.wantLog, sink.String())
			}
		})
	}
}

// TestRecoverIntentAtStart: a collector starting on a state file with an intent
// recovers before anything else: torn frame cut off, its lines a hole again (no gap),
// recovery counted, and a clean state saved.
func TestRecoverIntentAtStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.StateDir = t.TempDir()
	cfg.Logs = []LogConfig{{Group: "www", Template: "{group}/{vhost}.log"}}
	writeFile(t, cfg.Dir, "www/a.log", 20)
	writeFile(t, cfg.Dir, "www/b.log", 9)
	statePath := filepath.Join(cfg.StateDir, StateFileName)
	err := SaveState(statePath, State{
		Streams: map[uint64]StreamState{1: ss(0, 200)},
		Intent: []FrameIntent{
			{Segment: "www/a.log", Before: 10, After: 20, Streams: map[uint64]FrameSpans{1: fsp(300, 400)}},
			{Segment: "www/b.log", Before: 5, After: 15, Streams: map[uint64]FrameSpans{1: fsp(200, 300)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCollector(t, cfg, nil)
	w, err := c.newWriterSet()
	if err != nil {
		t.Fatal(err)
	}
	defer w.release()
	if s := w.seq.Stats(); s.Gaps != 0 || w.seq.Holes() != 1 {
		t.Errorf("gaps %d, holes %d; want 0, 1", s.Gaps, w.seq.Holes())
	}
	if n, m := counter(c.m.RecoveredFrames), counter(c.m.TornFrames); n != 1 || m != 1 {
		t.Errorf("recovered %d, torn %d frames; want 1, 1", n, m)
	}
	want := ss(0, 200, 300, 400)
	if diff := cmp.Diff(want, w.committed[1]); diff != "" {
		t.Errorf("committed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, w.seq.Snapshot()[1]); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	if got := fileSize(t, cfg.Dir, "www/b.log"); got != 5 {
		t.Errorf("torn segment is %d bytes, want 5", got)
	}
	st, err := LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Intent) != 0 || !cmp.Equal(st.Streams[1], want) {
		t.Errorf("state after recovery: %+v", st)
	}
}

// crashFS tears the first frame written to a segment whose name contains match once
// armed: half of it is written, then WriteAt blocks until release is closed (and then
// fails). While it blocks, the files on disk are what a kill -9 at that point leaves.
type crashFS struct {
	segment.FS
	mu      sync.Mutex
	match   string
	armed   bool
	crashed chan struct{}
	release chan struct{}
}

func newCrashFS(t *testing.T, c *Collector, match string) *crashFS {
	t.Helper()
	if err := os.MkdirAll(c.cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(c.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f := &crashFS{FS: segment.RootFS(root), match: match, crashed: make(chan struct{}), release: make(chan struct{})}
	c.fs = f
	return f
}

func (f *crashFS) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

func (f *crashFS) Create(name string) (segment.File, error) {
	sf, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: sf, fs: f, name: name}, nil
}

type crashFile struct {
	segment.File
	fs   *crashFS
	name string
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	hit := f.fs.armed && strings.Contains(f.name, f.fs.match)
	if hit {
		f.fs.armed = false
	}
	f.fs.mu.Unlock()
	if !hit {
		return f.File.WriteAt(p, off)
	}
	n, _ := f.File.WriteAt(p[:len(p)/2], off)
	close(f.fs.crashed)
	<-f.fs.release
	return n, syscall.EIO
}

// crashImage copies the output and state directories of cfg (as a crash left them)
// and returns cfg pointing at the copies.
func crashImage(t *testing.T, cfg Config) Config {
	t.Helper()
	img := cfg
	img.Dir, img.StateDir = filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(img.Dir, os.DirFS(cfg.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(img.StateDir, os.DirFS(cfg.StateDir)); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestCollectorCrashMidFrame "kills" a collector while a frame is half written (the
// intent saved, the frame torn), restarts a collector on that disk image and resends
// the whole stream: every line is written exactly once, no segment is torn.
func TestCollectorCrashMidFrame(t *testing.T) {
	for _, c := range []segment.Compression{segment.CompressZstd, segment.CompressGzip, segment.CompressNone} {
		t.Run(string(c), func(t *testing.T) {
			addr := testsupport.StartDaemon(t).Addr
			cfg := testConfig(t, addr)
			cfg.StateDir = t.TempDir()
			cfg.Compression = c
			cfg.Logs[0].Template = "{group}.log"
			lines := testLines("K", 0, 3000)
			batches := splitLines(lines, 40)

			c1 := newTestCollector(t, cfg, nil)
			cfs := newCrashFS(t, c1.Collector, "www")
			c1.start(t)
			s := newSender(t, addr, 11)
			for _, p := range batches[:20] {
				s.batch("www", p)
			}
			testsupport.Eventually(t, func() bool { return fileSize(t, cfg.Dir, "www.log") > 0 }, "first frames")
			cfs.arm()
			for _, p := range batches[20:40] {
				s.batch("www", p)
			}
			<-cfs.crashed
			img := crashImage(t, cfg)
			close(cfs.release)
			c1.stop(t)

			st, err := LoadState(filepath.Join(img.StateDir, StateFileName))
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Intent) != 1 {
				t.Fatalf("state at the crash: %+v, want one frame in flight", st)
			}
			if _, err := catFile(t, filepath.Join(img.Dir, "www.log")); !errors.Is(err, segment.ErrTornFrame) && c != segment.CompressNone {
				t.Fatalf("segment at the crash: %v, want a torn frame", err)
			}

			c2 := newTestCollector(t, img, nil).start(t)
			s2 := newSender(t, addr, 11)
			for _, p := range splitLines(lines, 33) {
				s2.batch("www", p)
			}
			c2.waitMessages(t, len(splitLines(lines, 33)))
			c2.stop(t)
			if got := readLog(t, img.Dir, "www"); !bytes.Equal(got, lines) {
				t.Fatalf("after the crash and a full resend: %d bytes, want %d (duplicates or loss)", len(got), len(lines))
			}
			if n := counter(c2.m.TornFrames); n != 1 {
				t.Errorf("torn frames %d, want 1", n)
			}
			if g := c2.seqMetrics(); counter(g.Gaps) != 0 {
				t.Errorf("gaps %d, want 0", counter(g.Gaps))
			}
		})
	}
}

// TestCollectorCrashVhostSplit crashes while one vhost's frame is half written; the
// frames of one flush are written in the delivery order of their first lines, so the
// other vhost's frame is complete or not depending on which vhost is hit. The lines of
// the torn frame are holes again, even below later lines kept in the other vhost's
// frame: after the restart and a full resend every line is written exactly once and no
// gap is counted.
func TestCollectorCrashVhostSplit(t *testing.T) {
	for _, target := range []string{"a.example", "b.example"} {
		t.Run(target, func(t *testing.T) {
			addr := testsupport.StartDaemon(t).Addr
			cfg := testConfig(t, addr)
			cfg.StateDir = t.TempDir()
			cfg.Logs[0].Template = "{group}/{vhost}.log.zst"
			var lines []byte
			for i := range 4000 {
				vh := "a.example"
				if i%3 == 0 {
					vh = "b.example"
				}
				lines = fmt.Appendf(lines, "%s:80 10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /k/%06d HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n", vh, i)
			}
			batches := splitLines(lines, 50)

			c1 := newTestCollector(t, cfg, nil)
			cfs := newCrashFS(t, c1.Collector, target)
			c1.start(t)
			s := newSender(t, addr, 12)
			for _, p := range batches[:10] {
				s.batch("www", p)
			}
			testsupport.Eventually(t, func() bool { return fileSize(t, cfg.Dir, "www/"+target+".log.zst") > 0 }, "first frames")
			cfs.arm()
			for _, p := range batches[10:30] {
				s.batch("www", p)
			}
			<-cfs.crashed
			img := crashImage(t, cfg)
			close(cfs.release)
			c1.stop(t)

			c2 := newTestCollector(t, img, nil).start(t)
			s2 := newSender(t, addr, 12)
			for _, p := range batches {
				s2.batch("www", p)
			}
			c2.waitMessages(t, len(batches))
			c2.stop(t)

			seen := make(map[string]bool)
			written := 0
			for _, vh := range []string{"a.example", "b.example"} {
				out := readLog(t, img.Dir, "www/"+vh)
				written += len(out)
				for l := range strings.Lines(string(out)) {
					if seen[l] {
						t.Fatalf("line written twice: %q", l)
					}
					seen[l] = true
				}
			}
			missing := len(lines) - written
			gaps, gapBytes := counter(c2.seqMetrics().Gaps), counter(c2.seqMetrics().GapBytes)
			t.Logf("%d bytes missing, %d gaps of %d bytes counted", missing, gaps, gapBytes)
			if missing != 0 || gaps != 0 {
				t.Errorf("%d bytes missing, %d gaps of %d bytes counted; want none", missing, gaps, gapBytes)
			}
			if n := counter(c2.m.TornFrames); n < 1 {
				t.Errorf("torn frames %d, want at least 1", n)
			}
		})
	}
}

// TestCollectorStateSaveFails: no frame is written before its intent is saved. While
// the state file cannot be saved the segment does not grow and the collector reports
// itself unhealthy; once it can, every line is written, once.
func TestCollectorStateSaveFails(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 13)
	lines := testLines("F", 0, 600)
	batches := splitLines(lines, 20)
	for _, p := range batches[:10] {
		s.batch("www", p)
	}
	first := uint64(len(bytes.Join(batches[:10], nil)))
	testsupport.Eventually(t, func() bool {
		st, err := LoadState(filepath.Join(cfg.StateDir, StateFileName))
		return err == nil && st.Streams[13].End() == first && len(st.Intent) == 0
	}, "first batches written and the state clean")
	// Replace the state directory by a file: SaveState cannot create its temp file.
	moved := cfg.StateDir + ".moved"
	if err := os.Rename(cfg.StateDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.StateDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, cfg.Dir, "www.log.zst")
	errs := counter(c.m.StateErrors)
	for _, p := range batches[10:20] {
		s.batch("www", p)
	}
	testsupport.Eventually(t, func() bool { return counter(c.m.StateErrors) >= errs+2 }, "state save errors")
	if c.Healthy() == nil {
		t.Error("Healthy = nil while the state file cannot be saved")
	}
	if got := fileSize(t, cfg.Dir, "www.log.zst"); got != size {
		t.Errorf("segment grew from %d to %d bytes without a saved intent", size, got)
	}
	if err := os.Remove(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	for _, p := range batches[20:] {
		s.batch("www", p)
	}
	c.waitMessages(t, len(batches))
	testsupport.Eventually(t, func() bool { return c.Healthy() == nil }, "healthy again")
	c.stop(t)
	if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, lines) {
		t.Fatalf("%d bytes written, want %d", len(got), len(lines))
	}
	st, err := LoadState(filepath.Join(cfg.StateDir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Streams[13].End() != uint64(len(lines)) || len(st.Intent) != 0 {
		t.Errorf("final state %+v", st)
	}
}

// TestRecoverIntentRenamed: logrotate renamed the segment of a frame in flight (into
// the same directory or a subdirectory, olddir), perhaps creating a new file under the
// name, before the crash. Recovery finds the segment by its identity: a complete frame
// counts as written (a resend is dropped, not written twice), a torn one is cut off
// the renamed file; the file now under the name is left as it is. Without the
// identity (an older state file), or when no file has it, the file under the name is
// the segment (a new, shorter one is left alone), and without one the frame is missing.
func TestRecoverIntentRenamed(t *testing.T) {
	a, b := string(testLines("R", 0, 30)), string(testLines("R", 30, 20))
	const stream = 7
	for _, tc := range []struct {
		name     string
		to       string // where the segment is moved ("" deleted)
		create   bool   // a new empty file is created under the name
		torn     bool   // the frame is half written
		noID     bool   // the intent does not know the identity (version 4)
		complete bool
		missing  bool
	}{
		{name: "renamed", to: "www.log.1", complete: true},
		{name: "renamed and created", to: "www.log.1", create: true, complete: true},
		{name: "renamed to olddir", to: "old/www.log.1", create: true, complete: true},
		{name: "renamed torn", to: "www.log.1", create: true, torn: true},
		{name: "deleted", missing: true},
		{name: "deleted and created", create: true, torn: true},
		{name: "renamed, identity unknown", to: "www.log.1", noID: true, missing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, root, pf, frame := preparedSegment(t, segment.CompressZstd, a, b)
			if !pf.ID.Known() {
				t.Skip("no file identities on this system")
			}
			path := filepath.Join(dir, pf.Segment)
			part := frame
			if tc.torn {
				part = frame[:len(frame)/2]
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(part, pf.Before); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if tc.to != "" {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, tc.to)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path, filepath.Join(dir, tc.to)); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if tc.create {
				writeFile(t, dir, pf.Segment, 0)
			}
			id := pf.ID
			if tc.noID {
				id = segment.FileID{}
			}
			st := State{
				Streams: map[uint64]StreamState{stream: ss(0, len(a))},
				Logs:    map[string]LogState{"www": {Segment: pf.Segment}},
				Intent: []FrameIntent{{Segment: pf.Segment, ID: id, Before: pf.Before, After: pf.After,
					Streams: map[uint64]FrameSpans{stream: fsp(len(a), len(a)+len(b))}}},
			}
			got, rep, err := recoverIntent(segment.RootFS(root), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantEnd := len(a)
			if tc.complete {
				wantEnd = len(a) + len(b)
			}
			if diff := cmp.Diff(ss(0, wantEnd), got.Streams[stream]); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
			if tc.complete != (rep.complete == 1) || tc.missing != (rep.missing == 1) || tc.torn != (rep.torn == 1) {
				t.Errorf("report %+v", rep)
			}
			if tc.to != "" && !tc.noID {
				wantOut := a
				if tc.complete {
					wantOut = a + b
				}
				out, err := catFile(t, filepath.Join(dir, tc.to))
				if err != nil || out != wantOut {
					t.Errorf("renamed segment reads %d bytes (want %d), err %v", len(out), len(wantOut), err)
				}
			}
			if tc.create && fileSize(t, dir, pf.Segment) != 0 {
				t.Errorf("the new file under the segment's name was changed: %d bytes", fileSize(t, dir, pf.Segment))
			}
			again, _, err := recoverIntent(segment.RootFS(root), st, nil)
			if err != nil || !cmp.Equal(got, again) {
				t.Errorf("second recovery: %v, %v", again, err)
			}
		})
	}
}
