package shipper

import (
	"testing"
	"time"

	"github.com/logspread/logspread/bench/loggen"
)

// BenchmarkEncodeBatch compresses 64 MiB of loggen lines (~220 bytes, seed 1) in batches
// of MaxBatchRaw with the batcher's encoder (the default level and options): the part
// of a shipper's CPU that compression takes. It reports CPU seconds (user+system of
// the process) per million lines and compressed bytes per input byte. Compare with
// `zstd -1` on the same lines in the same run (bench/run.sh does).
func BenchmarkEncodeBatch(b *testing.B) {
	g := loggen.New(1, loggen.Options{})
	var data []byte
	lines := 0
	for len(data) < 64<<20 {
		data = g.AppendLine(data)
		lines++
	}
	cfg := DefaultConfig()
	bt, err := newBatcher(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.close()
	var out []byte
	var cpu time.Duration
	var zn int
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c0 := cpuTime()
		zn = 0
		for off := 0; off < len(data); off += cfg.MaxBatchRaw {
			out = bt.enc.EncodeAll(data[off:min(off+cfg.MaxBatchRaw, len(data))], out[:0])
			zn += len(out)
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(cpu.Seconds()/(float64(lines)*float64(b.N)/1e6), "cpu-s/Mlines")
	b.ReportMetric(float64(zn)/float64(len(data)), "ratio")
}
