package shipper

import (
	"bufio"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
)

// shipBenchMiB is the size of the BenchmarkShipFile input in MiB; the full run
// is -shipbench.mib=1024.
var shipBenchMiB = flag.Int("shipbench.mib", 256, "size of BenchmarkShipFile's input file in MiB")

// writeLoggenFile writes about mib MiB of loggen lines to name and returns the size and
// line count.
func writeLoggenFile(b *testing.B, name string, mib int) (int64, int) {
	b.Helper()
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	g := loggen.New(1, loggen.Options{})
	var line []byte
	var size int64
	lines := 0
	for size < int64(mib)<<20 {
		line = g.AppendLine(line[:0])
		w.Write(line)
		size += int64(len(line))
		lines++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return size, lines
}

// drainer is a group member that reads everything, counting the logical bytes of the
// batches (it does no de-duplication: the benchmark measures the shipper). With a
// progress step it reports, as a collector named "bench" does after a flush, the end
// of every stream each time a stream moved by step bytes, and every 10 ms otherwise.
type drainer struct {
	conn  *spreadlink.Conn
	bytes atomic.Uint64
	done  chan struct{}

	mu       sync.Mutex // Guards the fields below and multicasts.
	ends     map[uint64]uint64
	reported map[uint64]uint64
	buf      []byte
}

// report multicasts a progress report of the streams that moved; d.mu is held.
func (d *drainer) report(group string) {
	p := envelope.Progress{Name: "bench"}
	for s, e := range d.ends {
		if d.reported[s] != e {
			d.reported[s] = e
			p.Streams = append(p.Streams, envelope.StreamProgress{Stream: s, End: e})
		}
	}
	if len(p.Streams) == 0 {
		return
	}
	d.buf, _ = envelope.AppendProgress(d.buf[:0], &p)
	d.conn.Multicast(spreadlink.Agreed, envelope.PresenceGroup(group), envelope.MessTypeProgress, d.buf)
}

func startDrainerStep(b *testing.B, addr, group string, step uint64) *drainer {
	b.Helper()
	// Counted as a collector by the shippers: a "c" name, in the group and then in its
	// presence group.
	c, err := spreadlink.Dial(context.Background(), spreadlink.Config{Address: addr, Name: "cdrainer"})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Join(group); err != nil {
		b.Fatal(err)
	}
	if err := c.Join(envelope.PresenceGroup(group)); err != nil {
		b.Fatal(err)
	}
	d := &drainer{conn: c, done: make(chan struct{}), ends: map[uint64]uint64{}, reported: map[uint64]uint64{}}
	tick := make(chan struct{})
	go func() { // owned: the cleanup closes the connection and waits
		defer close(d.done)
		var m spreadlink.Message
		for {
			if err := c.Receive(&m); err != nil {
				return
			}
			if m.Service.IsRegular() && m.MessType == envelope.MessTypeBatch {
				if h, _, err := envelope.ParseBatch(m.Data); err == nil {
					d.bytes.Add(h.Span)
					if step > 0 {
						d.mu.Lock()
						if e, ok := d.ends[h.Stream]; !ok || h.Offset <= e {
							d.ends[h.Stream] = max(e, h.End())
						}
						if d.ends[h.Stream]-d.reported[h.Stream] >= step {
							d.report(group)
						}
						d.mu.Unlock()
					}
				}
			}
		}
	}()
	var ticker sync.WaitGroup
	if step > 0 {
		ticker.Go(func() { // owned: the cleanup closes tick and waits
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-tick:
					return
				case <-t.C:
					d.mu.Lock()
					d.report(group)
					d.mu.Unlock()
				}
			}
		})
	}
	b.Cleanup(func() {
		close(tick)
		ticker.Wait()
		c.Abort()
		<-d.done
	})
	return d
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// BenchmarkShipFile ships a pre-written file of loggen lines (~220 bytes) through the
// embedded daemon (unix socket, same process) to a draining member, from the first read
// until the last batch is acknowledged; "read" is the baseline that only reads the file
// (cat FILE > /dev/null). CPU time and max RSS are of the whole test process (shipper,
// daemon and drainer together).
func BenchmarkShipFile(b *testing.B) {
	dir := b.TempDir()
	name := filepath.Join(dir, "access.log")
	size, lines := writeLoggenFile(b, name, *shipBenchMiB)

	b.Run("read", func(b *testing.B) {
		b.SetBytes(size)
		buf := make([]byte, 256<<10)
		for b.Loop() {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})

	for _, ack := range []AckPolicy{AckOrdered, AckWritten} {
		b.Run("ship/ack="+ack.String(), func(b *testing.B) { benchShip(b, name, size, lines, ack) })
	}
}

// benchShip ships the file name to a drainer with the acknowledgement policy ack; with
// AckWritten the drainer reports progress every MiB (a collector flushing at size steps).
func benchShip(b *testing.B, name string, size int64, lines int, ack AckPolicy) {
	{
		sock := filepath.Join(b.TempDir(), "4803")
		startTestDaemon(b, sock)
		var step uint64
		if ack == AckWritten {
			step = 1 << 20
		}
		d := startDrainerStep(b, "unix:"+sock, "bench", step)
		b.SetBytes(size)
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			cfg := source.DefaultConfig()
			cfg.StateDir = b.TempDir()
			cfg.FromBeginning = true
			cfg.NoWatch = true
			cfg.Waker = source.NewManualWaker()
			s, err := source.New(cfg, testsupport.Logger(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			tl, err := s.OpenFile(name)
			if err != nil {
				b.Fatal(err)
			}
			sc := testSendConfig("unix:"+sock, "bench")
			sc.Ack = ack
			sh, err := New(sc, testsupport.Logger(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			c0 := cpuTime()
			b.StartTimer()
			go func() { done <- sh.Run(ctx, []source.Source{tl}) }() // owned: waited for below
			for sh.Stats().AckedBytes < uint64(size) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cpu += cpuTime() - c0
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			tl.Close()
			s.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(cpu.Seconds()/(float64(lines)*float64(b.N)/1e6), "cpu-s/Mlines")
		b.ReportMetric(maxRSSMiB(), "maxrss-MiB")
		if got := d.bytes.Load(); got < uint64(size)*uint64(b.N) {
			b.Fatalf("drainer got %d bytes, want %d", got, uint64(size)*uint64(b.N))
		}
	}
}
