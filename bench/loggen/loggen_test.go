package loggen

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logspread/logspread/formats"
)

var update = flag.Bool("update", false, "rewrite configs/sample/access.log from the generator")

// sampleLog is the README quick-start log: SampleLines lines from seed 1, default Options.
var sampleLog = filepath.Join("..", "..", "configs", "sample", "access.log")

const sampleLines = 2000

func generate(t testing.TB, seed int64, opts Options, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := New(seed, opts).WriteLines(&b, n); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	a := generate(t, 42, Options{}, 5000)
	b := generate(t, 42, Options{}, 5000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different output")
	}
	if c := generate(t, 43, Options{}, 5000); bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
	// AppendLine and WriteLines agree.
	g := New(42, Options{})
	var lines []byte
	for i := 0; i < 5000; i++ {
		lines = g.AppendLine(lines)
	}
	if !bytes.Equal(a, lines) {
		t.Fatal("AppendLine output differs from WriteLines output")
	}
}

func TestLinesParse(t *testing.T) {
	loc := time.FixedZone("", -7*3600)
	tests := []struct {
		name   string
		format string
		opts   Options
	}{
		{name: "combined", format: "combined", opts: Options{}},
		{name: "vhost_combined", format: "vhost_combined", opts: Options{
			VHosts: []string{"www.example.com", "shop.example.net", "api.example.org"}, Location: loc, Rate: 5000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := formats.Named(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			tIdx, sIdx, hIdx := f.Index("%t"), f.Index("%>s"), f.Index("%h")
			data := generate(t, 7, tc.opts, 20000)
			sc := bufio.NewScanner(bytes.NewReader(data))
			var prev time.Time
			var vals [][]byte
			ipv6, n, total := 0, 0, 0
			statuses := map[string]int{}
			vhosts := map[string]int{}
			for sc.Scan() {
				line := sc.Bytes()
				n++
				total += len(line) + 1
				vals, err = f.Parse(vals[:0], line)
				if err != nil {
					t.Fatalf("line %d %q: %v", n, line, err)
				}
				ts, err := time.Parse("[02/Jan/2006:15:04:05 -0700]", string(vals[tIdx]))
				if err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
				if ts.Before(prev) {
					t.Fatalf("line %d: time %v goes back from %v", n, ts, prev)
				}
				prev = ts
				if bytes.IndexByte(vals[hIdx], ':') >= 0 {
					ipv6++
				}
				statuses[string(vals[sIdx])]++
				if vh, ok := f.VHost(line); ok {
					vhosts[string(vh)]++
				}
			}
			if avg := total / n; avg < 200 || avg > 250 {
				t.Errorf("average line is %d bytes, want 200-250", avg)
			}
			if ipv6 < n/20 || ipv6 > n/4 {
				t.Errorf("%d of %d clients are IPv6, want 5-25%%", ipv6, n)
			}
			if statuses["200"] < n/2 || statuses["404"] == 0 || statuses["304"] == 0 || statuses["500"] == 0 {
				t.Errorf("unrealistic status mix: %v", statuses)
			}
			if len(tc.opts.VHosts) > 0 && len(vhosts) != len(tc.opts.VHosts) {
				t.Errorf("vhosts seen: %v, want all of %v", vhosts, tc.opts.VHosts)
			}
			if zone := prev.Format("-0700"); tc.opts.Location == loc && zone != "-0700" {
				t.Errorf("timestamps in zone %s, want -0700", zone)
			}
		})
	}
}

func TestAppendLineDoesNotAllocate(t *testing.T) {
	g := New(1, Options{VHosts: []string{"a.example"}})
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(1000, func() { buf = g.AppendLine(buf[:0]) }); n != 0 {
		t.Errorf("AppendLine allocates %v times per line", n)
	}
}

// TestSampleLog checks that configs/sample/access.log is the generator's output for seed 1;
// go test -update rewrites it.
func TestSampleLog(t *testing.T) {
	got := generate(t, 1, Options{}, sampleLines)
	if *update {
		if err := os.WriteFile(sampleLog, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(sampleLog)
	if err != nil {
		t.Fatalf("%v (run go test ./bench/loggen -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the generator's output for seed 1 (run go test ./bench/loggen -update)", sampleLog)
	}
}

type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

func BenchmarkAppendLine(b *testing.B) {
	g := New(1, Options{})
	buf := make([]byte, 0, 4096)
	var bytesOut int64
	b.ReportAllocs()
	for b.Loop() {
		buf = g.AppendLine(buf[:0])
		bytesOut += int64(len(buf))
	}
	b.ReportMetric(float64(bytesOut)/float64(b.N), "bytes/line")
}

func BenchmarkWriteLines(b *testing.B) {
	const n = 100000
	var d discard
	b.ReportAllocs()
	for b.Loop() {
		if err := New(1, Options{}).WriteLines(&d, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
