package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// BenchmarkGlobShortLived measures the cost per file of short-lived matches under a
// glob followed by events alone (no poll): each round creates round one-line files,
// reads and acknowledges them, and deletes them. A per-event cost that grows with the
// files in the directory shows as a higher ns/file for larger rounds. State and files
// are on /dev/shm when it exists, so fsyncs do not hide the tailer's own cost.
func BenchmarkGlobShortLived(b *testing.B) {
	for _, round := range []int{100, 1000} {
		b.Run(fmt.Sprintf("round=%d", round), func(b *testing.B) {
			base := ""
			if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
				base = "/dev/shm"
			}
			tmp, err := os.MkdirTemp(base, "logspread-bench-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(tmp) })
			cfg := DefaultConfig()
			cfg.StateDir = filepath.Join(tmp, "state")
			cfg.Waker = NewManualWaker() // never ticked: events only
			cfg.RotateWait = 0
			s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			dir := filepath.Join(tmp, "jobs")
			os.Mkdir(dir, 0o755)
			g, err := s.OpenGlob(filepath.Join(dir, "job-*.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			line := []byte("job line\n")
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				names := make([]string, round)
				for j := range round {
					names[j] = filepath.Join(dir, fmt.Sprintf("job-%d-%d.log", i, j))
					if err := os.WriteFile(names[j], line, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				for range round {
					c, err := g.Next(ctx, cfg.ChunkMax)
					if err != nil {
						b.Fatal(err)
					}
					if err := g.Ack(c.Pos); err != nil {
						b.Fatal(err)
					}
				}
				for _, n := range names {
					os.Remove(n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*round), "ns/file")
			// CPU time (user and system, of the whole process) tells the cost on a loaded
			// machine better than the elapsed time.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*round), "cpu-ns/file")
		})
	}
}

// BenchmarkShortLivedBusyDir measures the cost per file of short-lived matches of a glob
// in a directory that holds others files besides them (not matched): rounds of 10
// one-line files are created, read, acknowledged and deleted. With lookup=listing the
// tailers look for rotated generations in the Watcher's shared listing (listing.go);
// with lookup=readdir they list the directory each time, as without it. ns/file should
// not grow with others with the listing. dirlists/file counts the directories listed.
func BenchmarkShortLivedBusyDir(b *testing.B) {
	const round = 10
	for _, others := range []int{100, 1000} {
		for _, lookup := range []string{"readdir", "listing"} {
			b.Run(fmt.Sprintf("others=%d/lookup=%s", others, lookup), func(b *testing.B) {
				base := ""
				if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
					base = "/dev/shm"
				}
				tmp, err := os.MkdirTemp(base, "logspread-bench-")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(tmp) })
				dir := filepath.Join(tmp, "jobs")
				os.Mkdir(dir, 0o755)
				for i := range others {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("other-%d.txt", i)), nil, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				cfg := DefaultConfig()
				cfg.StateDir = filepath.Join(tmp, "state")
				cfg.Waker = NewManualWaker() // never ticked: events only
				cfg.RotateWait = 0
				s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if lookup == "readdir" {
					s.listings = false
				} else if !s.listings {
					b.Fatal("no listings")
				}
				g, err := s.OpenGlob(filepath.Join(dir, "job-*.log"))
				if err != nil {
					b.Fatal(err)
				}
				defer g.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				line := []byte("job line\n")
				lists0 := s.listed()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := range b.N {
					names := make([]string, round)
					for j := range round {
						names[j] = filepath.Join(dir, fmt.Sprintf("job-%d-%d.log", i, j))
						if err := os.WriteFile(names[j], line, 0o644); err != nil {
							b.Fatal(err)
						}
					}
					for range round {
						c, err := g.Next(ctx, cfg.ChunkMax)
						if err != nil {
							b.Fatal(err)
						}
						if err := g.Ack(c.Pos); err != nil {
							b.Fatal(err)
						}
					}
					for _, n := range names {
						os.Remove(n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*round), "ns/file")
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*round), "cpu-ns/file")
				b.ReportMetric(float64(s.listed()-lists0)/float64(b.N*round), "dirlists/file")
			})
		}
	}
}
