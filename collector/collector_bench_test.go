package collector

import (
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/formats/envelope"
)

// recordedStream returns about 32 MiB of loggen combined lines cut into batch v1
// messages of at most 64 KiB (two streams, interleaved, as delivered), the raw lines
// in delivery order, and the line count.
func recordedStream(b *testing.B) (msgs [][]byte, raw []byte, lines int) {
	return recordStream(b, 64<<10-envelope.BatchHeaderLen, nil)
}

// recordedZstdStream is recordedStream in batch v2 messages as a catching-up shipper
// sends them: each one zstd frame (SpeedFastest, single segment) of at most 1 MiB of
// lines.
func recordedZstdStream(b *testing.B) (msgs [][]byte, raw []byte, lines int) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	return recordStream(b, 1<<20, enc)
}

func recordStream(b *testing.B, max int, enc *zstd.Encoder) (msgs [][]byte, raw []byte, lines int) {
	b.Helper()
	gens := []*loggen.Generator{loggen.New(1, loggen.Options{}), loggen.New(2, loggen.Options{})}
	offs := make([]uint64, len(gens))
	var body []byte
	for len(raw) < 32<<20 {
		for s, g := range gens {
			body = body[:0]
			n := 0
			for {
				before := len(body)
				body = g.AppendLine(body)
				if len(body) > max {
					body = body[:before] // the generator moves on: that line is simply not used
					break
				}
				n++
			}
			h := envelope.BatchHeader{Stream: uint64(s + 1), Offset: offs[s], Lines: uint32(n)}
			if enc != nil {
				msgs = append(msgs, envelope.AppendZstdBatch(nil, h, body, enc.EncodeAll(body, nil)))
			} else {
				msgs = append(msgs, envelope.AppendBatch(nil, h, body))
			}
			offs[s] += uint64(len(body))
			raw = append(raw, body...)
			lines += n
		}
	}
	return msgs, raw, lines
}

// BenchmarkCollectorPipeline measures the collector's writer side on a recorded message
// stream: batch decode and CRC check, de-duplication, routing, and zstd segment writes
// to a real file, with one flush per second of wall time as in production. The
// "zstd-baseline" sub-benchmark encodes the same lines with klauspost zstd
// (SpeedFastest, one goroutine, 1 MiB chunks) into io.Discard; compare lines/s.
func BenchmarkCollectorPipeline(b *testing.B) {
	msgs, raw, lines := recordedStream(b)
	b.Run("collector", func(b *testing.B) { benchCollector(b, msgs, raw, lines) })
	b.Run("collector-batch-v2", func(b *testing.B) {
		msgs, raw, lines := recordedZstdStream(b)
		benchCollector(b, msgs, raw, lines)
	})
	b.Run("zstd-baseline", func(b *testing.B) {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			b.Fatal(err)
		}
		defer enc.Close()
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			for p := raw; len(p) > 0; {
				n := min(len(p), 1<<20)
				dst = enc.EncodeAll(p[:n], dst[:0])
				_, _ = io.Discard.Write(dst)
				p = p[n:]
			}
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}

// benchCollector runs msgs through a collector's writer set into one zstd log.
func benchCollector(b *testing.B, msgs [][]byte, raw []byte, lines int) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.Dir = b.TempDir()
		cfg.Logs = []LogConfig{{Group: "www", Template: "{group}.log.zst"}}
		c, err := New(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		w, err := c.newWriterSet()
		if err != nil {
			b.Fatal(err)
		}
		it := &qitem{kind: itemData, messType: envelope.MessTypeBatch, logs: []int{0}}
		last := time.Now()
		for _, m := range msgs {
			it.data = m
			if err := w.handle(b.Context(), it); err != nil {
				b.Fatal(err)
			}
			if time.Since(last) > time.Second {
				w.flushAll()
				last = time.Now()
			}
		}
		if err := w.finish(); err != nil {
			b.Fatal(err)
		}
		w.release()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
