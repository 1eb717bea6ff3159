package collector

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// zbatchAt sends body as a batch v2 at logical offset off (one zstd frame, as a shipper
// compresses it) and returns the frame.
func (s *sender) zbatchAt(group string, off uint64, body []byte) []byte {
	s.t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		s.t.Fatal(err)
	}
	defer enc.Close()
	frame := enc.EncodeAll(body, nil)
	h := envelope.BatchHeader{Stream: s.stream, Offset: off, Lines: uint32(bytes.Count(body, []byte{'\n'})), Host: s.host}
	if err := s.conn.Multicast(spreadlink.Agreed, group, envelope.MessTypeBatch, envelope.AppendZstdBatch(nil, h, body, frame)); err != nil {
		s.t.Fatal(err)
	}
	return frame
}

// zbatch sends body as the next batch v2 of the stream.
func (s *sender) zbatch(group string, body []byte) []byte {
	s.t.Helper()
	f := s.zbatchAt(group, s.next, body)
	s.next += uint64(len(body))
	return f
}

// verbatimFrames returns the collector's count of frames written as received.
func (tc *testCollector) verbatimFrames() int { return counter(tc.segm.VerbatimFrames) }

// TestCollectorVerbatimIdentical: batch v2 frames that are wholly new go into the
// segment as they were sent; two collectors hearing the same messages write
// byte-identical segment files, which zstd -d and Cat read back; a resend of what
// was written (cut differently) is dropped.
func TestCollectorVerbatimIdentical(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	var cs []*testCollector
	for range 2 {
		cfg := testConfig(t, addr)
		cfg.FlushBytes = 256 << 10
		cs = append(cs, newTestCollector(t, cfg, nil).start(t))
	}
	a, b := newSender(t, addr, 0xa), newSender(t, addr, 0xb)
	linesA, linesB := testLines("A", 0, 8000), testLines("B", 0, 6000)
	ba, bb := splitLines(linesA, 400), splitLines(linesB, 1500) // ~40 KiB and ~150 KiB batches
	var frames [][]byte
	sent := 0
	for i := range max(len(ba), len(bb)) {
		if i < len(ba) {
			frames = append(frames, a.zbatch("www", ba[i]))
			sent++
		}
		if i < len(bb) {
			frames = append(frames, b.zbatch("www", bb[i]))
			sent++
		}
	}
	a2 := newSender(t, addr, 0xa)
	for _, p := range splitLines(linesA, 999) {
		a2.zbatch("www", p) // all had: duplicates
		sent++
	}
	for _, c := range cs {
		c.waitMessages(t, sent)
		c.stop(t)
		if n := c.verbatimFrames(); n != len(frames) {
			t.Errorf("verbatim frames = %d, want %d", n, len(frames))
		}
	}
	f0, f1 := segmentFiles(t, cs[0].cfg.Dir), segmentFiles(t, cs[1].cfg.Dir)
	if len(f0) != 1 || len(f1) != 1 || f0[0] != f1[0] {
		t.Fatalf("segments %v and %v, want one each, same name", f0, f1)
	}
	d0, err := os.ReadFile(filepath.Join(cs[0].cfg.Dir, f0[0]))
	if err != nil {
		t.Fatal(err)
	}
	d1, err := os.ReadFile(filepath.Join(cs[1].cfg.Dir, f1[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d0, d1) {
		t.Fatalf("segment files differ: %d and %d bytes", len(d0), len(d1))
	}
	// The segment is the frames as sent, in delivery order (two senders: any
	// interleaving), nothing else.
	total := 0
	for i, f := range frames {
		total += len(f)
		if !bytes.Contains(d0, f) {
			t.Errorf("frame %d is not in the segment as it was sent", i)
		}
	}
	if total != len(d0) {
		t.Errorf("segment has %d bytes, the frames sent %d", len(d0), total)
	}
	out := readLog(t, cs[0].cfg.Dir, "www")
	var gotA, gotB []byte
	for l := range bytes.Lines(out) {
		if bytes.HasPrefix(l, []byte("A ")) {
			gotA = append(gotA, l...)
		} else {
			gotB = append(gotB, l...)
		}
	}
	if !bytes.Equal(gotA, linesA) || !bytes.Equal(gotB, linesB) {
		t.Fatalf("per-stream lines differ from what was sent (A %d/%d bytes, B %d/%d)", len(gotA), len(linesA), len(gotB), len(linesB))
	}
	if zstdBin, err := exec.LookPath("zstd"); err == nil {
		dec, err := exec.Command(zstdBin, "-d", "-c", filepath.Join(cs[0].cfg.Dir, f0[0])).Output()
		if err != nil || !bytes.Equal(dec, out) {
			t.Errorf("zstd -d: %v, %d bytes, want %d", err, len(dec), len(out))
		}
	}
	if d := counter(cs[0].seqMetrics().DuplicateLines); d != 8000 {
		t.Errorf("duplicate lines = %d, want 8000", d)
	}
}

// TestCollectorVerbatimNotTaken: a batch v2 is decoded and its new lines encoded as
// usual when the log needs per-line work or the batch is not wholly new: a resend
// that overlaps what was written, a small batch, gzip segments, a {vhost} log, a
// pending fragment in its stream.
func TestCollectorVerbatimNotTaken(t *testing.T) {
	lines := testLines("L", 0, 2000) // ~200 KB
	parts := splitLines(lines, 500)  // ~50 KiB each
	tests := []struct {
		name     string
		edit     func(*Config)
		send     func(s *sender)
		want     []byte
		verbatim int
	}{
		{
			name: "overlap with what was written",
			send: func(s *sender) {
				s.zbatch("www", parts[0])
				// From the middle of part 0 to the end of part 1: the new half is written.
				mid := len(splitLines(parts[0], 250)[0])
				s.zbatchAt("www", uint64(mid), lines[mid:len(parts[0])+len(parts[1])])
			},
			want:     lines[:len(parts[0])+len(parts[1])],
			verbatim: 1,
		},
		{
			name: "small batches",
			send: func(s *sender) {
				for _, p := range splitLines(lines, 100) { // ~10 KiB
					s.zbatch("www", p)
				}
			},
			want: lines,
		},
		{
			name: "gzip segments",
			edit: func(c *Config) { c.Compression = segment.CompressGzip; c.Logs[0].Template = "{group}.log.gz" },
			send: func(s *sender) {
				for _, p := range parts {
					s.zbatch("www", p)
				}
			},
			want: lines,
		},
		{
			name: "vhost log",
			edit: func(c *Config) { c.Logs[0].Template = "{group}-{vhost}.log.zst" },
			send: func(s *sender) {
				for _, p := range parts {
					s.zbatch("www", p)
				}
			},
			want: lines, // testLines start with the tag: one vhost log, "L"
		},
		{
			name: "pending fragment",
			send: func(s *sender) {
				s.zbatch("www", parts[0])
				frag := envelope.BatchHeader{Flags: envelope.FlagFragment | envelope.FlagFirst, Stream: s.stream, Offset: s.next}
				if err := s.conn.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, envelope.AppendBatch(nil, frag, []byte("half a line"))); err != nil {
					s.t.Fatal(err)
				}
				// The line is never finished: the next batch drops it (counted) and is
				// decoded, not appended as it is.
				s.zbatchAt("www", s.next+11, parts[1])
			},
			want:     append(append([]byte(nil), parts[0]...), parts[1]...),
			verbatim: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := testsupport.StartDaemon(t).Addr
			cfg := testConfig(t, addr)
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			c := newTestCollector(t, cfg, nil).start(t)
			s := newSender(t, addr, 7)
			before := counter(c.m.Messages)
			tc.send(s)
			testsupport.Eventually(t, func() bool { return counter(c.m.Messages) > before }, "messages")
			testsupport.Eventually(t, func() bool {
				return counter(c.seqMetrics().Bytes) >= len(tc.want)
			}, "%d bytes through the sequencer", len(tc.want))
			c.stop(t)
			if got := readLog(t, cfg.Dir, "www"); !bytes.Equal(got, tc.want) {
				t.Fatalf("output %d bytes, want %d", len(got), len(tc.want))
			}
			if n := c.verbatimFrames(); n != tc.verbatim {
				t.Errorf("verbatim frames = %d, want %d", n, tc.verbatim)
			}
		})
	}
}

// TestCollectorVerbatimHost: a {host} log takes large batch v2 frames as they are, in
// the segment of the batch's host (one batch, one host); a log with a host prefix,
// whose every line changes, never does, and writes each line prefixed.
func TestCollectorVerbatimHost(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	cfg := testConfig(t, addr)
	cfg.Logs = []LogConfig{
		{Group: "www", Template: "{group}-{host}.log.zst"},
		{Group: "api", Template: "{group}.log.zst", HostPrefix: true},
	}
	c := newTestCollector(t, cfg, nil).start(t)
	web1, web2 := newSender(t, addr, 1), newSender(t, addr, 2)
	web1.host, web2.host = "web1", "web2"
	l1, l2 := testLines("W1", 0, 800), testLines("W2", 0, 800) // ~80 KiB each
	f1 := web1.zbatch("www", l1)
	c.waitMessages(t, 1)
	f2 := web2.zbatch("www", l2)
	c.waitMessages(t, 2)
	api := newSender(t, addr, 3)
	api.host = "web1"
	api.zbatch("api", l1)
	c.waitMessages(t, 3)
	c.stop(t)
	if n := c.verbatimFrames(); n != 2 {
		t.Errorf("verbatim frames %d, want 2 (the www batches)", n)
	}
	for name, f := range map[string][]byte{"www-web1.log.zst": f1, "www-web2.log.zst": f2} {
		b, err := os.ReadFile(filepath.Join(cfg.Dir, name))
		if err != nil || !bytes.Equal(b, f) {
			t.Errorf("%s is not the frame sent (%d bytes, %v)", name, len(b), err)
		}
	}
	var want []byte
	for _, l := range bytes.SplitAfter(l1, []byte{'\n'}) {
		if len(l) > 0 {
			want = append(append(want, "web1 "...), l...)
		}
	}
	if got := readLog(t, cfg.Dir, "api.log.zst"); !bytes.Equal(got, want) {
		t.Errorf("api.log.zst: %d bytes, want %d, each line prefixed with its host", len(got), len(want))
	}
}
