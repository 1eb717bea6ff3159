package source

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Regression tests for restarts around copytruncate's window (the copy, lines written to
// the file and read by the tailer, then the truncation): the run before read the file
// past the copy's end, and sent those lines at the offsets that follow the copy's; they
// are gone from disk after the truncation. A restart that walks through the copy must
// never put other bytes at those offsets (collectors keep what they have at an offset
// and drop what comes there again: the next generation's lines were lost, silently).

// stream rebuilds a stream as collectors do and checks every chunk against it: the bytes
// of a chunk sent again at an offset are the ones first sent there, and no line arrives
// at two offsets.
type stream struct {
	t     *testing.T
	bytes map[uint64]byte
	line  map[string]uint64 // offset of each line
}

func newStream(t *testing.T) *stream {
	return &stream{t: t, bytes: map[uint64]byte{}, line: map[string]uint64{}}
}

func (s *stream) add(cs ...Chunk) {
	s.t.Helper()
	for _, c := range cs {
		for i, b := range c.Data {
			off := c.Offset + uint64(i)
			if was, ok := s.bytes[off]; ok && was != b {
				s.t.Fatalf("chunk at %d puts other bytes at offset %d than were sent there: offsets reused", c.Offset, off)
			}
			s.bytes[off] = b
		}
		off := c.Offset
		for _, l := range bytes.SplitAfter(c.Data, []byte{'\n'}) {
			if len(l) == 0 {
				continue
			}
			if was, ok := s.line[string(l)]; ok && was != off {
				s.t.Fatalf("line %q at offset %d, sent before at %d: twice", l, off, was)
			}
			s.line[string(l)] = off
			off += uint64(len(l))
		}
	}
}

// readAll reads what the tailer has (up to max bytes), adds it to the stream and checks
// that it is want.
func (s *stream) readAll(w *ManualWaker, tl Source, max int, want string) []Chunk {
	s.t.Helper()
	got := readChunks(s.t, w, tl, max)
	s.add(got...)
	wantRead(s.t, chunkData(got), want)
	return got
}

// appendRead appends data to path, sets its mtime to sec, and reads it all (readAll).
func (s *stream) appendRead(w *ManualWaker, tl Source, path, data string, sec int) []Chunk {
	s.t.Helper()
	appendFile(s.t, path, data)
	stamp(s.t, path, sec)
	return s.readAll(w, tl, 64<<10, data)
}

// windowRun is a first run: lines a are read, the first chunk acknowledged; copytruncate
// copies the file to path.1 and the writer appends lines w, which the tailer reads from
// the file before the truncation; then new lines c are written. It returns the stream of
// what was sent, where the run's offsets ended, and its tailer. between runs before the
// truncation.
func windowRun(t *testing.T, s *Set, w *ManualWaker, path string, between func(*Tailer)) (*stream, uint64, *Tailer) {
	t.Helper()
	a := lines("a", 1, 10)
	appendFile(t, path, a)
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	first := readChunks(t, w, tl, 300) // a few chunks: the checkpoint is inside the file
	wantRead(t, chunkData(first), a)
	if err := tl.Ack(first[0].Pos); err != nil {
		t.Fatal(err)
	}
	copyOnly(t, path, path+".1")
	stamp(t, path+".1", 1)
	in := lines("w", 1, 3)
	appendFile(t, path, in)
	stamp(t, path, 1)
	window := readChunks(t, w, tl, 64<<10) // read, never acknowledged
	wantRead(t, chunkData(window), in)
	st := newStream(t)
	st.add(first...)
	st.add(window...)
	if between != nil {
		between(tl)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("c", 1, 5))
	stamp(t, path, 2)
	return st, window[len(window)-1].End(), tl
}

// TestTailRestartAfterCopyReadPastItsEnd: the shipper stops after the window's lines were
// read from the file and before the truncation was noticed. The restart drains the copy
// from the checkpoint (the same bytes at the same offsets), then the file's new lines
// after the offsets the window's lines had: exactly there when the run before closed
// cleanly (and through a second restart that did not get that far), past them by
// LossGap when it did not (how far it read is not known).
func TestTailRestartAfterCopyReadPastItsEnd(t *testing.T) {
	for _, tc := range []string{"clean", "twice", "crash"} {
		t.Run(tc, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			st, sent, tl := windowRun(t, s, w, path, nil)
			gens := s.store.genFile(path)
			crashed, err := os.ReadFile(gens)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			kept := err == nil
			tl.Close()
			switch tc {
			case "crash":
				// The state as a crash left it: no record of how far the run went.
				if kept {
					err = os.WriteFile(gens, crashed, 0o640)
				} else if err = os.Remove(gens); errors.Is(err, fs.ErrNotExist) {
					err = nil // the base has no record either
				}
				if err != nil {
					t.Fatal(err)
				}
			case "twice":
				// A run that resumes in the copy (its checkpoint at open names the
				// copy) and stops before it gets to the file.
				tl := openTailer(t, s, path)
				if !strings.HasSuffix(tl.g.name, ".1") {
					t.Fatalf("resumed in %s, want the copy", tl.g.name)
				}
				tl.Close()
			}
			again := readChunks(t, w, openTailer(t, s, path), 64<<10)
			st.add(again...)
			got := chunkData(again)
			a, c := lines("a", 1, 10), lines("c", 1, 5)
			if !strings.HasSuffix(got, c) || !strings.HasSuffix(a, strings.TrimSuffix(got, c)) {
				t.Fatalf("after the restart read %q, want the copy's rest from the checkpoint, then %q", got, c)
			}
			at := again[len(again)-1].End() - uint64(len(c))
			jumps := testutil.ToFloat64(s.m.StreamJumps)
			switch {
			case tc == "crash" && (at < sent || at < LossGap || jumps != 1):
				t.Errorf("new lines at %d (%d jumps), want a LossGap jump past %d: how far the run before read is not known", at, int(jumps), sent)
			case tc != "crash" && (at != sent || jumps != 0):
				t.Errorf("new lines at %d (%d jumps), want at %d, where the window's lines sent before the restart end", at, int(jumps), sent)
			}
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0: every byte the file held was read", got)
			}
		})
	}
}

// TestTailRestartInCopytruncateWindow: the shipper restarts between the copy and the
// truncation, after the window's lines were read from the file; the restarted tailer
// resumes in the file (still whole), sees the truncation before it read again, drains the
// copy from the checkpoint, and reads the file's new lines after the offsets the
// window's lines had.
func TestTailRestartInCopytruncateWindow(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	var tl *Tailer
	st, sent, _ := windowRun(t, s, w, path, func(first *Tailer) {
		first.Close()
		tl = openTailer(t, s, path)
	})
	again := readChunks(t, w, tl, 64<<10)
	st.add(again...)
	a, c := lines("a", 1, 10), lines("c", 1, 5)
	got := chunkData(again)
	if !strings.HasSuffix(got, c) || !strings.HasSuffix(a, strings.TrimSuffix(got, c)) {
		t.Fatalf("after the restart read %q, want the copy's rest from the checkpoint, then %q", got, c)
	}
	if at := again[len(again)-1].End() - uint64(len(c)); at != sent {
		t.Errorf("new lines at %d, want at %d, where the window's lines sent before the restart end", at, sent)
	}
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0: the window's lines were read before the restart", got)
	}
}

// TestTailCopyFoundInWindowWhileLineHalfRead: the tailer read part of a line (its head is
// part of a line), the writer ends the line, copytruncate copies the file and lines are
// appended, and the tailer looks before the truncation: it finds the copy (it holds the
// bytes read), drains it, and goes on in the file from the copy's end, which the file
// still starts with (it read the file from its start again: the line twice).
func TestTailCopyFoundInWindowWhileLineHalfRead(t *testing.T) {
	a := lines("a", 1, 1)
	_, w, path, tl := modelTailer(t, a[:20])
	st := newStream(t)
	if got := readChunks(t, w, tl, 64<<10); len(got) != 0 {
		t.Fatalf("read %q before a line end", chunkData(got))
	}
	appendFile(t, path, a[20:])
	copyOnly(t, path, path+".1")
	stamp(t, path+".1", 1)
	in := lines("w", 1, 2)
	appendFile(t, path, in)
	stamp(t, path, 2)
	st.readAll(w, tl, 64<<10, a+in)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	c := lines("c", 1, 2)
	st.appendRead(w, tl, path, c, 3)
}

// TestTailRestartCopyShorterThanHead: the file's new content is copied (copytruncate)
// before the tailer first saw it, lines are appended and read (the head the tailer
// records is longer than the copy), then the truncation. A restart from a checkpoint
// before that content walks through the copy: it is the same bytes at the same offsets
// (it was taken for a generation never read, and sent again past a LossGap jump: its
// lines twice), and the file's next lines come after what was sent.
func TestTailRestartCopyShorterThanHead(t *testing.T) {
	a := lines("a", 1, 10)
	s, w, path, tl := modelTailer(t, a)
	st := newStream(t)
	first := st.readAll(w, tl, 300, a)
	if err := tl.Ack(first[0].Pos); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	stamp(t, path, 1)
	if got := readChunks(t, w, tl, 64<<10); len(got) != 0 { // notices the truncation
		t.Fatalf("read %q from the copy of what was read", chunkData(got))
	}
	b1 := lines("b", 1, 1)
	appendFile(t, path, b1)
	copyOnly(t, path, path+".2")
	stamp(t, path+".2", 2)
	in := lines("b", 2, 3)
	appendFile(t, path, in)
	stamp(t, path, 2)
	got := st.readAll(w, tl, 64<<10, b1+in)
	sent := got[len(got)-1].End()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	stamp(t, path, 3)
	tl.Close()
	tl = openTailer(t, s, path)
	c := lines("c", 1, 2)
	appendFile(t, path, c)
	stamp(t, path, 4)
	again := readChunks(t, w, tl, 64<<10)
	st.add(again...)
	if got := chunkData(again); !strings.HasSuffix(got, b1+c) {
		t.Fatalf("after the restart read %q, want the copies from the checkpoint, then %q", got, c)
	}
	if at := again[len(again)-1].End() - uint64(len(c)); at != sent {
		t.Errorf("new lines at %d, want %d, where the lines sent before the restart end", at, sent)
	}
	if jumps := testutil.ToFloat64(s.m.StreamJumps); jumps != 0 {
		t.Errorf("%v stream jumps, want 0", jumps)
	}
}

// TestTailRestartThenCopyLineReadInWindow: after a restart that resumed at a checkpoint
// whose head is the whole fingerprint (its bytes were not known, only their hash),
// copytruncate copies the file, a line appended in the window is read, then the
// truncation: the copy holds only bytes read already, and is not drained again (its lines
// twice, at new offsets).
func TestTailRestartThenCopyLineReadInWindow(t *testing.T) {
	a := lines("a", 1, 20) // more than FingerprintLen
	s, w, path, tl := modelTailer(t, a)
	st := newStream(t)
	first := st.readAll(w, tl, 64<<10, a)
	if err := tl.Ack(first[len(first)-1].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	tl = openTailer(t, s, path)
	if got := readChunks(t, w, tl, 64<<10); len(got) != 0 {
		t.Fatalf("read %q after the restart", chunkData(got))
	}
	copyOnly(t, path, path+".1")
	in := lines("w", 1, 1)
	appendFile(t, path, in)
	stamp(t, path, 1)
	stamp(t, path+".1", 1) // within one tick of the write after it
	st.readAll(w, tl, 64<<10, in)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	c := lines("c", 1, 2)
	st.appendRead(w, tl, path, c, 2)
}

// TestTailCopyFoundAfterLookInWindow: the tailer is behind (its read offset inside what
// copytruncate copies) and looks at the file in copytruncate's window, after the copy was
// made: the file's modification time it saw is newer than the copy's. When the truncation
// is noticed, while running or after a restart, the copy is still found (it was made
// while the generation was followed, not only since the last look): the lines it holds
// past the read offset are drained from it, never counted lost; only the window's lines
// the tailer did not read are.
func TestTailCopyFoundAfterLookInWindow(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "restart"}[restart], func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			a := lines("a", 1, 4000) // more than the tailer reads at once
			appendFile(t, path, a)
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			next := func() Chunk {
				t.Helper()
				c, err := tl.Next(context.Background(), 300)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			first := next()
			if err := tl.Ack(first.Pos); err != nil {
				t.Fatal(err)
			}
			copyOnly(t, path, path+".1")
			stamp(t, path+".1", 1)
			win := lines("w", 1, 3)
			appendFile(t, path, win)
			stamp(t, path, 2)
			// Read on until the tailer reads the file again: a look in the window (the
			// file's time is newer than the copy's).
			read, at := len(first.Data), tl.g.readOff
			var last Chunk
			for tl.g.readOff == at {
				last = next()
				read += len(last.Data)
			}
			if err := tl.Ack(last.Pos); err != nil { // a checkpoint taken after that look
				t.Fatal(err)
			}
			if tl.g.readOff >= int64(len(a)) {
				t.Fatalf("read offset %d past the copy's end %d: the test needs the tailer behind", tl.g.readOff, len(a))
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			c := lines("c", 1, 5)
			appendFile(t, path, c)
			stamp(t, path, 3)
			from := read
			if restart {
				tl.Close()
				tl = openTailer(t, s, path)
			}
			got := chunkData(readChunks(t, w, tl, 64<<10))
			if want := a[from:] + c; got != want {
				t.Fatalf("after the truncation read %d bytes, want %d: the copy's rest from file offset %d, then %d bytes of new lines (first difference at %d)",
					len(got), len(want), from, len(c), firstDiff([]byte(got), []byte(want)))
			}
			if got, want := testutil.ToFloat64(s.m.LostBytes), float64(len(win)); !restart && got != want {
				t.Errorf("lost bytes %v, want %v: the window's lines, never read", got, want)
			}
		})
	}
}

// TestTailRestartCopyDrainedThenLeft: the shipper is down while copytruncate copies a
// file whose head the checkpoint knows only as part of a line (a line half written when
// it was last looked at); the next run drains the copy, then the file truncated in
// place. Two runs later, the file is renamed away and left: the copy, born after the
// file it copies (statx), is not taken for a generation rotated after it that no run
// read. The run that drained it records where it left the copy, as a run that finds a
// copy while running does (the record names the copy; the copied generation's head,
// part of a line, does not tell it). It was drained again, its lines twice
// (TestTailModel seed 1796214928535218697, 60 operations).
func TestTailRestartCopyDrainedThenLeft(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	st := newStream(t)

	// Run 1: the checkpoint at file offset 0 names a head that is part of a line (of
	// another client than the lines after it: a head the next content starts with too
	// makes the walk jump past the generation it names, another matter).
	half := "10.0.0.9 - - [30/Nov"
	appendFile(t, path, half)
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	if got := readChunks(t, w, tl, 64<<10); len(got) != 0 {
		t.Fatalf("read %q of a line half written", chunkData(got))
	}
	tl.Close()

	// Down: the line ends, copytruncate copies and truncates the file.
	a := half + "/2026:10:00:00 +0000] \"GET /a/000001 HTTP/1.1\" 200 512\n"
	appendFile(t, path, a[len(half):])
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	stamp(t, path, 2)

	// Run 2 drains the copy, then the file from 0.
	tl = openTailer(t, s, path)
	b := lines("b", 1, 3)
	appendFile(t, path, b)
	stamp(t, path, 3)
	got := st.readAll(w, tl, 64<<10, a+b)
	if err := tl.Ack(got[len(got)-1].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()

	// Run 3 resumes in the file, which is renamed away (the next file written) and left.
	tl = openTailer(t, s, path)
	c := lines("c", 1, 2)
	st.appendRead(w, tl, path, c, 4)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	d := lines("d", 1, 2)
	st.appendRead(w, tl, path, d, 5)
	if n := testutil.ToFloat64(s.m.GenerationsFound); n != 0 {
		t.Errorf("%v rotated generations drained as not read yet, want 0 (the copy was drained in run 2)", n)
	}
	if jumps := testutil.ToFloat64(s.m.StreamJumps); jumps != 0 {
		t.Errorf("%v stream jumps, want 0", jumps)
	}
}
