package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openJournal(t *testing.T, s *Set) (*Journal, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.OpenJournal("stdin", pr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); j.Close() })
	return j, pw
}

func TestJournalEOFAndRestart(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalSegment = 4096
	cfg.JournalMax = 1 << 20
	var want strings.Builder
	var acked Checkpoint
	var got strings.Builder
	func() {
		s := newSources(t, cfg)
		j, pw := openJournal(t, s)
		for i := range 200 {
			line := strings.Repeat("j", i%100) + "\n"
			want.WriteString(line)
			pw.WriteString(line)
		}
		// Read some, acknowledge part of it, then "crash" (close without acking the rest).
		for got.Len() < 6000 {
			c := next(t, j, 1000)
			got.WriteString(string(c.Data))
			if got.Len() < 4000 {
				acked = c.Pos
			}
		}
		if err := j.Ack(acked); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		j.Close()
		s.Close()
	}()
	segs, _ := filepath.Glob(filepath.Join(cfg.StateDir, "journal-*", "*.jnl"))
	if len(segs) < 2 {
		t.Errorf("%d segments left, want several (4 KiB segments)", len(segs))
	}
	// Restart: the unacknowledged rest is resent from the journal, then new input.
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("new 1\nnew 2 without newline")
	pw.Close()
	var again strings.Builder
	off := acked.Offset
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	for {
		c, err := j.Next(ctx, 1000)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Offset != off {
			t.Fatalf("offset %d, want %d", c.Offset, off)
		}
		off = c.End()
		again.WriteString(string(c.Data))
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	wantRest := want.String()[acked.Offset:] + "new 1\nnew 2 without newline\n"
	if again.String() != wantRest {
		t.Fatalf("after restart got %d bytes, want %d; differ at %d", again.Len(), len(wantRest), firstDiff([]byte(again.String()), []byte(wantRest)))
	}
	segs, _ = filepath.Glob(filepath.Join(j.Dir(), "*.jnl"))
	if len(segs) != 1 {
		t.Errorf("%d segments after everything was acknowledged, want 1", len(segs))
	}
}

func TestJournalTornRecord(t *testing.T) {
	cfg, _ := testConfig(t)
	var dir string
	func() {
		s := newSources(t, cfg)
		j, pw := openJournal(t, s)
		pw.WriteString("whole 1\n")
		c := next(t, j, 1000)
		if string(c.Data) != "whole 1\n" {
			t.Fatalf("got %q", c.Data)
		}
		dir = j.Dir()
		pw.Close()
		j.Close()
		s.Close()
	}()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.jnl"))
	last := segs[len(segs)-1]
	// A torn record: a header promising 100 bytes, then 3.
	appendFile(t, last, "\x64\x00\x00\x00\x00\x00\x00\x00abc")
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("whole 2\n")
	pw.Close()
	var got strings.Builder
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
	if got.String() != "whole 1\nwhole 2\n" {
		t.Errorf("got %q", got.String())
	}
}

func TestJournalCorruptMiddleSegment(t *testing.T) {
	cfg, _ := testConfig(t)
	dir := filepath.Join(cfg.StateDir, "journal-"+storeKey("stdin:stdin"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	appendFile(t, segName(dir, 0), "\x05\x00\x00\x00\x00\x00\x00\x00hello") // bad CRC
	appendFile(t, segName(dir, 5), "")
	s := newSources(t, cfg)
	// The corrupt record is cut; the next segment says where the stream goes on: its
	// offsets are a hole, announced lost.
	j, err := s.OpenJournal("stdin", strings.NewReader("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	chs := readJournal(t, j)
	if len(chs) != 1 || string(chs[0].Data) != "new\n" || chs[0].Offset != 5 || chs[0].Lost != 5 {
		t.Errorf("got %+v, want %q at offset 5, 5 bytes lost", chs, "new\n")
	}
}

func TestJournalFullBlocksInput(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalSegment = 4096
	cfg.JournalMax = 8192
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	line := strings.Repeat("f", 999) + "\n"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 40 { // 40 KB through an 8 KiB journal
			if _, err := pw.WriteString(line); err != nil {
				return
			}
		}
		pw.Close()
	}()
	total := 0
	for {
		ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
		c, err := j.Next(ctx, 4096)
		cancel()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += len(c.Data)
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if total != 40*len(line) {
		t.Errorf("read %d bytes, want %d", total, 40*len(line))
	}
}

// TestJournalSegmentsEndAtLineEnds: input written in pieces that split lines, with one
// line longer than the read buffer: every segment ends at a line end, except the parts
// of the long line, which starts a segment of its own. (A segment closed inside a line
// holds acknowledged bytes that cannot be freed until the next line is acknowledged: on a
// full file system, never.)
func TestJournalSegmentsEndAtLineEnds(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.ReadBuffer = 4096
	cfg.JournalSegment = 4096
	cfg.JournalMax = 1 << 20
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	var want strings.Builder
	for i := range 400 {
		if i == 200 {
			want.WriteString(strings.Repeat("L", 3*4096+100) + "\n")
		}
		fmt.Fprintf(&want, "%d %s\n", i, strings.Repeat("x", i*7%300))
	}
	longStart := uint64(strings.Index(want.String(), "L"))
	in := want.String()
	go func() {
		for k := 0; len(in) > 0; k++ {
			n := min(len(in), 1+k*37%1500)
			pw.WriteString(in[:n])
			in = in[n:]
		}
		pw.Close()
	}()
	var got strings.Builder
	for got.Len() < want.Len() {
		got.Write(next(t, j, 8192).Data)
	}
	segs, _ := filepath.Glob(filepath.Join(j.Dir(), "*.jnl"))
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many (4 KiB)", len(segs))
	}
	longOwn := false
	for _, name := range segs {
		p := segmentPayload(t, name)
		start, _ := strconv.ParseUint(strings.SplitN(filepath.Base(name), ".", 2)[0], 16, 64)
		if start == longStart {
			longOwn = true
		}
		inLong := start >= longStart && start < longStart+3*4096+101
		if len(p) > 0 && p[len(p)-1] != '\n' && !inLong {
			t.Errorf("segment %s (%d bytes) ends inside a line: ...%q", filepath.Base(name), len(p), p[max(0, len(p)-20):])
		}
	}
	if !longOwn {
		t.Errorf("the line longer than the read buffer (at %d) does not start a segment", longStart)
	}
}

// segmentPayload returns the payload of a journal segment file.
func segmentPayload(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var p strings.Builder
	for len(b) >= recHeader {
		n := int(binary.LittleEndian.Uint32(b))
		p.Write(b[recHeader : recHeader+n])
		b = b[recHeader+n:]
	}
	return p.String()
}

// TestJournalCorruptLastRecord: a last record written whole whose checksum does not
// match (bit rot) was durable and may have been sent: it is cut, and the stream skips
// its offsets, so that new input is not given offsets collectors hold other bytes at
// (they would drop it as duplicates). The bytes not acknowledged are reported lost
// (Chunk.Lost, and the journal's dropped bytes); acknowledged ones are not.
func TestJournalCorruptLastRecord(t *testing.T) {
	for _, acked := range []bool{false, true} {
		t.Run(fmt.Sprintf("acked=%v", acked), func(t *testing.T) {
			cfg, _ := testConfig(t)
			var dir string
			func() {
				s := newSources(t, cfg)
				j, pw := openJournal(t, s)
				pw.WriteString("whole 1\n")
				c := next(t, j, 1000)
				pw.WriteString("second line\n")
				c2 := next(t, j, 1000)
				if string(c.Data)+string(c2.Data) != "whole 1\nsecond line\n" {
					t.Fatalf("got %q %q", c.Data, c2.Data)
				}
				if err := j.Ack(c.Pos); err != nil {
					t.Fatal(err)
				}
				if acked {
					if err := j.Ack(c2.Pos); err != nil {
						t.Fatal(err)
					}
				}
				dir = j.Dir()
				pw.Close()
				j.Close()
				s.Close()
			}()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.jnl"))
			last := segs[len(segs)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0x41 // in "second line\n"
			if err := os.WriteFile(last, b, 0o640); err != nil {
				t.Fatal(err)
			}
			s := newSources(t, cfg)
			j, pw := openJournal(t, s)
			pw.WriteString("new\n")
			pw.Close()
			ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
			defer cancel()
			var got strings.Builder
			var lost uint64
			off := uint64(0)
			for {
				c, err := j.Next(ctx, 1000)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if off == 0 {
					off = c.Offset
				}
				lost += c.Lost
				got.Write(c.Data)
			}
			const skipped = uint64(len("whole 1\nsecond line\n"))
			if off != skipped || got.String() != "new\n" {
				t.Errorf("new input %q at offset %d, want %q at %d (after the corrupt record's offsets)", got.String(), off, "new\n", skipped)
			}
			wantLost := uint64(len("second line\n"))
			if acked {
				wantLost = 0
			}
			if lost != wantLost {
				t.Errorf("lost %d bytes, want %d", lost, wantLost)
			}
			if got := testutil.ToFloat64(s.m.JournalDropped); got != float64(wantLost) {
				t.Errorf("journal dropped bytes %v, want %d", got, wantLost)
			}
		})
	}
}
