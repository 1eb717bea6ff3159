package collector

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestSequencer(t testing.TB, mod func(*SequencerConfig)) *Sequencer {
	t.Helper()
	cfg := DefaultSequencerConfig()
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSequencer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// batch builds an uncompressed whole-line batch.
func batch(stream, off uint64, body string) []byte {
	return envelope.AppendBatch(nil, envelope.BatchHeader{
		Stream: stream, Offset: off, Lines: uint32(strings.Count(body, "\n")),
	}, []byte(body))
}

// fragment builds one piece of an over-long line; span 0 means len(body).
func fragment(stream, off uint64, body string, flags envelope.BatchFlags, span uint64) []byte {
	h := envelope.BatchHeader{Stream: stream, Offset: off, Flags: envelope.FlagFragment | flags, Span: span}
	if flags&envelope.FlagLast != 0 {
		h.Lines = 1
	}
	if span != 0 {
		// AppendBatch keeps a non-zero span (truncated last piece).
		return envelope.AppendBatch(nil, h, []byte(body))
	}
	return envelope.AppendBatch(nil, h, []byte(body))
}

var testEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))

// zbatch builds a zstd-compressed whole-line batch.
func zbatch(stream, off uint64, body string) []byte {
	h := envelope.BatchHeader{
		Flags: envelope.FlagZstd, Stream: stream, Offset: off, Lines: uint32(strings.Count(body, "\n")),
		Span: uint64(len(body)), RawLen: uint32(len(body)), CRC: envelope.Checksum([]byte(body)),
	}
	return testEncoder.EncodeAll([]byte(body), envelope.AppendBatchHeader(nil, &h))
}

type msg struct {
	typ  int16
	data []byte
}

func bm(b []byte) msg   { return msg{envelope.MessTypeBatch, b} }
func rawm(s string) msg { return msg{envelope.MessTypeRaw, []byte(s)} }
func corrupt(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 0x20
	return b
}

func TestSequencer(t *testing.T) {
	const l1, l2, l3 = "one\n", "two two\n", "three three three\n" // 4, 8, 18 bytes
	long := strings.Repeat("x", 30)
	tests := []struct {
		name    string
		cfg     func(*SequencerConfig)
		restore map[uint64]StreamState
		msgs    []msg
		want    string
		errs    int // messages that must fail with ErrBadMessage
		stats   SequencerStats
	}{
		{
			name:  "new stream starts anywhere",
			msgs:  []msg{bm(batch(1, 1000, l1+l2))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "consecutive batches",
			msgs:  []msg{bm(batch(1, 0, l1)), bm(batch(1, 4, l2+l3))},
			want:  l1 + l2 + l3,
			stats: SequencerStats{Lines: 3, Bytes: 30},
		},
		{
			name:  "duplicate batch",
			msgs:  []msg{bm(batch(1, 0, l1+l2)), bm(batch(1, 0, l1+l2))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12, Duplicates: 2},
		},
		{
			name:  "resend cut differently",
			msgs:  []msg{bm(batch(1, 0, l1+l2)), bm(batch(1, 4, l2+l3))},
			want:  l1 + l2 + l3,
			stats: SequencerStats{Lines: 3, Bytes: 30, Duplicates: 1},
		},
		{
			name:  "jump leaves a hole, not a gap",
			msgs:  []msg{bm(batch(1, 0, l1)), bm(batch(1, 104, l2))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "resend fills the hole",
			msgs:  []msg{bm(batch(1, 0, l1)), bm(batch(1, 12, l3)), bm(batch(1, 0, l1+l2+l3)), bm(batch(1, 4, l2))},
			want:  l1 + l3 + l2,
			stats: SequencerStats{Lines: 3, Bytes: 30, Duplicates: 3},
		},
		{
			name:  "loss notice counts the missing part only",
			cfg:   func(c *SequencerConfig) { c.GapMarker = true },
			msgs:  []msg{bm(batch(0xab, 0, l1)), bm(batch(0xab, 104, l2)), bm(envelope.AppendLoss(nil, 0xab, 0, 110)), bm(batch(0xab, 4, l1))},
			want:  l1 + l2 + "# logspread gap stream=00000000000000ab bytes=100\n",
			stats: SequencerStats{Lines: 2, Bytes: 12, Gaps: 1, GapBytes: 100, LossGapBytes: 100, Duplicates: 1},
		},
		{
			name:  "loss notice of bytes had",
			msgs:  []msg{bm(batch(1, 0, l1+l2)), bm(envelope.AppendLoss(nil, 1, 0, 12))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "loss notice starts a new stream",
			msgs:  []msg{bm(envelope.AppendLoss(nil, 1, 0, 50)), bm(batch(1, 50, l1)), bm(batch(1, 10, l1))},
			want:  l1,
			stats: SequencerStats{Lines: 1, Bytes: 4, Gaps: 1, GapBytes: 50, LossGapBytes: 50, Duplicates: 1},
		},
		{
			// A shipper that jumped past every offset a crashed run may have used: the
			// offsets it lacks are had (no hole waits), one gap of unknown size, never
			// 4 GiB of gap bytes; a resend inside them is a duplicate.
			name:  "unused notice is a gap of unknown size, not bytes",
			cfg:   func(c *SequencerConfig) { c.GapMarker = true },
			msgs:  []msg{bm(batch(0xab, 0, l1)), bm(envelope.AppendUnused(nil, 0xab, 4, 1<<32)), bm(batch(0xab, 4+1<<32, l2)), bm(batch(0xab, 4, l3))},
			want:  l1 + "# logspread gap stream=00000000000000ab bytes=unknown\n" + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12, UnknownGaps: 1, Duplicates: 1},
		},
		{
			name:  "unused notice of bytes had",
			msgs:  []msg{bm(batch(1, 0, l1+l2)), bm(envelope.AppendUnused(nil, 1, 0, 12))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "unused notice of a stream never seen",
			msgs:  []msg{bm(envelope.AppendUnused(nil, 1, 0, 50)), bm(batch(1, 50, l1))},
			want:  l1,
			stats: SequencerStats{Lines: 1, Bytes: 4},
		},
		{
			name:  "settled notice counts the holes below its end",
			cfg:   func(c *SequencerConfig) { c.GapMarker = true },
			msgs:  []msg{bm(batch(0xab, 0, l1)), bm(batch(0xab, 104, l2)), bm(envelope.AppendSettled(nil, 0xab, 0, 150)), bm(batch(0xab, 4, l1)), bm(batch(0xab, 150, l3))},
			want:  l1 + l2 + "# logspread gap stream=00000000000000ab bytes=138\n" + l3,
			stats: SequencerStats{Lines: 3, Bytes: 30, Gaps: 1, GapBytes: 138, MissedGapBytes: 138, Duplicates: 1},
		},
		{
			name:  "settled notice of bytes had",
			msgs:  []msg{bm(batch(1, 0, l1+l2)), bm(envelope.AppendSettled(nil, 1, 0, 12))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "settled notice below the base, or of a stream never seen",
			msgs:  []msg{bm(envelope.AppendSettled(nil, 1, 0, 50)), bm(batch(1, 50, l1)), bm(envelope.AppendSettled(nil, 1, 0, 54)), bm(batch(1, 54, l2))},
			want:  l1 + l2,
			stats: SequencerStats{Lines: 2, Bytes: 12},
		},
		{
			name:  "settled notice leaves a line being reassembled",
			msgs:  []msg{bm(batch(1, 0, l1)), bm(fragment(1, 10, "abc", envelope.FlagFirst, 0)), bm(envelope.AppendSettled(nil, 1, 0, 13)), bm(fragment(1, 13, "de\n", envelope.FlagLast, 0))},
			want:  l1 + "abcde\n",
			stats: SequencerStats{Lines: 2, Bytes: 10, Gaps: 1, GapBytes: 6, MissedGapBytes: 6},
		},
		{
			name: "holes beyond the limit become gaps, lowest first",
			cfg:  func(c *SequencerConfig) { c.MaxHoles = 1; c.GapMarker = true },
			msgs: []msg{bm(batch(1, 0, l1)), bm(batch(1, 10, l1)), bm(batch(1, 20, l1)), bm(batch(1, 6, "x\n")), bm(batch(1, 14, "y\n"))},
			want: l1 + l1 + l1 + "# logspread gap stream=0000000000000001 bytes=6\n" + "y\n",
			// [0,4) [10,14) [20,24): two holes, the lowest (4..10, 6 bytes) goes; the
			// resend into it is then a duplicate, the one into the other hole is written.
			stats: SequencerStats{Lines: 4, Bytes: 14, Gaps: 1, GapBytes: 6, HoleGapBytes: 6, Duplicates: 1},
		},
		{
			name:    "restored state",
			restore: map[uint64]StreamState{1: {Written: []Span{{0, 12}}}},
			msgs:    []msg{bm(batch(1, 0, l1+l2+l3))},
			want:    l3,
			stats:   SequencerStats{Lines: 1, Bytes: 18, Duplicates: 2},
		},
		{
			name:    "restored state with a hole",
			restore: map[uint64]StreamState{1: {Written: []Span{{0, 4}, {12, 30}}}},
			msgs:    []msg{bm(batch(1, 0, l1+l2+l3))},
			want:    l2,
			stats:   SequencerStats{Lines: 1, Bytes: 8, Duplicates: 2},
		},
		{
			name:    "line starting in a span had is a duplicate",
			restore: map[uint64]StreamState{1: {Written: []Span{{0, 6}}}}, // inside l2 (4..12)
			msgs:    []msg{bm(batch(1, 0, l1+l2+l3))},
			want:    l3,
			stats:   SequencerStats{Lines: 1, Bytes: 18, Duplicates: 2},
		},
		{
			name:  "streams are independent",
			msgs:  []msg{bm(batch(1, 0, l1)), bm(batch(2, 0, l2)), bm(batch(1, 0, l1)), bm(batch(2, 8, l3))},
			want:  l1 + l2 + l3,
			stats: SequencerStats{Lines: 3, Bytes: 30, Duplicates: 1},
		},
		{
			name:  "zstd batch",
			msgs:  []msg{bm(zbatch(1, 0, l1+l2)), bm(zbatch(1, 4, l2+l3))},
			want:  l1 + l2 + l3,
			stats: SequencerStats{Lines: 3, Bytes: 30, Duplicates: 1},
		},
		{
			name:  "raw messages",
			msgs:  []msg{rawm(l1), rawm("no newline"), rawm(""), rawm(l2 + l3)},
			want:  l1 + "no newline\n" + l2 + l3,
			stats: SequencerStats{Lines: 4, Bytes: 41, Unterminated: 1},
		},
		{
			name:  "ack markers ignored",
			msgs:  []msg{{envelope.MessTypeAck, envelope.AppendAck(nil, 7)}},
			stats: SequencerStats{},
		},
		{
			name: "bad messages",
			msgs: []msg{
				bm(corrupt(batch(1, 0, l1))), // CRC mismatch
				bm(batch(1, 0, l1)[:20]),     // short
				bm(nil),                      // empty
				bm(envelope.AppendBatch(nil, envelope.BatchHeader{Stream: 1, Lines: 5}, []byte(l1))), // wrong line count
				bm(corrupt(zbatch(1, 0, l1+l2))),                  // zstd garbage
				{typ: 77, data: []byte("x\n")},                    // unknown type
				bm(fragment(1, 0, "a\nb", envelope.FlagFirst, 0)), // newline inside a piece
				bm(batch(1, 0, l1)),
			},
			want:  l1,
			errs:  7,
			stats: SequencerStats{Lines: 1, Bytes: 4, BadMessages: 7},
		},
		{
			name: "fragmented line",
			msgs: []msg{
				bm(batch(1, 0, l1)),
				bm(fragment(1, 4, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 14, long[10:20], 0, 0)),
				bm(fragment(1, 24, long[20:]+"\n", envelope.FlagLast, 0)),
				bm(batch(1, 35, l2)),
			},
			want:  l1 + long + "\n" + l2,
			stats: SequencerStats{Lines: 3, Bytes: 43},
		},
		{
			name: "fragment resent from the first piece",
			msgs: []msg{
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 10, long[10:20], 0, 0)),
				bm(fragment(1, 10, long[10:20], 0, 0)), // a piece we hold
				bm(fragment(1, 20, long[20:]+"\n", envelope.FlagLast, 0)),
				bm(fragment(1, 20, long[20:]+"\n", envelope.FlagLast, 0)), // line written
			},
			want:  long + "\n",
			stats: SequencerStats{Lines: 1, Bytes: 31, Duplicates: 1},
		},
		{
			name: "fragment resent from a middle piece continues",
			msgs: []msg{
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 10, long[10:20], 0, 0)),
				bm(fragment(1, 20, long[20:]+"\n", envelope.FlagLast, 0)),
			},
			want:  long + "\n",
			stats: SequencerStats{Lines: 1, Bytes: 31},
		},
		{
			name: "pending line interrupted by a whole-line batch",
			msgs: []msg{
				bm(batch(1, 0, l1)),
				bm(fragment(1, 4, long[:10], envelope.FlagFirst, 0)),
				bm(batch(1, 100, l2)),
				bm(fragment(1, 14, long[10:]+"\n", envelope.FlagLast, 0)),
			},
			want: l1 + l2,
			// The late last piece lies in the hole: without its first piece it is dropped
			// (the shipper resends the line from its first piece).
			stats: SequencerStats{Lines: 2, Bytes: 12, DroppedFragments: 2},
		},
		{
			name: "orphan continuation of a new stream",
			msgs: []msg{
				bm(fragment(1, 10, long[10:]+"\n", envelope.FlagLast, 0)),
				bm(batch(1, 31, l1)),
			},
			want:  l1,
			stats: SequencerStats{Lines: 1, Bytes: 4, DroppedFragments: 1},
		},
		{
			name: "truncated by the shipper",
			msgs: []msg{
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 10, long[10:20]+"\n", envelope.FlagLast|envelope.FlagTruncated, 1000)),
				bm(batch(1, 1010, l1)),
			},
			want:  long[:20] + "\n" + l1,
			stats: SequencerStats{Lines: 2, Bytes: 25, Truncated: 1},
		},
		{
			name: "cut at MaxLine",
			cfg:  func(c *SequencerConfig) { c.MaxLine = 16 },
			msgs: []msg{
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 10, long[10:20], 0, 0)),
				bm(fragment(1, 20, long[20:]+"\n", envelope.FlagLast, 0)),
			},
			want:  long[:15] + "\n",
			stats: SequencerStats{Lines: 1, Bytes: 16, Truncated: 1},
		},
		{
			name:    "fragmented line already written",
			restore: map[uint64]StreamState{1: {Written: []Span{{0, 31}}}},
			msgs: []msg{
				bm(fragment(1, 0, long[:10], envelope.FlagFirst, 0)),
				bm(fragment(1, 10, long[10:]+"\n", envelope.FlagLast, 0)),
			},
			stats: SequencerStats{Duplicates: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSequencer(t, tc.cfg)
			if tc.restore != nil {
				s.Restore(tc.restore, nil)
			}
			var out []byte
			errs := 0
			for i, m := range tc.msgs {
				before := len(out)
				var err error
				out, err = s.Process(out, m.typ, m.data)
				if err != nil {
					if !errors.Is(err, ErrBadMessage) {
						t.Fatalf("message %d: %v does not wrap ErrBadMessage", i, err)
					}
					if len(out) != before {
						t.Fatalf("message %d: failed but wrote %q", i, out[before:])
					}
					errs++
				}
			}
			if errs != tc.errs {
				t.Errorf("%d messages failed, want %d", errs, tc.errs)
			}
			if diff := cmp.Diff(tc.want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			got := s.Stats()
			got.Streams = 0 // TestSequencerStreamBase checks it
			if diff := cmp.Diff(tc.stats, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// streamLines returns n lines tagged with the stream id, and their start offsets
// (plus the end offset).
func streamLines(rng *rand.Rand, stream uint64, n int) ([]string, []uint64) {
	lines := make([]string, n)
	offs := make([]uint64, n+1)
	for i := range lines {
		lines[i] = fmt.Sprintf("s%d l%d %s\n", stream, i, strings.Repeat("z", rng.IntN(40)))
		offs[i+1] = offs[i] + uint64(len(lines[i]))
	}
	return lines, offs
}

// queued is a batch and the index of the line after its last line.
type queued struct {
	msg []byte
	end int
}

// cutBatches cuts lines[from:to] into batches of 1..maxLines lines, at random.
func cutBatches(rng *rand.Rand, stream uint64, lines []string, offs []uint64, from, to, maxLines int, compress bool) []queued {
	var out []queued
	for i := from; i < to; {
		n := min(1+rng.IntN(maxLines), to-i)
		body := strings.Join(lines[i:i+n], "")
		q := queued{msg: batch(stream, offs[i], body), end: i + n}
		if compress && rng.IntN(2) == 0 {
			q.msg = zbatch(stream, offs[i], body)
		}
		out = append(out, q)
		i += n
	}
	return out
}

// TestSequencerResendProperty sends several streams, interleaved, each cut into
// batches at random; every so often a stream "reconnects" and resends from an earlier
// line, cut differently. Every line must come out exactly once, in stream order.
func TestSequencerResendProperty(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 42))
		s := newTestSequencer(t, nil)
		const streams = 3
		type src struct {
			lines   []string
			offs    []uint64
			queue   []queued
			sentTo  int // lines cut into the queue so far
			acked   int // lines processed by the collector (what an ack would cover)
			startAt int // the first line the collector sees (a stream may start late)
		}
		srcs := make([]*src, streams)
		for i := range srcs {
			lines, offs := streamLines(rng, uint64(i), 50+rng.IntN(100))
			srcs[i] = &src{lines: lines, offs: offs, startAt: rng.IntN(5)}
			srcs[i].sentTo = srcs[i].startAt
			srcs[i].acked = srcs[i].startAt
		}
		var out []byte
		for {
			live := 0
			for _, sr := range srcs {
				if sr.sentTo < len(sr.lines) || len(sr.queue) > 0 {
					live++
				}
			}
			if live == 0 {
				break
			}
			id := rng.IntN(streams)
			sr := srcs[id]
			switch {
			case len(sr.queue) > 0 && rng.IntN(10) > 0:
				var err error
				out, err = s.Process(out, envelope.MessTypeBatch, sr.queue[0].msg)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				sr.acked = max(sr.acked, sr.queue[0].end)
				sr.queue = sr.queue[1:]
			case len(sr.queue) > 0 && sr.sentTo > sr.startAt:
				// Reconnect: lose the queue, resend from a line at or before the
				// last acknowledged one.
				back := sr.startAt + rng.IntN(sr.acked-sr.startAt+1)
				sr.queue = cutBatches(rng, uint64(id), sr.lines, sr.offs, back, sr.sentTo, 1+rng.IntN(8), true)
				if rng.IntN(4) == 0 {
					s.ConnectionLost()
				}
			case sr.sentTo < len(sr.lines):
				to := min(sr.sentTo+1+rng.IntN(20), len(sr.lines))
				sr.queue = append(sr.queue, cutBatches(rng, uint64(id), sr.lines, sr.offs, sr.sentTo, to, 1+rng.IntN(8), true)...)
				sr.sentTo = to
			}
		}
		// Split the output per stream and compare.
		got := make([][]string, streams)
		for line := range strings.SplitAfterSeq(string(out), "\n") {
			if line == "" {
				continue
			}
			var id int
			fmt.Sscanf(line, "s%d", &id)
			got[id] = append(got[id], line)
		}
		for i, sr := range srcs {
			if diff := cmp.Diff(sr.lines[sr.startAt:], got[i]); diff != "" {
				t.Fatalf("seed %d stream %d: lines lost, doubled or reordered (-want +got):\n%s", seed, i, diff)
			}
		}
		st := s.Stats()
		if st.Gaps != 0 || st.BadMessages != 0 {
			t.Fatalf("seed %d: stats %+v", seed, st)
		}
	}
}

// TestSequencerFragmentResendProperty resends a stream of long (fragmented) and short
// lines from random earlier batches; each line must come out once.
func TestSequencerFragmentResendProperty(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var lines []string
		var msgs [][]byte
		var starts []int // index into msgs of each resend point (a batch start)
		var off uint64
		for i := range 40 {
			if rng.IntN(3) == 0 {
				line := fmt.Sprintf("long%d %s\n", i, strings.Repeat("y", 20+rng.IntN(60)))
				lines = append(lines, line)
				pieces := 2 + rng.IntN(3)
				step := len(line) / pieces
				for p := range pieces {
					a, b := p*step, (p+1)*step
					var fl envelope.BatchFlags
					if p == 0 {
						fl |= envelope.FlagFirst
					}
					if p == pieces-1 {
						b = len(line)
						fl |= envelope.FlagLast
					}
					starts = append(starts, len(msgs))
					msgs = append(msgs, fragment(5, off+uint64(a), line[a:b], fl, 0))
				}
				off += uint64(len(line))
				continue
			}
			line := fmt.Sprintf("short%d\n", i)
			lines = append(lines, line)
			starts = append(starts, len(msgs))
			msgs = append(msgs, batch(5, off, line))
			off += uint64(len(line))
		}
		s := newTestSequencer(t, nil)
		var out []byte
		for i := 0; i < len(msgs); {
			var err error
			out, err = s.Process(out, envelope.MessTypeBatch, msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			i++
			if rng.IntN(6) == 0 && i > 1 {
				i = starts[rng.IntN(i)] // resend from an earlier batch
			}
		}
		if diff := cmp.Diff(strings.Join(lines, ""), string(out)); diff != "" {
			t.Fatalf("seed %d (-want +got):\n%s", seed, diff)
		}
		if st := s.Stats(); st.Gaps != 0 || st.BadMessages != 0 {
			t.Fatalf("seed %d: stats %+v", seed, st)
		}
	}
}

func TestSequencerSnapshotRestore(t *testing.T) {
	s := newTestSequencer(t, nil)
	out, _ := s.Process(nil, envelope.MessTypeBatch, batch(1, 0, "a\nb\n"))
	out, _ = s.Process(out, envelope.MessTypeBatch, batch(2, 100, "c\n"))
	out, _ = s.Process(out, envelope.MessTypeBatch, fragment(2, 102, "dd", envelope.FlagFirst, 0))
	snap := s.Snapshot()
	want := map[uint64]StreamState{1: {Written: []Span{{0, 4}}}, 2: {Base: 100, Written: []Span{{100, 102}}}}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Fatalf("snapshot (-want +got):\n%s", diff)
	}
	// A restarted collector restores the snapshot; the shipper resends everything.
	s2 := newTestSequencer(t, nil)
	s2.Restore(snap, nil)
	var out2 []byte
	for _, m := range [][]byte{batch(1, 0, "a\nb\ne\n"), batch(2, 100, "c\n"), fragment(2, 102, "dd", envelope.FlagFirst, 0), fragment(2, 104, "d\n", envelope.FlagLast, 0)} {
		out2, _ = s2.Process(out2, envelope.MessTypeBatch, m)
	}
	if string(out)+string(out2) != "a\nb\nc\ne\nddd\n" {
		t.Errorf("before + after restart = %q", string(out)+string(out2))
	}
}

func TestSequencerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s, err := NewSequencer(DefaultSequencerConfig(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, _ := s.Process(nil, envelope.MessTypeBatch, batch(1, 0, "a\n"))
	out, _ = s.Process(out, envelope.MessTypeBatch, batch(1, 0, "a\n"))
	out, _ = s.Process(out, envelope.MessTypeBatch, batch(1, 10, "b\n"))
	_, _ = s.Process(out, envelope.MessTypeBatch, envelope.AppendLoss(nil, 1, 0, 12))
	s.ConnectionLost()
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP logspread_collector_duplicate_lines_total Lines dropped because they were already written.
# TYPE logspread_collector_duplicate_lines_total counter
logspread_collector_duplicate_lines_total 1
# HELP logspread_collector_gap_bytes_total Logical bytes missing in stream gaps.
# TYPE logspread_collector_gap_bytes_total counter
logspread_collector_gap_bytes_total 8
# HELP logspread_collector_gaps_total Gaps counted in streams (lost data): loss notices, settled notices of bytes missed, holes given up beyond the hole limit or when their stream expired.
# TYPE logspread_collector_gaps_total counter
logspread_collector_gaps_total 1
# HELP logspread_collector_gap_bytes_by_cause_total Logical bytes missing in stream gaps, by cause.
# TYPE logspread_collector_gap_bytes_by_cause_total counter
logspread_collector_gap_bytes_by_cause_total{cause="hole_limit"} 0
logspread_collector_gap_bytes_by_cause_total{cause="loss_notice"} 8
logspread_collector_gap_bytes_by_cause_total{cause="missed"} 0
logspread_collector_gap_bytes_by_cause_total{cause="stream_expired"} 0
# HELP logspread_collector_holes Open holes over every stream: offsets not had between offsets had, waiting for a resend, a loss notice or a settled notice.
# TYPE logspread_collector_holes gauge
logspread_collector_holes 0
# HELP logspread_collector_connection_gaps_total Lost Spread connections (messages may have been missed).
# TYPE logspread_collector_connection_gaps_total counter
logspread_collector_connection_gaps_total 1
# HELP logspread_collector_lines_total Lines passed to the writers, after de-duplication.
# TYPE logspread_collector_lines_total counter
logspread_collector_lines_total 2
`), "logspread_collector_duplicate_lines_total", "logspread_collector_gap_bytes_total",
		"logspread_collector_gaps_total", "logspread_collector_connection_gaps_total", "logspread_collector_lines_total",
		"logspread_collector_gap_bytes_by_cause_total", "logspread_collector_holes")
	if err != nil {
		t.Error(err)
	}
}

func TestSequencerConfigValidate(t *testing.T) {
	for _, c := range []SequencerConfig{{MaxLine: 1, MaxBatch: 10}, {MaxLine: 10, MaxBatch: 0}} {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	if _, err := NewSequencer(SequencerConfig{}, nil, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("NewSequencer with zero config = %v", err)
	}
}

func FuzzSequencer(f *testing.F) {
	f.Add(batch(1, 0, "a\nb\n"), uint8(1))
	f.Add(zbatch(1, 0, "a\nb\n"), uint8(1))
	f.Add(fragment(1, 0, "aaa", envelope.FlagFirst, 0), uint8(3))
	f.Add(fragment(1, 3, "a\n", envelope.FlagLast|envelope.FlagTruncated, 9), uint8(3))
	f.Add([]byte("raw line"), uint8(0))
	f.Add([]byte("\x01\x00\x00\x03abc\x01\x01\x00\x03abc\x01\x00\x06\x02xx\x01\x01\x0a\x02yy"), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		s := newTestSequencer(t, func(c *SequencerConfig) { c.MaxLine = 64; c.GapMarker = mode&4 != 0 })
		// Feed the input as one message, and also split into several messages at
		// 0xFF bytes, so that sequences of batches (dups, gaps, fragments) are explored.
		var out []byte
		typ := envelope.MessTypeBatch
		if mode&1 == 0 {
			typ = envelope.MessTypeRaw
		}
		msgs := [][]byte{data}
		switch {
		case mode&8 != 0:
			// Structured: build well-formed batches (valid CRC) from 4-byte records
			// (stream, offset/4, flags, body length) followed by the body, so that
			// de-duplication, gaps and reassembly are exercised, not only parsing.
			typ = envelope.MessTypeBatch
			msgs = nil
			for p := data; len(p) >= 4; {
				n := min(int(p[3]), len(p)-4)
				body := bytes.Clone(p[4 : 4+n])
				fl := envelope.BatchFlags(p[2]) & (envelope.FlagFragment | envelope.FlagFirst | envelope.FlagLast)
				if fl&envelope.FlagFragment == 0 || fl&envelope.FlagLast != 0 {
					body = append(bytes.ReplaceAll(body, []byte{'\n'}, []byte{'.'}), '\n')
				} else {
					body = bytes.ReplaceAll(body, []byte{'\n'}, []byte{'.'})
				}
				lines := uint32(bytes.Count(body, []byte{'\n'}))
				msgs = append(msgs, envelope.AppendBatch(nil, envelope.BatchHeader{
					Flags: fl, Stream: uint64(p[0] & 3), Offset: uint64(p[1]) * 4, Lines: lines,
				}, body))
				p = p[4+n:]
			}
		case mode&2 != 0:
			msgs = bytes.Split(data, []byte{0xFF, 0xFF})
		}
		bad := 0
		for _, m := range msgs {
			before := len(out)
			var err error
			out, err = s.Process(out, typ, m)
			if err != nil {
				bad++
				if !errors.Is(err, ErrBadMessage) || len(out) != before {
					t.Fatalf("error %v, output grew %d", err, len(out)-before)
				}
			}
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("output does not end with a newline: %q", out)
		}
		if st := s.Stats(); st.BadMessages != uint64(bad) {
			t.Fatalf("bad messages %d, errors %d", st.BadMessages, bad)
		}
	})
}

// benchBatches returns 64 KiB batches of ~200-byte lines for one stream.
func benchBatches(b *testing.B, compress bool) ([][]byte, int, int) {
	b.Helper()
	line := []byte(`192.168.100.200 - - [02/Jan/2026:03:04:05 +0000] "GET /static/assets/images/product-thumbnail-000123.jpg HTTP/1.1" 200 48213 "https://www.example.com/catalog" "Mozilla/5.0 (X11; Linux x86_64)"` + "\n")
	perBatch := 64 << 10 / len(line)
	body := bytes.Repeat(line, perBatch)
	var msgs [][]byte
	var off uint64
	for range 64 {
		if compress {
			msgs = append(msgs, zbatch(9, off, string(body)))
		} else {
			msgs = append(msgs, batch(9, off, string(body)))
		}
		off += uint64(len(body))
	}
	return msgs, perBatch, len(body)
}

func BenchmarkSequencer(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("zstd=%v", compress), func(b *testing.B) {
			msgs, perBatch, size := benchBatches(b, compress)
			s := newTestSequencer(b, nil)
			dst := make([]byte, 0, size+1024)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m := msgs[i%len(msgs)]
				if i%len(msgs) == 0 && i > 0 {
					// Start the stream over: restore so the batches are new again.
					s.Restore(map[uint64]StreamState{9: {}}, nil)
				}
				var err error
				dst, err = s.Process(dst[:0], envelope.MessTypeBatch, m)
				if err != nil || len(dst) != size {
					b.Fatalf("err %v, %d bytes", err, len(dst))
				}
			}
			b.ReportMetric(float64(perBatch)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// TestSequencerStreamBase: a stream first seen mid-way starts at its first line (its
// base), counted; lines below the base it never had are written when they come.
func TestSequencerStreamBase(t *testing.T) {
	s := newTestSequencer(t, nil)
	out, _ := s.Process(nil, envelope.MessTypeBatch, batch(3, 40, "c\nd\n"))
	if base, ok := s.Base(3); !ok || base != 40 {
		t.Fatalf("base %d %v, want 40", base, ok)
	}
	out, _ = s.Process(out, envelope.MessTypeBatch, batch(3, 38, "b\nc\n"))
	if string(out) != "c\nd\nb\n" {
		t.Errorf("output %q", out)
	}
	if st := s.Stats(); st.Streams != 1 || st.Gaps != 0 {
		t.Errorf("stats %+v", st)
	}
	if got := testutil.ToFloat64(s.m.StreamBaseBytes); got != 40 {
		t.Errorf("stream base bytes %v, want 40", got)
	}
	if s.Holes() != 0 {
		t.Errorf("holes %d", s.Holes())
	}
	// End counts from the base only.
	if end := (StreamState{Base: 40, Written: s.Snapshot()[3].Written}).End(); end != 44 {
		t.Errorf("end %d", end)
	}
}

// TestRangeSet checks the span set against a bitmap over random operations.
func TestRangeSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var r rangeSet
		var bits [200]bool
		for range 30 {
			a := uint64(rng.IntN(190))
			b := a + 1 + uint64(rng.IntN(10))
			if rng.IntN(4) == 0 {
				r.remove(a, b)
				for i := a; i < b; i++ {
					bits[i] = false
				}
			} else {
				r.add(a, b)
				for i := a; i < b; i++ {
					bits[i] = true
				}
			}
			if !validRangeSet(r) {
				t.Fatalf("round %d: invalid set %v", round, r)
			}
			for i := range uint64(len(bits)) {
				if r.has(i) != bits[i] {
					t.Fatalf("round %d: has(%d) = %v, want %v (%v)", round, i, r.has(i), bits[i], r)
				}
			}
			var n uint64
			r.missing(a, b, func(x, y uint64) { n += y - x })
			var want uint64
			for i := a; i < b; i++ {
				if !bits[i] {
					want++
				}
			}
			if n != want {
				t.Fatalf("round %d: missing(%d,%d) = %d, want %d", round, a, b, n, want)
			}
		}
	}
}

// TestSequencerProcessFrames: ProcessFrames takes a wholly new batch v2 as it is (no
// decompression: FrameOnly, nothing appended, one piece of the batch's raw length)
// when it adjoins what the stream has; the first batch of a stream, one in
// verifyFrameEvery, small batches, overlaps and batches that would open a hole are
// decoded; a hole filled exactly is taken and closes it. Stats count every line once.
func TestSequencerProcessFrames(t *testing.T) {
	s := newTestSequencer(t, nil)
	const minRaw = 1000
	body := func(tag string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s line %04d ..............................\n", tag, i)
		}
		return b.String()
	}
	var off uint64
	var lines int
	step := func(name, b string, at uint64, wantOnly bool, wantOut int) {
		t.Helper()
		out, err := s.ProcessFrames(nil, envelope.MessTypeBatch, zbatch(7, at, b), minRaw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.FrameOnly() != wantOnly || len(out) != wantOut {
			t.Fatalf("%s: FrameOnly %v, %d bytes out; want %v, %d", name, s.FrameOnly(), len(out), wantOnly, wantOut)
		}
		if wantOnly {
			p := s.Pieces()
			if s.Frame() == nil || len(p) != 1 || p[0].Len != len(b) || p[0].First != at || p[0].End != at+uint64(len(b)) || s.FrameLines() != strings.Count(b, "\n") {
				t.Fatalf("%s: frame %d bytes, pieces %+v, lines %d", name, len(s.Frame()), p, s.FrameLines())
			}
		}
	}
	b0 := body("a", 30)
	step("first batch of a stream", b0, 0, false, len(b0))
	off += uint64(len(b0))
	lines += 30
	for i := 1; i < 2*verifyFrameEvery-1; i++ { // the fill below is not one to verify
		b := body(fmt.Sprint("b", i), 30)
		// The sequencer's count starts at the second batch: the verifyFrameEvery-th
		// batch it could take is decoded.
		verified := i%verifyFrameEvery == 0
		want := 0
		if verified {
			want = len(b)
		}
		step(fmt.Sprint("batch ", i), b, off, !verified, want)
		off += uint64(len(b))
		lines += 30
	}
	small := body("s", 2)
	step("small batch", small, off, false, len(small))
	off += uint64(len(small))
	lines += 2
	dup := body("d", 30)
	// Its first two lines (as long as small's) are had: decoded, the rest written.
	step("overlap", dup, off-uint64(len(small)), false, len(dup)-len(small))
	off += uint64(len(dup) - len(small))
	lines += 28
	skip := body("h", 30)
	holeAt := off
	off += uint64(len(skip))
	after := body("after", 30)
	step("beyond a hole", after, off, false, len(after))
	off += uint64(len(after))
	lines += 30
	if s.Holes() != 1 {
		t.Fatalf("holes = %d, want 1", s.Holes())
	}
	step("hole filled exactly", skip, holeAt, true, 0)
	lines += 30
	if s.Holes() != 0 {
		t.Errorf("holes after the fill = %d, want 0", s.Holes())
	}
	if st := s.Stats(); st.Lines != uint64(lines) || st.Bytes != off {
		t.Errorf("stats: %d lines, %d bytes; want %d, %d", st.Lines, st.Bytes, lines, off)
	}
	// Process never takes frames.
	b := body("p", 30)
	if out, err := s.Process(nil, envelope.MessTypeBatch, zbatch(7, off, b)); err != nil || len(out) != len(b) || s.FrameOnly() {
		t.Errorf("Process: %v, %d bytes, FrameOnly %v", err, len(out), s.FrameOnly())
	}
}
