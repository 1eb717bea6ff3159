package segment

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// benchInput returns about 16 MiB of varied access-log lines cut into 64 KiB chunks at
// line ends (as the sequencer hands them over), and the line count.
func benchInput(b *testing.B) ([][]byte, int) {
	b.Helper()
	all := []byte(genLines(0, 80000)) // about 7.5 MB
	all = append(all, genLines(80000, 80000)...)
	lines := bytes.Count(all, []byte{'\n'})
	var chunks [][]byte
	for len(all) > 0 {
		n := min(64<<10, len(all))
		if i := bytes.LastIndexByte(all[:n], '\n'); i >= 0 {
			n = i + 1
		}
		chunks = append(chunks, all[:n])
		all = all[n:]
	}
	return chunks, lines
}

// BenchmarkSegmentWriter measures lines/s through a zstd Writer into a real file,
// next to a baseline of plain zstd streaming encoding (same level, one goroutine) of the
// same bytes into io.Discard. The ratio writer/baseline is the writer's overhead.
func BenchmarkSegmentWriter(b *testing.B) {
	chunks, lines := benchInput(b)
	size := 0
	for _, c := range chunks {
		size += len(c)
	}
	b.Run("writer", func(b *testing.B) {
		root, err := os.OpenRoot(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer root.Close()
		cfg := DefaultConfig()
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			w, err := NewWriter(RootFS(root), mustTemplate(b, "bench.log.zst"), Names{Group: "www"}, cfg, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range chunks {
				if err := write(w, c); err != nil {
					b.Fatal(err)
				}
			}
			if err := flushClose(w); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := root.Remove(w.Segment()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("zstd-baseline", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			enc, err := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range chunks {
				if _, err := enc.Write(c); err != nil {
					b.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}

// TestSegmentCompressionRatio logs the compressed size of the benchmark input per
// compression (informational; no threshold beyond "compresses").
func TestSegmentCompressionRatio(t *testing.T) {
	all := genLines(0, 20000)
	for _, c := range []Compression{CompressZstd, CompressGzip} {
		seg, _ := writeFrames(t, c, []string{all})
		if len(seg) >= len(all)/2 {
			t.Errorf("%s: %d bytes from %d", c, len(seg), len(all))
		}
		t.Logf("%s: %d -> %d bytes (%.1fx)", c, len(all), len(seg), float64(len(all))/float64(len(seg)))
	}
}
