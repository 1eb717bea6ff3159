package source

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkGlobRestart measures a glob's start over files it followed before (each with
// a checkpoint): the state directory is opened and the glob opened and closed again, as
// a restart does. With renamed>0, that many of the matches were renamed away (the live
// name gone), and are resumed by the identity of their file. State and files are on
// /dev/shm when it exists.
func BenchmarkGlobRestart(b *testing.B) {
	for _, renamed := range []int{0, 100} {
		b.Run(fmt.Sprintf("files=1000/renamed=%d", renamed), func(b *testing.B) {
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
			cfg.Waker = NewManualWaker()
			cfg.FromBeginning = true
			dir := filepath.Join(tmp, "logs")
			os.Mkdir(dir, 0o755)
			const n = 1000
			for i := range n {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("app-%d.log", i)), []byte("line\n"), 0o644)
			}
			pattern := filepath.Join(dir, "*.log")
			s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			g, err := s.OpenGlob(pattern)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			for range n {
				c, err := g.Next(ctx, cfg.ChunkMax)
				if err != nil {
					b.Fatal(err)
				}
				if err := g.Ack(c.Pos); err != nil {
					b.Fatal(err)
				}
			}
			g.Close()
			s.Close()
			for i := range renamed {
				name := filepath.Join(dir, fmt.Sprintf("app-%d.log", i))
				os.Rename(name, name+".1")
			}
			cfg.FromBeginning = false
			b.ResetTimer()
			for b.Loop() {
				s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
				if err != nil {
					b.Fatal(err)
				}
				g, err := s.OpenGlob(pattern)
				if err != nil {
					b.Fatal(err)
				}
				g.Close()
				s.Close()
			}
		})
	}
}
