package source

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

const benchLines = 500000

// benchFile writes ~100 MB of 200-byte lines once per benchmark.
func benchFile(b *testing.B) string {
	b.Helper()
	name := filepath.Join(b.TempDir(), "access.log")
	line := strings.Repeat("a", 199) + "\n"
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	block := strings.Repeat(line, 1000)
	for range benchLines / 1000 {
		f.WriteString(block)
	}
	f.Close()
	return name
}

// BenchmarkTailFile reads a pre-written file of 200-byte lines through a Tailer in 64 KiB chunks.
func BenchmarkTailFile(b *testing.B) {
	name := benchFile(b)
	size := int64(benchLines * 200)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cfg := DefaultConfig()
		cfg.StateDir = b.TempDir()
		cfg.FromBeginning = true
		cfg.Waker = NewManualWaker()
		cfg.NoWatch = true
		s, err := New(cfg, testsupport.Logger(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		t, err := s.OpenFile(name)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var lines uint32
		ctx := context.Background()
		var n uint64
		for n < uint64(size) {
			c, err := t.Next(ctx, 64<<10)
			if err != nil {
				b.Fatal(err)
			}
			n += c.Span
			lines += c.Lines
		}
		b.StopTimer()
		if lines != benchLines {
			b.Fatalf("%d lines", lines)
		}
		t.Close()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReadFileBaseline reads the same file with os.File.Read into a 256 KiB buffer.
func BenchmarkReadFileBaseline(b *testing.B) {
	name := benchFile(b)
	b.SetBytes(int64(benchLines * 200))
	buf := make([]byte, 256<<10)
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := f.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
	b.ReportMetric(float64(benchLines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
