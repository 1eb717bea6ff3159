package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// numbered returns lines from..to-1 of a numbered log, each 100 bytes.
func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %06d %s\n", i, strings.Repeat("x", 100-13))
	}
	return b.String()
}

// readAllLost reads src until io.EOF, checking that every chunk holds the input's bytes at its
// offsets and that the stream continues where the previous chunk ended, Lost bytes later.
// It returns the bytes read and the bytes reported lost.
func readAllLost(t *testing.T, src Source, input string, ack bool) (got, lost int) {
	t.Helper()
	var end uint64
	first := true
	for {
		ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
		c, err := src.Next(ctx, 1000)
		cancel()
		if errors.Is(err, io.EOF) {
			return got, lost
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if err := checkChunk(&c); err != nil {
			t.Fatalf("chunk at %d: %v", c.Offset, err)
		}
		if !first && c.Offset != end+c.Lost {
			t.Fatalf("chunk at %d with %d lost, previous ended at %d", c.Offset, c.Lost, end)
		}
		first = false
		if c.End() > uint64(len(input)) || string(c.Data) != input[c.Offset:c.End()] {
			t.Fatalf("chunk at %d does not hold the input's bytes there: %.40q", c.Offset, c.Data)
		}
		if c.Offset-c.Lost > 0 && c.Lost > 0 && input[c.Offset-1] != '\n' {
			t.Fatalf("chunk at %d after a loss starts inside a line", c.Offset)
		}
		end = c.End()
		got += len(c.Data)
		lost += int(c.Lost)
		if ack {
			if err := src.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestJournalDropOldest: with --journal-full drop-oldest the input never waits for a
// collector: the oldest segments are dropped, and the reader reports exactly the bytes it
// never returned (Chunk.Lost, the metric), resuming at a line start; on restart, the bytes
// between the checkpoint and the first segment left are reported the same way.
func TestJournalDropOldest(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalMax = 16 << 10
	cfg.JournalSegment = 4 << 10
	cfg.JournalFull = JournalDropOldest
	input := numbered(0, 1020)
	var lostFirst int
	func() {
		s := newSources(t, cfg)
		j, pw := openJournal(t, s)
		// The reader holds a segment open, in the middle of it, while it is dropped.
		pw.WriteString(input[:2000])
		c := next(t, j, 500)
		if c.Offset != 0 || string(c.Data) != input[:len(c.Data)] {
			t.Fatalf("first chunk at %d: %.40q", c.Offset, c.Data)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.WriteString(input[2000:100000]) // far beyond the bound, with nobody acknowledging
		}()
		testsupport.Done(t, done, "the input waited for a full journal under drop-oldest")
		testsupport.EventuallyErr(t, func() error {
			if n := testutil.ToFloat64(s.m.JournalWritten); n < 100000 {
				return fmt.Errorf("journal wrote %v bytes, want 100000", n)
			}
			return nil
		})
		if f := j.Fill(); f.Bytes > f.Max+4096+recHeader {
			t.Errorf("journal holds %d bytes, bound %d", f.Bytes, f.Max)
		}
		// Read what is left, acknowledging nothing, then "crash" before the end.
		var end uint64 = c.End()
		got, lost := len(c.Data), 0
		for got+lost < 99000 {
			c := next(t, j, 1000)
			if c.Offset != end+c.Lost || string(c.Data) != input[c.Offset:c.End()] {
				t.Fatalf("chunk at %d (lost %d) after %d: %.40q", c.Offset, c.Lost, end, c.Data)
			}
			end, got, lost = c.End(), got+len(c.Data), lost+int(c.Lost)
		}
		if lost == 0 || float64(lost) != testutil.ToFloat64(s.m.JournalDropped) {
			t.Fatalf("lost %d bytes, metric %v", lost, testutil.ToFloat64(s.m.JournalDropped))
		}
		lostFirst = lost
		j.Close()
		s.Close()
	}()
	// Restart: nothing was acknowledged, and the journal now starts after the checkpoint.
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString(input[100000:])
	pw.Close()
	got, lost := readAllLost(t, j, input, true)
	if lost == 0 || got+lost != len(input) || float64(lost) != testutil.ToFloat64(s.m.JournalDropped) {
		t.Errorf("after restart: read %d, lost %d (metric %v), of %d", got, lost, testutil.ToFloat64(s.m.JournalDropped), len(input))
	}
	t.Logf("first run lost %d bytes; restart read %d and lost %d", lostFirst, got, lost)
}

// TestJournalReclaimsContinuously: acknowledged segments go at once, so a journal bound
// far smaller than the input passes it all with input that never ends (no end-of-input
// roll needed), and the journal on disk stays within its bound.
func TestJournalReclaimsContinuously(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalMax = 32 << 10
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	input := numbered(0, 3000) // 300 KB through 32 KiB
	go pw.WriteString(input)   // returns when the pipe is closed at cleanup at the latest
	var got strings.Builder
	for got.Len() < len(input) {
		c := next(t, j, 4096)
		got.Write(c.Data)
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		if f := j.Fill(); f.Bytes > f.Max+4096+recHeader+100 {
			t.Fatalf("journal holds %d bytes, bound %d", f.Bytes, f.Max)
		}
	}
	if got.String() != input {
		t.Fatalf("read %d bytes, differ at %d", got.Len(), firstDiff([]byte(got.String()), []byte(input)))
	}
	testsupport.EventuallyErr(t, func() error {
		if f := j.Fill(); f.Bytes > 4096+recHeader+100 {
			return fmt.Errorf("journal holds %d bytes after everything was acknowledged", f.Bytes)
		}
		return nil
	})
}

// corruptState zeroes a source's checkpoint and its previous copy and, if record, removes
// the record of followed sources.
func corruptState(t *testing.T, stateDir, path string, record bool) {
	t.Helper()
	st, err := OpenStore(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{st.File(path), st.prevFile(path)} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, make([]byte, fi.Size()), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if record {
		if err := os.Remove(filepath.Join(stateDir, followedName)); err != nil {
			t.Fatal(err)
		}
	}
}

// shipFile reads path's current content through a tailer (from the beginning) and
// acknowledges it, as a shipper that then stops; it returns the stream.
func shipFile(t *testing.T, cfg Config, path string, want string) uint64 {
	t.Helper()
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	var got strings.Builder
	for got.Len() < len(want) {
		c := next(t, tl, 1<<20)
		got.Write(c.Data)
		if err := tl.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		if err := tl.Ack(c.Pos); err != nil { // twice: the previous copy is this position too
			t.Fatal(err)
		}
	}
	if got.String() != want {
		t.Fatalf("shipped %q, want %q", got.String(), want)
	}
	tl.Close()
	s.Close()
	return tl.Stream()
}

// TestTailLostCheckpoint is case 05 of the sources issue, at the source: a file's
// checkpoint is lost (zeroed, or deleted, with its previous copy) while lines are
// written. The file is not a new one read from its end: it resumes at its start with its
// stream and offsets (collectors drop the first part as already written), also when it
// was rotated meanwhile. Without the record either, a zeroed checkpoint is an error that
// Config.Reset resolves.
func TestTailLostCheckpoint(t *testing.T) {
	for _, how := range []string{"zeroed", "deleted", "rotated"} {
		t.Run(how, func(t *testing.T) {
			cfg, w := testConfig(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "access.log")
			first := numbered(0, 10)
			appendFile(t, path, first)
			stream := shipFile(t, cfg, path, first)
			more := numbered(10, 20)
			want := first + more
			switch how {
			case "zeroed":
				appendFile(t, path, more)
				corruptState(t, cfg.StateDir, path, false)
			case "deleted":
				appendFile(t, path, more)
				st, _ := OpenStore(cfg.StateDir)
				os.Remove(st.File(path))
				os.Remove(st.prevFile(path))
				st.Close()
			case "rotated":
				appendFile(t, path, more[:500])
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, more[500:])
				corruptState(t, cfg.StateDir, path, false)
			}
			s := newSources(t, cfg)
			tl := openTailer(t, s, path)
			r := startReader(t, tl, 1<<20)
			r.waitFor([]byte(want), w)
			c := r.snapshot()[0]
			if c.Offset != 0 || c.Stream != stream {
				t.Errorf("resumed at offset %d of stream %x, want 0 of %x", c.Offset, c.Stream, stream)
			}
			if n := testutil.ToFloat64(s.m.CheckpointFallbacks); n != 1 {
				t.Errorf("fallbacks %v, want 1", n)
			}
		})
	}
	for _, reset := range []ResetPoint{"", ResetStart, ResetEnd} {
		t.Run("unrecoverable "+string(reset), func(t *testing.T) {
			cfg, w := testConfig(t)
			path := filepath.Join(t.TempDir(), "access.log")
			first := numbered(0, 10)
			appendFile(t, path, first)
			stream := shipFile(t, cfg, path, first)
			appendFile(t, path, numbered(10, 20))
			corruptState(t, cfg.StateDir, path, true)
			if reset != "" {
				cfg.Reset = map[string]ResetPoint{path: reset}
			}
			s := newSources(t, cfg)
			tl, err := s.OpenFile(path)
			if reset == "" {
				ce, ok := errors.AsType[*CorruptCheckpointError](err)
				if !ok || ce.Source != path || !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), "NUL") {
					t.Fatalf("OpenFile: %v, want a CorruptCheckpointError naming the source", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tl.Close() })
			want := numbered(0, 20)
			if reset == ResetEnd {
				appendFile(t, path, numbered(20, 21))
				want = numbered(20, 21)
			}
			r := startReader(t, tl, 1<<20)
			r.waitFor([]byte(want), w)
			if c := r.snapshot()[0]; c.Stream == stream {
				t.Errorf("reset kept the stream id")
			}
		})
	}
}

// TestJournalLostCheckpoint: the journal's checkpoint zeroed with its previous copy
// resumes at the first segment on disk with its stream (the record); without the record
// it is an error that Config.Reset resolves (start: the journal on disk again as a new
// stream; end: only new input).
func TestJournalLostCheckpoint(t *testing.T) {
	input := numbered(0, 100)
	for _, tc := range []struct {
		name   string
		record bool
		reset  ResetPoint
		want   string
	}{
		{name: "record", record: true, want: input},
		{name: "no record"},
		{name: "reset start", reset: ResetStart, want: input},
		{name: "reset end", reset: ResetEnd, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := testConfig(t)
			var stream uint64
			func() {
				s := newSources(t, cfg)
				j, pw := openJournal(t, s)
				stream = j.Stream()
				pw.WriteString(input)
				var got int
				for got < len(input)/2 {
					c := next(t, j, 1000)
					got += len(c.Data)
					j.Ack(c.Pos)
					j.Ack(c.Pos)
				}
				j.Close()
				s.Close()
			}()
			corruptState(t, cfg.StateDir, stdinPrefix+"stdin", !tc.record)
			if tc.reset != "" {
				cfg.Reset = map[string]ResetPoint{StdinSource: tc.reset}
			}
			s := newSources(t, cfg)
			pr, pw, _ := os.Pipe()
			t.Cleanup(func() { pw.Close() })
			j, err := s.OpenJournal("stdin", pr)
			if !tc.record && tc.reset == "" {
				if ce, ok := errors.AsType[*CorruptCheckpointError](err); !ok || ce.Source != StdinSource {
					t.Fatalf("OpenJournal: %v, want a CorruptCheckpointError for -", err)
				}
				pr.Close()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			tail := numbered(100, 101)
			pw.WriteString(tail)
			pw.Close()
			var got bytes.Buffer
			for {
				ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
				c, err := j.Next(ctx, 1000)
				cancel()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got.Write(c.Data)
			}
			// The journal kept what was not wholly acknowledged: it starts at a segment.
			if want := tc.want + tail; !strings.HasSuffix(want, got.String()) || got.Len() < len(tail) ||
				(tc.want != "" && got.Len() < len(want)/2) {
				t.Errorf("read %d bytes %.40q..., want a suffix of the %d bytes journaled", got.Len(), got.String(), len(want))
			}
			if tc.record != (j.Stream() == stream) {
				t.Errorf("stream %x, first run's %x (record %v)", j.Stream(), stream, tc.record)
			}
		})
	}
}
