package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/klauspost/compress/zstd"

	"github.com/logspread/logspread/bench/loggen"
)

// LatencyStats is what a latency scenario measured: the time from a line's write to
// its input file until the frame holding it was seen complete in every collector's
// segment.
type LatencyStats struct {
	Rate          int           // lines per second asked of the writer, all files together
	WriteRate     float64       // lines per second the writer achieved
	Lines         int64         // lines measured (all of them)
	FlushInterval time.Duration // the collectors' --flush-interval
	P50, P99, Max time.Duration
	Frames        int // frames seen per collector (the first collector's count)
}

// LatencyMeasurer is implemented by scenarios that measure per-line latency.
type LatencyMeasurer interface {
	Latency() *LatencyStats
}

// LogspreadLatency is the logspread pipeline of Logspread (4 shippers, daemon,
// Env.Collectors collectors) fed at a fixed rate: the driver appends the lines of
// Env.Inputs to four live files, Rate lines per second in all, in one write(2) per
// file every 2 ms, and records when each line was written. Each line starts with
// "hN SEQ " (file N, line SEQ of that file; see WriteLatencyInputs), so the lines
// read back from the segments say which write they came from.
//
// A line is in when the zstd frame holding it is complete in the segment of every
// collector: the driver follows each collector's segment as it grows (fsnotify events
// on the directory, a 20 ms poll as a backstop), cuts the bytes into frames by their
// headers (a frame being written is not read until complete) and decodes each. The
// latency of a line is the instant its frame was seen complete at the last collector
// minus the instant just before the write(2) that appended it.
type LogspreadLatency struct {
	Bin           string
	Rate          int           // lines per second, all files together
	FlushInterval time.Duration // collectors' --flush-interval
	Pipeline      Logspread     // daemon settings (Bin is set from Bin)

	ls        Logspread
	writeAt   [][]int64 // per file, per line: Unix ns just before the write(2)
	seenAt    [][][]int64
	frames    []int
	writeRate float64
	writerErr chan error
	followed  chan error // one nil per collector that saw every line, or an error
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stats     *LatencyStats
}

// Name implements Scenario.
func (l *LogspreadLatency) Name() string {
	return fmt.Sprintf("logspread latency (%d lines/s)", l.Rate)
}

// Describe implements Describer.
func (l *LogspreadLatency) Describe() string {
	return fmt.Sprintf("the logspread pipeline above (flush interval %v), its four input files written live by the driver at %d lines/s in all "+
		"(one write(2) per file every 2 ms; each line prefixed \"hN SEQ \"). Latency of a line = when its zstd frame was seen complete in "+
		"every collector's segment (the driver follows the segments with fsnotify and a 20 ms backstop poll, cuts them into frames by their "+
		"headers and decodes each) - just before the write(2) that appended it. Lines/s and wall are the feed rate and duration here, "+
		"not a throughput; CPU is what the pipeline costs at that rate. Not measured for the peers: their compressed streams do not show "+
		"when a line is in (rsyslog's zstd stream holds its last block until the file is closed; syslog-ng's zstd writes when its buffer fills).",
		l.flushInterval(), l.Rate)
}

func (l *LogspreadLatency) flushInterval() time.Duration {
	if l.FlushInterval > 0 {
		return l.FlushInterval
	}
	return time.Second
}

// Latency implements LatencyMeasurer.
func (l *LogspreadLatency) Latency() *LatencyStats { return l.stats }

// Start implements Scenario.
func (l *LogspreadLatency) Start(ctx context.Context, r *Run) error {
	l.ls = l.Pipeline
	l.ls.Bin = l.Bin
	if _, err := os.Stat(l.Bin); err != nil {
		return fmt.Errorf("logspread binary %s: %w", l.Bin, ErrUnavailable)
	}
	if l.Rate <= 0 {
		return errors.New("latency: rate must be positive")
	}
	if err := l.ls.startDaemonAndCollectors(ctx, r, "--flush-interval", l.flushInterval().String()); err != nil {
		return err
	}
	counts, err := countLines(r.Env.Inputs)
	if err != nil {
		return err
	}
	l.writeAt = make([][]int64, len(counts))
	l.seenAt = make([][][]int64, len(l.ls.collectors))
	l.frames = make([]int, len(l.ls.collectors))
	for i, n := range counts {
		l.writeAt[i] = make([]int64, n)
	}
	for c := range l.seenAt {
		l.seenAt[c] = make([][]int64, len(counts))
		for i, n := range counts {
			l.seenAt[c][i] = make([]int64, n)
		}
	}

	// The live files exist, empty, before the shippers start.
	var live []string
	for i := range r.Env.Inputs {
		p := r.Path("live", fmt.Sprintf("host%d.log", i+1))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
		live = append(live, p)
	}
	fctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.followed = make(chan error, len(l.ls.collectors))
	for c, col := range l.ls.collectors {
		l.wg.Go(func() {
			l.followed <- l.follow(fctx, c, filepath.Join(col.dir, "www.log.zst"), r.Env.Lines)
		})
	}
	for i, p := range live {
		if _, err := l.ls.startShipper(r, i+1, "--from-beginning", p); err != nil {
			return err
		}
	}
	// Start writing once every shipper has its session, so that the first lines do
	// not wait for process start-up.
	want := float64(len(l.ls.collectors) + len(live))
	for {
		n, err := scrapeCounter(l.ls.daemonMetrics, "logspread_daemon_sessions")
		if err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		if n >= want {
			break
		}
		if err := l.ls.checkAlive(r); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	l.writerErr = make(chan error, 1)
	l.wg.Go(func() { l.writerErr <- l.write(fctx, r.Env.Inputs, live, counts) })
	return nil
}

// write appends the lines of srcs to live at l.Rate lines per second in all (each
// file its share), one write(2) per file every 2 ms, recording when each line went.
func (l *LogspreadLatency) write(ctx context.Context, srcs, live []string, counts []int64) error {
	perFile := float64(l.Rate) / float64(len(srcs))
	readers := make([]*bufio.Reader, len(srcs))
	outs := make([]*os.File, len(srcs))
	for i := range srcs {
		in, err := os.Open(srcs[i])
		if err != nil {
			return err
		}
		defer in.Close()
		readers[i] = bufio.NewReaderSize(in, 1<<20)
		out, err := os.OpenFile(live[i], os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer out.Close()
		outs[i] = out
	}
	written := make([]int64, len(srcs))
	var buf []byte
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		elapsed := time.Since(start)
		done := true
		for i := range srcs {
			due := min(int64(perFile*elapsed.Seconds()), counts[i])
			if written[i] < counts[i] {
				done = false
			}
			if due <= written[i] {
				continue
			}
			buf = buf[:0]
			for n := written[i]; n < due; n++ {
				line, err := readers[i].ReadSlice('\n')
				if err != nil {
					return fmt.Errorf("latency writer: %s line %d: %w", srcs[i], n, err)
				}
				buf = append(buf, line...)
			}
			t := time.Now().UnixNano()
			for n := written[i]; n < due; n++ {
				l.writeAt[i][n] = t
			}
			if _, err := outs[i].Write(buf); err != nil {
				return fmt.Errorf("latency writer: %w", err)
			}
			written[i] = due
		}
		if done {
			var total int64
			for _, n := range counts {
				total += n
			}
			l.writeRate = float64(total) / time.Since(start).Seconds()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// follow reads the segment at path while it grows, frame by frame, and records when
// each line was first seen in a complete frame, until it has seen total lines.
func (l *LogspreadLatency) follow(ctx context.Context, c int, path string, total int64) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()

	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var pending, plain []byte
	chunk := make([]byte, 1<<20)
	var seen int64
	for seen < total {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-w.Errors:
			return err
		case <-w.Events:
		case <-poll.C:
		}
		if f == nil {
			if f, err = os.Open(path); errors.Is(err, os.ErrNotExist) {
				f = nil
				continue
			} else if err != nil {
				return err
			}
		}
		for {
			n, err := f.Read(chunk)
			pending = append(pending, chunk[:n]...)
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return err
			}
		}
		at := time.Now().UnixNano()
		for {
			n, err := zstdFrameLen(pending)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if n == 0 {
				break
			}
			if plain, err = dec.DecodeAll(pending[:n], plain[:0]); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			pending = pending[n:]
			l.frames[c]++
			lines, err := l.markSeen(c, plain, at)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			seen += lines
		}
		pending = append([]byte(nil), pending...) // let the consumed bytes go
	}
	return nil
}

// markSeen records at as the instant every "hN SEQ ..." line of plain was seen by
// collector c, and returns how many lines that was.
func (l *LogspreadLatency) markSeen(c int, plain []byte, at int64) (int64, error) {
	var n int64
	for len(plain) > 0 {
		line := plain
		if i := bytes.IndexByte(plain, '\n'); i >= 0 {
			line, plain = plain[:i], plain[i+1:]
		} else {
			plain = nil
		}
		file, seq, ok := parseLatencyPrefix(line)
		if !ok || file >= len(l.seenAt[c]) || seq >= int64(len(l.seenAt[c][file])) {
			return n, fmt.Errorf("unexpected line %.60q", line)
		}
		if l.seenAt[c][file][seq] == 0 {
			l.seenAt[c][file][seq] = at
			n++
		}
	}
	return n, nil
}

// parseLatencyPrefix reads "hN SEQ " (N from 1) at the start of line.
func parseLatencyPrefix(line []byte) (file int, seq int64, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte("h"))
	if !ok {
		return 0, 0, false
	}
	f, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return 0, 0, false
	}
	s, _, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return 0, 0, false
	}
	fn, err1 := strconv.Atoi(string(f))
	sn, err2 := strconv.ParseInt(string(s), 10, 64)
	if err1 != nil || err2 != nil || fn < 1 {
		return 0, 0, false
	}
	return fn - 1, sn, true
}

// Wait implements Scenario: until every collector's follower saw every line.
func (l *LogspreadLatency) Wait(ctx context.Context, r *Run) (time.Time, error) {
	defer func() {
		l.cancel()
		l.wg.Wait()
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for pending := len(l.ls.collectors); pending > 0; {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case err := <-l.writerErr:
			if err != nil {
				return time.Time{}, err
			}
		case err := <-l.followed:
			if err != nil {
				return time.Time{}, err
			}
			pending--
		case <-tick.C:
			if err := l.ls.checkAlive(r); err != nil {
				return time.Time{}, err
			}
		}
	}
	var lat []int64
	var last int64
	for i, file := range l.writeAt {
		for n, w := range file {
			var in int64
			for c := range l.seenAt {
				in = max(in, l.seenAt[c][i][n])
			}
			last = max(last, in)
			lat = append(lat, in-w)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return time.Duration(lat[int(p*float64(len(lat)-1))]) }
	l.stats = &LatencyStats{
		Rate: l.Rate, WriteRate: l.writeRate, Lines: int64(len(lat)), FlushInterval: l.flushInterval(),
		P50: pct(0.50), P99: pct(0.99), Max: time.Duration(lat[len(lat)-1]), Frames: l.frames[0],
	}
	return time.Unix(0, last), nil
}

// Outputs implements Scenario.
func (l *LogspreadLatency) Outputs(r *Run) ([]Output, error) { return l.ls.Outputs(r) }

func countLines(files []string) ([]int64, error) {
	var counts []int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		var n int64
		err = eachLine(f, func([]byte, bool) { n++ })
		f.Close()
		if err != nil {
			return nil, err
		}
		counts = append(counts, n)
	}
	return counts, nil
}

// WriteLatencyInputs writes the inputs of a latency scenario: hosts files under dir
// holding lines loggen lines in all, each prefixed "hN SEQ " (file N from 1, SEQ the
// line's number in its file from 0). It returns the files.
func WriteLatencyInputs(dir string, hosts int, lines int64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for h := 1; h <= hosts; h++ {
		n := lines / int64(hosts)
		if h == 1 {
			n += lines % int64(hosts)
		}
		name := filepath.Join(dir, fmt.Sprintf("host%d.log", h))
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		bw := bufio.NewWriterSize(f, 1<<16)
		g := loggen.New(int64(h), loggen.Options{})
		var buf []byte
		for seq := int64(0); seq < n; seq++ {
			buf = append(buf[:0], 'h')
			buf = strconv.AppendInt(buf, int64(h), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, seq, 10)
			buf = append(buf, ' ')
			buf = g.AppendLine(buf)
			bw.Write(buf)
		}
		err = bw.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	return files, nil
}
