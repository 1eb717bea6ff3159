package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testContent returns log-like content with binary bytes, CR, empty lines and lines
// longer than a batch (fragments).
func testContent(seed uint64, lines int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := range lines {
		switch {
		case i%997 == 500:
			// A long line: 100 KiB .. 300 KiB, several fragments.
			n := 100<<10 + rng.IntN(200<<10)
			for range n {
				b.WriteByte('a' + byte(rng.IntN(26)))
			}
		case i%101 == 7:
			for range rng.IntN(300) {
				c := byte(rng.IntN(256))
				if c == '\n' {
					c = 0
				}
				b.WriteByte(c)
			}
		case i%53 == 3:
			// empty line
		case i%59 == 4:
			b.WriteString("with CR\r")
		default:
			fmt.Fprintf(&b, "127.0.0.1 - - [line %d] \"GET /%s HTTP/1.1\" 200 %d", i, strings.Repeat("p", rng.IntN(150)), rng.IntN(99999))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSendConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{name: "default", mod: func(*Config) {}, ok: true},
		{name: "no group", mod: func(c *Config) { c.Group = "" }},
		{name: "private group", mod: func(c *Config) { c.Group = "#x#y" }},
		{name: "long group", mod: func(c *Config) { c.Group = strings.Repeat("g", 32) }},
		{name: "bad address", mod: func(c *Config) { c.Address = "nonsense" }},
		{name: "unreliable", mod: func(c *Config) { c.Service = spreadlink.Unreliable }},
		{name: "self discard", mod: func(c *Config) { c.Service = spreadlink.Agreed | spreadlink.SelfDiscard }},
		{name: "safe", mod: func(c *Config) { c.Service = spreadlink.Safe }, ok: true},
		{name: "batch too big", mod: func(c *Config) { c.BatchBytes = MaxBatchBytes + 1 }},
		{name: "batch max", mod: func(c *Config) { c.BatchBytes = MaxBatchBytes }, ok: true},
		{name: "window", mod: func(c *Config) { c.Window = 0 }},
		{name: "window bytes", mod: func(c *Config) { c.WindowBytes = 1000 }},
		{name: "ack every", mod: func(c *Config) { c.AckEvery = 0 }},
		{name: "ack timeout", mod: func(c *Config) { c.AckTimeout = 0 }},
		{name: "backoff", mod: func(c *Config) { c.BackoffMax = c.BackoffMin / 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Group = "www"
			tc.mod(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
		})
	}
}

// TestShipFileExactlyOnce ships a file with long lines and binary bytes; every line
// arrives once, byte for byte, and the checkpoint advances to the end.
func TestShipFileExactlyOnce(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(1, 20000)
	writeFile(t, path, content)
	tl := openTailer(t, s, path)

	rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)
	r.expect(content)
	rs.waitAcked(t, uint64(len(content)))
	testsupport.EventuallyErr(t, func() error {
		cp, _, err := s.Store().Load(path)
		if err != nil || cp.Offset != uint64(len(content)) || cp.FileOffset != int64(len(content)) {
			return fmt.Errorf("checkpoint %+v (%v), want offset %d", cp, err, len(content))
		}
		return nil
	})
	if err := rs.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := r.stats(); st.Duplicates != 0 || st.Gaps != 0 || st.Truncated != 0 {
		t.Errorf("sequencer stats %+v", st)
	}
	st := rs.Stats()
	if st.InFlight != 0 || st.AckedBytes != uint64(len(content)) || st.Resent != 0 {
		t.Errorf("shipper stats %+v", st)
	}
	if got := testutil.ToFloat64(rs.m.LinesAcked); got != 20000 {
		t.Errorf("acked lines metric %v, want 20000", got)
	}
	if n := testutil.CollectAndCount(rs.m.AckLatency); n != 1 {
		t.Errorf("ack latency histogram count %d", n)
	}
}

// TestShipSmallLinesMerged: lines written one by one within the batch delay travel in
// few batches.
func TestShipSmallLinesMerged(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, nil)
	tl := openTailer(t, s, path)
	sc := testSendConfig("unix:"+sock, "www")
	sc.BatchDelay = time.Second // generous: merging does not depend on timing here
	rs := startShipper(t, sc, tl)

	var want bytes.Buffer
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 200 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		f.WriteString(line)
	}
	r.expect(want.Bytes())
	if b := rs.Stats().SentBatches; b > 100 {
		t.Errorf("%d batches for 200 small lines written back to back, want merging", b)
	}
}

// TestShipRotationFullSpeed rotates by rename while a writer writes at full speed.
func TestShipRotationFullSpeed(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writeFile(t, path, nil)
	tl := openTailer(t, s, path)
	rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)

	var want bytes.Buffer
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	prevEnd, rotations := 0, 0
	for i := range 200000 {
		line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("z", i%300))
		want.WriteString(line)
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		if i%40000 == 39999 {
			// The tailer follows one rotated generation at a time: let the pipeline reach
			// the current generation (a byte past the previous rotation) before rotating
			// again (see the doc of package source).
			testsupport.EventuallyErr(t, func() error {
				w.Tick()
				if n := r.len(); n <= prevEnd {
					return fmt.Errorf("receiver at %d, previous rotation at %d", n, prevEnd)
				}
				return nil
			})
			prevEnd = want.Len()
			f.Close()
			rotations++
			if err := os.Rename(path, fmt.Sprintf("%s.%d", path, rotations)); err != nil {
				t.Fatal(err)
			}
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { // owned: ends with the test (done)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond): // backstop poll ticks, not synchronisation
				w.Tick()
			}
		}
	}()
	r.expect(want.Bytes())
	rs.waitAcked(t, uint64(want.Len()))
	if got := testutil.ToFloat64(s.Metrics().FilesRotated); got < 4 {
		t.Errorf("rotations metric %v, want at least 4", got)
	}
}

// TestShipManySourcesFair ships many files at once through a small window: all arrive,
// and every source progresses while the others are busy.
func TestShipManySourcesFair(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	const nsrc = 12
	var srcs []source.Source
	var total int
	want := map[uint64][]byte{}
	for i := range nsrc {
		path := filepath.Join(dir, fmt.Sprintf("site%d.log", i))
		var b bytes.Buffer
		for j := range 20000 {
			fmt.Fprintf(&b, "site %d line %d %s\n", i, j, strings.Repeat("x", j%200))
		}
		writeFile(t, path, b.Bytes())
		total += b.Len()
		tl := openTailer(t, s, path)
		want[tl.Stream()] = b.Bytes()
		srcs = append(srcs, tl)
	}
	sc := testSendConfig("unix:"+sock, "www")
	sc.Window = 4
	sc.MaxBatchRaw = sc.BatchBytes // one read per batch: a third of the bytes is many batches
	rs := startShipper(t, sc, srcs...)

	// When a third of everything has arrived, every source has sent something.
	r.waitLen(total / 3)
	got := r.streams()
	for id := range want {
		if got[id] == 0 {
			t.Errorf("stream %x sent nothing while the others sent %d bytes", id, r.len())
		}
	}
	r.waitLen(total)
	rs.waitAcked(t, uint64(total))
	if st := r.stats(); st.Duplicates != 0 || st.Lines != nsrc*20000 {
		t.Errorf("sequencer stats %+v", st)
	}
	// Lines of one stream keep their order: filter the merged output per site.
	out := r.bytes()
	per := map[string]*bytes.Buffer{}
	for line := range bytes.Lines(out) {
		site := string(bytes.Fields(line)[1])
		if per[site] == nil {
			per[site] = &bytes.Buffer{}
		}
		per[site].Write(line)
	}
	for _, b := range want {
		site := string(bytes.Fields(b)[1])
		if !bytes.Equal(per[site].Bytes(), b) {
			t.Errorf("site %s: lines differ", site)
		}
	}
}

// TestShipRestartResumes stops the shipper mid-file and starts a new one on the same
// state: nothing is lost, and after de-duplication nothing is doubled.
func TestShipRestartResumes(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(2, 60000)
	writeFile(t, path, content[:len(content)/2])

	for round := range 3 {
		s, err := source.New(cfg, testsupport.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := s.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)
		switch round {
		case 0:
			rs.waitAcked(t, 1)
		case 1:
			// The file grows while down and while running.
			appendFile(t, path, string(content[len(content)/2:]))
			rs.waitAcked(t, 1)
		case 2:
			r.expect(content)
			testsupport.EventuallyErr(t, func() error {
				if cp, _, err := s.Store().Load(path); err != nil || cp.Offset != uint64(len(content)) {
					return fmt.Errorf("checkpoint %+v %v", cp, err)
				}
				return nil
			})
		}
		if err := rs.stop(); err != nil {
			t.Fatalf("round %d: Run: %v", round, err)
		}
		// Everything acknowledged is in the checkpoint.
		cp, _, err := s.Store().Load(path)
		if err != nil {
			t.Fatal(err)
		}
		// What was acknowledged was delivered (the receiver may still be reading it).
		testsupport.EventuallyErr(t, func() error {
			if e := r.end(cp.Stream); e < cp.Offset {
				return fmt.Errorf("round %d: checkpoint %d beyond what arrived (%d)", round, cp.Offset, e)
			}
			return nil
		})
		tl.Close()
		s.Close()
	}
	r.expect(content)
	if st := r.stats(); st.Gaps != 0 {
		t.Errorf("sequencer stats %+v", st)
	}
}

// TestShipDaemonRestart shuts the daemon down mid-stream and starts a new one on the same
// socket: the shipper reconnects, resends, and everything arrives once.
func TestShipDaemonRestart(t *testing.T) {
	sock := sockPath(t)
	d := startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, nil)
	tl := openTailer(t, s, path)
	// The shipper may reconnect to the new daemon before the receiver has joined it:
	// what it sends meanwhile is not acknowledged until the receiver (a collector) is in
	// the presence group, and then sent again.
	rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)

	writer := startAppender(t, path, 0, func(i int) []byte {
		return fmt.Appendf(nil, "line %d %s\n", i, strings.Repeat("r", i%100))
	})
	for restart := range 3 {
		rs.waitAcked(t, rs.Stats().AckedBytes+1<<20)
		// Acknowledged means ordered, and a daemon that stops flushes what it queued
		// for its sessions for only a second (its goodbye): let the receiver catch up
		// with what was acknowledged so far (a slow -race run lags), so that the goodbye
		// delivers the rest. Lines keep being written and sent meanwhile.
		acked := int(rs.Stats().AckedBytes)
		testsupport.EventuallyErr(t, func() error {
			if n := r.len(); n < acked {
				return fmt.Errorf("receiver at %d, acknowledged %d", n, acked)
			}
			return nil
		})
		d.Stop(t)
		testsupport.EventuallyErr(t, func() error {
			if rs.Stats().Connected {
				return errors.New("shipper still connected")
			}
			return nil
		})
		d = startTestDaemon(t, sock)
		testsupport.EventuallyErr(t, func() error {
			if st := rs.Stats(); st.Reconnects < uint64(restart+1) {
				return fmt.Errorf("reconnects %d", st.Reconnects)
			}
			return nil
		})
	}
	written := writer.stop()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // owned: ends with the test
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // backstop poll ticks
				w.Tick()
			}
		}
	}()
	r.expect(written)
	st := rs.Stats()
	t.Logf("shipper %+v; receiver %+v", st, r.stats())
	if st.Reconnects < 3 {
		t.Errorf("reconnects %d, want 3", st.Reconnects)
	}
	if got := testutil.ToFloat64(rs.m.Resends); got != float64(st.Resent) {
		t.Errorf("resends metric %v, stats %d", got, st.Resent)
	}
}

// TestShipAckTimeout: a daemon that stops delivering (the connection stays open) is
// detected by the ack timeout; the shipper reconnects and resends.
func TestShipAckTimeout(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, nil)
	tl := openTailer(t, s, path)
	fd := &freezeDialer{}
	sc := testSendConfig("unix:"+sock, "www")
	sc.Dialer = fd
	sc.AckTimeout = 300 * time.Millisecond
	rs := startShipper(t, sc, tl)

	appendFile(t, path, "one\n")
	r.expect([]byte("one\n"))
	rs.waitAcked(t, 4)
	fd.frozen.Store(true)
	appendFile(t, path, "two\n")
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); st.AckedBytes < 8 || st.Reconnects < 1 || st.Resent < 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	r.expect([]byte("one\ntwo\n"))
	if got := testutil.ToFloat64(rs.m.AckTimeouts); got < 1 {
		t.Errorf("ack timeouts %v", got)
	}
	if st := r.stats(); st.Duplicates != 0 && st.Duplicates != 1 {
		t.Errorf("duplicates %d", st.Duplicates)
	}
}

// TestShipDaemonDownAtStart: with no daemon the shipper keeps trying; once one appears
// everything arrives.
func TestShipDaemonDownAtStart(t *testing.T) {
	sock := sockPath(t)
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(3, 3000)
	writeFile(t, path, content)
	tl := openTailer(t, s, path)
	rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)
	testsupport.EventuallyErr(t, func() error {
		if got := testutil.ToFloat64(rs.m.ConnectFailures); got < 3 {
			return fmt.Errorf("connect failures %v", got)
		}
		return nil
	})
	if st := rs.Stats(); st.SentBatches != 0 || st.Connected {
		t.Fatalf("stats without a daemon %+v", st)
	}
	// The daemon appears; the shipper connects, finds no collector and waits for the
	// receiver (what is ordered while the group is empty reaches nobody).
	startTestDaemon(t, sock)
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); !st.Connected || !st.WaitingForCollector {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	r := startReceiver(t, "unix:"+sock, "www")
	r.expect(content)
	rs.waitAcked(t, uint64(len(content)))
	if st := r.stats(); st.Gaps != 0 {
		t.Errorf("sequencer stats %+v", st)
	}
}

// TestShipStdinEOF: a finite source (the stdin journal) ends Run with nil only after
// every line was acknowledged.
func TestShipStdinEOF(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	content := testContent(4, 5000)
	pr, pw := io.Pipe()
	j, err := s.OpenJournal("test", pr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	go func() { // owned: ends when the content is written (the journal reads it all)
		pw.Write(content)
		pw.Close()
	}()
	sh, err := New(testSendConfig("unix:"+sock, "www"), testsupport.Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	if err := sh.Run(ctx, []source.Source{j}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := sh.Stats(); st.AckedBytes != uint64(len(content)) || st.InFlight != 0 {
		t.Fatalf("Run returned with stats %+v, want %d bytes acknowledged", st, len(content))
	}
	cp, _, err := s.Store().Load("stdin:test")
	if err != nil || cp.Offset != uint64(len(content)) {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
	r.expect(content)
}

// TestShipLegacy sends one raw message per line; a line longer than a raw message is
// truncated and counted.
func TestShipLegacy(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	huge := strings.Repeat("h", 300<<10)
	var want, in bytes.Buffer
	for i := range 1000 {
		line := fmt.Sprintf("legacy line %d\n", i)
		in.WriteString(line)
		want.WriteString(line)
		if i == 500 {
			in.WriteString(huge + "\n")
			want.WriteString(huge[:spreadlink.MaxBody-1] + "\n")
		}
	}
	writeFile(t, path, in.Bytes())
	tl := openTailer(t, s, path)
	sc := testSendConfig("unix:"+sock, "www")
	sc.Legacy = true
	rs := startShipper(t, sc, tl)
	r.expect(want.Bytes())
	rs.waitAcked(t, uint64(in.Len()))
	r.mu.Lock()
	raw, batches := r.raw, r.batches
	r.mu.Unlock()
	if raw != 1001 || batches != 0 {
		t.Errorf("%d raw messages and %d batches, want 1001 raw", raw, batches)
	}
	if got := testutil.ToFloat64(rs.m.LegacyTruncated); got != 1 {
		t.Errorf("legacy truncated %v, want 1", got)
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestShipSourceError: a source failing for good ends Run with its error.
func TestShipSourceError(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	sh, err := New(testSendConfig("unix:"+sock, "www"), testsupport.Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = sh.Run(context.Background(), []source.Source{&failingSource{err: boom}})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if err := sh.Run(context.Background(), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("Run without sources = %v", err)
	}
}

type failingSource struct{ err error }

func (f *failingSource) Next(context.Context, int) (source.Chunk, error) {
	return source.Chunk{}, f.err
}
func (f *failingSource) Ack(source.Checkpoint) error { return nil }
func (f *failingSource) Close() error                { return nil }

// TestShipCancelDrains: cancelling Run stops reading and returns after the outstanding
// acknowledgements; the checkpoint holds exactly what was acknowledged.
func TestShipCancelDrains(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(5, 100000)
	writeFile(t, path, content)
	tl := openTailer(t, s, path)
	rs := startShipper(t, testSendConfig("unix:"+sock, "www"), tl)
	rs.waitAcked(t, 1<<20)
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	st := rs.Stats()
	if st.InFlight != 0 || st.AckedBytes != st.SentBytes {
		t.Errorf("after cancel: %+v", st)
	}
	cp, _, err := s.Store().Load(path)
	if err != nil || cp.Offset != st.AckedBytes {
		t.Errorf("checkpoint %+v (%v), acked %d", cp, err, st.AckedBytes)
	}
	testsupport.EventuallyErr(t, func() error {
		if e := r.end(cp.Stream); e < cp.Offset {
			return fmt.Errorf("checkpoint %d beyond what arrived (%d)", cp.Offset, e)
		}
		return nil
	})
	if out := r.bytes(); !bytes.Equal(out, content[:len(out)]) {
		t.Error("received bytes differ")
	}
}

// TestShipBackpressure: the window bounds what is in flight when acknowledgements stop
// (a frozen connection with a long ack timeout).
func TestShipBackpressure(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, testContent(6, 100000))
	tl := openTailer(t, s, path)
	fd := &freezeDialer{}
	fd.frozen.Store(false)
	sc := testSendConfig("unix:"+sock, "www")
	sc.Dialer = fd
	sc.Window = 16
	sc.AckTimeout = time.Hour
	sc.DrainTimeout = 100 * time.Millisecond
	rs := startShipper(t, sc, tl)
	rs.waitAcked(t, 1)
	fd.frozen.Store(true)
	testsupport.EventuallyErr(t, func() error {
		if st := rs.Stats(); st.InFlight < 16 {
			return fmt.Errorf("in flight %d", st.InFlight)
		}
		return nil
	})
	// No acknowledgement can come any more (the connection is frozen, the ack timeout is
	// an hour), so the window stays full until the stop: by then the pumps must not have
	// pushed a single batch more.
	sent := rs.Stats().SentBatches
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	if st := rs.Stats(); st.SentBatches != sent {
		t.Fatalf("window overrun: %d batches sent with the window full at %d (%+v)", st.SentBatches, sent, st)
	}
	if got := testutil.ToFloat64(rs.m.WindowFull); got <= 0 {
		t.Errorf("window full seconds %v", got)
	}
}
