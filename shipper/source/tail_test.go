package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func appendFile(t *testing.T, name string, data string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// openAppend opens name to append to it (created if need be), as a writer that keeps its
// descriptor across rotations does; it is closed at the end of the test.
func openAppend(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// writeString writes s to f.
func writeString(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func openTailer(t *testing.T, s *Set, path string) *Tailer {
	t.Helper()
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

func next(t *testing.T, src Source, max int) Chunk {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	c, err := src.Next(ctx, max)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if err := checkChunk(&c); err != nil {
		t.Fatalf("chunk at %d: %v", c.Offset, err)
	}
	return c
}

func TestTailStartsAtEndWithoutCheckpoint(t *testing.T) {
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "old line\n")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	appendFile(t, path, "new line\n")
	r.waitFor([]byte("new line\n"), w)
}

func TestTailSplitLineAndBinary(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "first\nsecond half")
	tl := openTailer(t, s, path)
	c := next(t, tl, 1024)
	if string(c.Data) != "first\n" || c.Lines != 1 || c.Offset != 0 {
		t.Fatalf("got %q lines %d offset %d", c.Data, c.Lines, c.Offset)
	}
	r := startReader(t, tl, 1024)
	bin := "\x00\r\n\n\xff\xfe bad utf8 \xc3\x28\r\n"
	appendFile(t, path, " done\n"+bin)
	r.waitFor([]byte("second half done\n"+bin), w)
	if got := r.snapshot()[0].Offset; got != 6 {
		t.Errorf("second chunk at offset %d, want 6", got)
	}
}

// TestTailNextAppend: a Tailer is an Appender: the chunk's data goes into the spare
// capacity of the caller's buffer when it has room (and nothing before it is touched),
// into a new slice when it has not; the chunks are those Next returns.
func TestTailNextAppend(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "first\nsecond\nthird line\n")
	tl := openTailer(t, s, path)
	var app Appender = tl
	buf := append(make([]byte, 0, 32), "kept:"...)
	c, err := app.NextAppend(context.Background(), 14, buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Data) != "first\nsecond\n" || c.Lines != 2 || c.Offset != 0 || &c.Data[0] != &buf[:len(buf)+1][len(buf)] {
		t.Fatalf("NextAppend with room: %q lines %d offset %d, in the buffer: %v", c.Data, c.Lines, c.Offset, &c.Data[0] == &buf[:len(buf)+1][len(buf)])
	}
	if got := string(buf[:len(buf)+len(c.Data)]); got != "kept:first\nsecond\n" {
		t.Errorf("buffer holds %q", got)
	}
	small := append(make([]byte, 0, 8), "kept:"...)
	c, err = app.NextAppend(context.Background(), 64, small)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Data) != "third line\n" || c.Offset != 13 {
		t.Fatalf("NextAppend without room: %q offset %d", c.Data, c.Offset)
	}
	if string(small[:cap(small)][:5]) != "kept:" {
		t.Errorf("buffer without room changed: %q", small[:cap(small)])
	}
}

func TestTailLongLinesFragmentInOrder(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	long := strings.Repeat("0123456789", 20000) + "\n" // 200,001 bytes
	want := "short\n" + long + "after\n" + strings.Repeat("y", 1000) + "\n"
	appendFile(t, path, want)
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 1000)
	r.waitFor([]byte(want), w)
	var frags []envelope.BatchFlags
	for _, c := range r.snapshot() {
		if c.Flags&envelope.FlagFragment != 0 {
			frags = append(frags, c.Flags)
		}
	}
	// 200,000 bytes in 200 pieces of 1000, then "\n"; then 1000 bytes and "\n".
	if len(frags) != 203 || frags[0] != envelope.FlagFragment|envelope.FlagFirst ||
		frags[200] != envelope.FlagFragment|envelope.FlagLast || frags[201] != envelope.FlagFragment|envelope.FlagFirst {
		t.Errorf("fragment flags: %d pieces, first %v, last %v", len(frags), frags[0], frags[len(frags)-1])
	}
	for _, c := range r.snapshot() {
		if len(c.Data) > 1000 {
			t.Errorf("chunk of %d bytes above max", len(c.Data))
		}
	}
}

func TestTailTruncatesAtHardMax(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.MaxLine = 1000
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	huge := strings.Repeat("x", 5000)
	appendFile(t, path, "a\n"+huge+"\nb\n")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 300)
	want := "a\n" + huge[:999] + "\nb\n"
	r.waitFor([]byte(want), w)
	var span uint64
	for _, c := range r.snapshot() {
		span += c.Span
		if c.Flags&envelope.FlagTruncated != 0 && c.Flags&envelope.FlagLast == 0 {
			t.Errorf("truncated piece without FlagLast")
		}
	}
	if want := uint64(2 + 5001 + 2); span != want {
		t.Errorf("spans add to %d, want %d", span, want)
	}
	if got := testutil.ToFloat64(s.m.LinesTruncated); got != 1 {
		t.Errorf("truncated lines metric %v, want 1", got)
	}
}

// TestTailRenameRotationFullSpeed rotates by rename while a writer writes as fast as it can.
func TestTailRenameRotationFullSpeed(t *testing.T) {
	testRotation(t, func(i int) bool { return i%20000 == 19999 }, 100000, 0)
}

// TestTailRotationEvery100ms rotates every 100 ms.
func TestTailRotationEvery100ms(t *testing.T) {
	testRotation(t, nil, 0, 100*time.Millisecond)
}

func testRotation(t *testing.T, rotateAt func(int) bool, lines int, every time.Duration) {
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, "")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)

	var want bytes.Buffer
	func() { // the writer, on the test's goroutine: it waits for the reader before each rotation
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		var tick <-chan time.Time
		if every > 0 {
			tk := time.NewTicker(every)
			defer tk.Stop()
			tick = tk.C
			lines = 1 << 30
		}
		rotations := 0
		prevEnd := 0
		rotate := func() {
			// The tailer follows one rotated generation at a time: before rotating again,
			// let it reach the current one (it may lag within it). See the package doc.
			// Having emitted all of the previous generation is not enough (it may not have
			// switched yet): wait for a byte of the current one, which holds a line.
			testsupport.Eventually(t, func() bool {
				w.Tick()
				return r.len() > prevEnd
			}, "reader stuck before the previous rotation (at %d)", prevEnd)
			prevEnd = want.Len()
			f.Close()
			rotations++
			if err := os.Rename(path, fmt.Sprintf("%s.%d", path, rotations)); err != nil {
				t.Error(err)
			}
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
				t.Error(err)
			}
		}
		for i := 0; i < lines; i++ {
			line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("z", i%300))
			want.WriteString(line)
			f.WriteString(line)
			if rotateAt != nil && rotateAt(i) {
				rotate()
			}
			if every > 0 {
				select {
				case <-tick:
					rotate()
				default:
				}
				if rotations >= wantRotations {
					break
				}
			}
		}
		// A last line in the newest generation: the tailer has to follow every rotation to read it.
		want.WriteString("last line\n")
		f.WriteString("last line\n")
		f.Close()
	}()
	r.waitFor(want.Bytes(), w)
	if every > 0 {
		if got := testutil.ToFloat64(s.m.FilesRotated); got != wantRotations {
			t.Errorf("rotations metric %v, want %d", got, wantRotations)
		}
	}
}

// wantRotations is how many timed rotations testRotation performs.
const wantRotations = 8

func TestTailCopyTruncate(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	first := strings.Repeat("before truncation\n", 100)
	appendFile(t, path, first)
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	r.waitFor([]byte(first), w)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "after 1\nafter 2\n")
	r.waitFor([]byte(first+"after 1\nafter 2\n"), w)
	if got := testutil.ToFloat64(s.m.FilesTruncated); got != 1 {
		t.Errorf("truncations %v, want 1", got)
	}
}

func TestTailDeleteAndRecreate(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "one\ntwo\npartial")
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 64<<10)
	r.waitFor([]byte("one\ntwo\n"), w)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// The deleted file is drained, its partial line terminated, and its descriptor closed.
	r.waitFor([]byte("one\ntwo\npartial\n"), w)
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		if got := testutil.ToFloat64(s.m.FilesRotated); got != 1 {
			return fmt.Errorf("rotations %v", got)
		}
		return nil
	})
	appendFile(t, path, "three\n")
	r.waitFor([]byte("one\ntwo\npartial\nthree\n"), w)
}

func TestFingerprintDetectsInodeReuse(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a")
	appendFile(t, name, "original head\nmore\n")
	f, fi, err := openStat(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dev, ino, _ := fileID(fi)
	fp, _, _ := fingerprintFile(f, 10)
	cp := Checkpoint{Dev: dev, Ino: ino, FPLen: 10, FP: fp, FileOffset: 5}
	if !matches(f, fi, &cp) {
		t.Fatal("same file does not match its checkpoint")
	}
	other := cp
	other.FP = fingerprint([]byte("different "))
	if matches(f, fi, &other) {
		t.Error("a file with another head (reused inode) matches")
	}
	beyond := cp
	beyond.FileOffset = fi.Size() + 1
	if matches(f, fi, &beyond) {
		t.Error("a file shorter than the checkpoint matches")
	}
}

// TestTailInodeReuseOnResume: the path holds the checkpointed dev/ino but another head.
func TestTailInodeReuseOnResume(t *testing.T) {
	cfg, _ := testConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "new file, new head\n")
	fi, _ := os.Stat(path)
	dev, ino, _ := fileID(fi)
	store, _ := OpenStore(cfg.StateDir)
	cp := Checkpoint{Path: path, Stream: 7, Dev: dev, Ino: ino, FPLen: 8, FP: fingerprint([]byte("old head")), FileOffset: 4, Offset: 100}
	if err := store.Save(cp); err != nil {
		t.Fatal(err)
	}
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	c := next(t, tl, 1024)
	if string(c.Data) != "new file, new head\n" || c.Offset != 100+LossGap || c.Stream != 7 {
		t.Errorf("got %q at %d stream %d", c.Data, c.Offset, c.Stream)
	}
}

// TestTailCheckpointResume stops after K chunks, resumes from Pos and compares.
func TestTailCheckpointResume(t *testing.T) {
	for _, k := range []int{1, 3, 7, 20} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			cfg, _ := testConfig(t)
			cfg.FromBeginning = true
			path := filepath.Join(t.TempDir(), "access.log")
			var want strings.Builder
			for i := range 50 {
				fmt.Fprintf(&want, "line %d %s\n", i, strings.Repeat("q", (i*37)%400))
			}
			appendFile(t, path, want.String())
			var got bytes.Buffer
			var pos Checkpoint
			func() {
				s := newSources(t, cfg)
				tl := openTailer(t, s, path)
				for range k {
					c := next(t, tl, 256)
					got.Write(c.Data)
					pos = c.Pos
				}
				if err := tl.Ack(pos); err != nil {
					t.Fatal(err)
				}
				tl.Close()
				s.Close()
			}()
			cfg.Waker = NewManualWaker()
			s := newSources(t, cfg)
			tl := openTailer(t, s, path)
			off := pos.Offset
			for got.Len() < len(want.String()) {
				c := next(t, tl, 256)
				if c.Offset != off {
					t.Fatalf("offset %d after resume, want %d", c.Offset, off)
				}
				off = c.End()
				got.Write(c.Data)
			}
			if got.String() != want.String() {
				t.Fatalf("resumed stream differs at %d", firstDiff(got.Bytes(), []byte(want.String())))
			}
		})
	}
}

// TestTailRotatedWhileDown: the checkpointed file was renamed to access.log.1 while the
// shipper was down; it is drained from the checkpoint before the new file.
func TestTailRotatedWhileDown(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, "a1\na2\n")
	func() {
		s := newSources(t, cfg)
		tl := openTailer(t, s, path)
		c := next(t, tl, 1024)
		if err := tl.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		tl.Close()
		s.Close()
	}()
	appendFile(t, path, "a3\na4")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b1\nb2\n")
	cfg.Waker = w
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	r := startReader(t, tl, 1024)
	r.waitFor([]byte("a3\na4\nb1\nb2\n"), w)
	if r.snapshot()[0].Offset != 6 {
		t.Errorf("resumed at %d, want 6", r.snapshot()[0].Offset)
	}
}

// TestTailIdleDoesNotSpin checks that idle tailers sleep: wake-ups follow waker ticks only.
func TestTailIdleDoesNotSpin(t *testing.T) {
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	const n = 1000
	var tailers []*Tailer
	for i := range n {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("site%d.log", i)), "x\n")
	}
	for i := range n { // watch only once all writes are done
		tailers = append(tailers, openTailer(t, s, filepath.Join(dir, fmt.Sprintf("site%d.log", i))))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, tl := range tailers {
		wg.Go(func() { tl.Next(ctx, 1024) })
	}
	waitWaits := func(want int) {
		testsupport.EventuallyErr(t, func() error {
			if got := w.Waits(); got < want {
				return fmt.Errorf("%d waits, want %d", got, want)
			}
			return nil
		})
	}
	waitWaits(n)
	const ticks = 3
	for i := range ticks {
		w.Tick()
		waitWaits(n * (i + 2))
	}
	cancel()
	wg.Wait()
	for _, tl := range tailers {
		if got := tl.Wakeups(); got > ticks {
			t.Fatalf("%s woke %d times for %d ticks", tl.Path(), got, ticks)
		}
	}
	if got := w.Waits(); got > n*(ticks+1) {
		t.Errorf("%d sleeps for %d tailers and %d ticks: something spins", got, n, ticks)
	}
}

func TestGlobFollowsNewFiles(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "a.log"), "a1\n")
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	appendFile(t, filepath.Join(dir, "b.log"), "b1\n")
	appendFile(t, filepath.Join(dir, "other.txt"), "no\n")
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	got := map[string]string{}
	streams := map[uint64]bool{}
	for len(got) < 2 {
		w.Tick()
		c, err := g.Next(ctx, cfg.ChunkMax)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(c.Pos.Path)] += string(c.Data)
		streams[c.Stream] = true
	}
	if got["a.log"] != "a1\n" || got["b.log"] != "b1\n" || len(streams) != 2 {
		t.Errorf("got %q, %d streams", got, len(streams))
	}
}

// TestOpenFileToEnd: a Tailer from OpenFileToEnd reads from the beginning (no
// checkpoint) or from the checkpoint to the end of the file, and then returns io.EOF
// instead of waiting. An unterminated last line is left for the next run while its
// writer may still complete it (the file was modified less than RotateWait ago): the
// next run ships it whole. Otherwise it is terminated, as at a rotation, and what a
// writer adds to it later reads as a line of its own.
func TestOpenFileToEnd(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rotateWait time.Duration
		age        time.Duration // how long before the run the file was last modified
		left       bool
	}{
		{"written just now", time.Hour, 0, true},
		{"idle for longer than RotateWait", time.Minute, 2 * time.Minute, false},
		{"RotateWait 0", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := testConfig(t)
			cfg.RotateWait = tc.rotateWait
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, "one\ntwo\nthree")
			if tc.age > 0 {
				old := time.Now().Add(-tc.age)
				if err := os.Chtimes(path, old, old); err != nil {
					t.Fatal(err)
				}
			}
			readToEnd := func() string {
				tl, err := s.OpenFileToEnd(path)
				if err != nil {
					t.Fatal(err)
				}
				defer tl.Close()
				var got []byte
				var last Chunk
				for {
					c, err := tl.Next(t.Context(), 64<<10)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got, last = append(got, c.Data...), c
				}
				if len(got) > 0 {
					if err := tl.Ack(last.Pos); err != nil {
						t.Fatal(err)
					}
				}
				want := int64(0)
				if tc.left && !bytes.HasSuffix(got, []byte("four\n")) {
					want = int64(len("three"))
				}
				if n := tl.Unfinished(); n != want {
					t.Errorf("Unfinished() = %d, want %d", n, want)
				}
				return string(got)
			}
			first, want := readToEnd(), "one\ntwo\nthree\n"
			if tc.left {
				want = "one\ntwo\n"
			}
			if first != want {
				t.Fatalf("first run read %q, want %q", first, want)
			}
			appendFile(t, path, " four\n")
			second, want := readToEnd(), " four\n"
			if tc.left {
				want = "three four\n"
			}
			if second != want {
				t.Errorf("second run read %q, want %q", second, want)
			}
		})
	}
	cfg, _ := testConfig(t)
	if _, err := newSources(t, cfg).OpenFileToEnd(filepath.Join(t.TempDir(), "missing.log")); err == nil {
		t.Error("a missing file was opened")
	}
}

// TestTailSymlinkRotatedTarget: a symlinked log whose target logrotate rotates in the
// target's own directory (and under the target's name): the rotated generations are
// found there, drained from the checkpoint after a restart, and in order before the new
// file after two rotations while reading was held.
func TestTailSymlinkRotatedTarget(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("fsnotify=%v", watch), func(t *testing.T) {
			cfg, w := testConfig(t)
			cfg.FromBeginning = true
			cfg.NoWatch = !watch
			data := filepath.Join(t.TempDir(), "data")
			mkdirAll(t, data)
			target := filepath.Join(data, "app-current.log")
			link := filepath.Join(t.TempDir(), "access.log")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			appendFile(t, target, "a1\na2\n")
			func() {
				s := newSources(t, cfg)
				tl := openTailer(t, s, link)
				c := next(t, tl, 1024)
				if err := tl.Ack(c.Pos); err != nil {
					t.Fatal(err)
				}
				tl.Close()
				s.Close()
			}()
			// Rotated while the shipper was down.
			appendFile(t, target, "a3\na4\n")
			if err := os.Rename(target, target+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, target, "b1\n")
			s := newSources(t, cfg)
			tl := openTailer(t, s, link)
			r := startReader(t, tl, 1024)
			r.waitFor([]byte("a3\na4\nb1\n"), w)
			if got := r.snapshot()[0].Offset; got != 6 {
				t.Errorf("resumed at %d, want 6 (the checkpoint, in the rotated target)", got)
			}
			// Rotated twice while reading is held: the generation between the one open
			// and the live file is found in the target's directory.
			r.stop()
			appendFile(t, target, "b2\n")
			if err := os.Rename(target, target+".2"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, target, "c1\n")
			if err := os.Rename(target, target+".3"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, target, "d1\n")
			r = startReader(t, tl, 1024)
			r.waitFor([]byte("b2\nc1\nd1\n"), w)
			r.stop()
		})
	}
}

// TestOpenFileToEndUnreadable: ship --once on a file that cannot be read returns the
// error that keeps it from being read, as it came (errors.Is matches it), naming the
// path once, with what to do; at once, not after a retry's backoff. It said "file does
// not exist" for a file it could not open (the error was flattened to a string, and the
// path repeated: "x.log: open x.log: ...").
func TestOpenFileToEndUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		is     error
		remedy string
	}{
		{"permission", syscall.EACCES, fs.ErrPermission, "read permission"},
		{"descriptors", syscall.EMFILE, syscall.EMFILE, "ulimit -n"},
		{"io", syscall.EIO, syscall.EIO, "dmesg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := testConfig(t)
			s := newSources(t, cfg)
			name := filepath.Join(t.TempDir(), "x.log")
			appendFile(t, name, "a\n")
			h := func(n string) error {
				if n == name {
					return tc.err
				}
				return nil
			}
			openFault.Store(&h)
			defer openFault.Store(nil)
			tl, err := s.OpenFileToEnd(name)
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			_, err = tl.Next(t.Context(), 1<<16)
			switch {
			case err == nil:
				t.Fatal("Next returned a chunk of a file that cannot be opened")
			case !errors.Is(err, tc.is):
				t.Errorf("Next: %v; want an error that is %v", err, tc.is)
			case errors.Is(err, fs.ErrNotExist) && tc.is != fs.ErrNotExist:
				t.Errorf("Next: %v; the file exists", err)
			case strings.Count(err.Error(), name) != 1:
				t.Errorf("Next: %v; want the path named once", err)
			case !strings.Contains(err.Error(), tc.remedy):
				t.Errorf("Next: %v; want the remedy (%q)", err, tc.remedy)
			}
		})
	}
}
