package source

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// BenchmarkJournal journals input through the stdin journal and reads it back,
// acknowledging as it goes: lines=1 writes one 100-byte line at a time and waits for it
// (one record, one fsync per line: the cost of each record), lines=640 writes 64 KiB
// at a time as fast as the journal takes it (group commit).
func BenchmarkJournal(b *testing.B) {
	for _, lines := range []int{1, 640} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.StateDir = b.TempDir()
			cfg.Waker = NewManualWaker()
			s, err := New(cfg, testsupport.Logger(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			pr, pw, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			j, err := s.OpenJournal("stdin", pr)
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			defer pw.Close()
			block := strings.Repeat(strings.Repeat("j", 99)+"\n", lines)
			b.SetBytes(int64(len(block)))
			ctx := context.Background()
			done := make(chan struct{})
			if lines > 1 {
				go func() {
					defer close(done)
					for range b.N {
						if _, err := pw.WriteString(block); err != nil {
							return
						}
					}
				}()
			}
			b.ResetTimer()
			want := uint64(len(block)) * uint64(b.N)
			var n uint64
			for i := 0; n < want; i++ {
				if lines == 1 {
					pw.WriteString(block)
				}
				c, err := j.Next(ctx, 64<<10)
				if err != nil {
					b.Fatal(err)
				}
				n += c.Span
				if i%64 == 0 || n == want {
					if err := j.Ack(c.Pos); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if lines > 1 {
				<-done
			}
		})
	}
}
