package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Regression tests for the tailer bugs TestTailModel found. Each writes with explicit
// modification times (stamp), as the model does: the tailer orders generations by them,
// and writes within one tick of the file system clock cannot be told apart.

// stamp sets the modification time of name to a fixed second after a base.
func stamp(t *testing.T, name string, sec int) {
	t.Helper()
	at := time.Now().Truncate(time.Second).Add(time.Duration(sec) * time.Second)
	if err := os.Chtimes(name, at, at); err != nil {
		t.Fatal(err)
	}
}

// copyTruncate does what logrotate's copytruncate does: copy, then truncate in place.
func copyTruncate(t *testing.T, path, to string) {
	t.Helper()
	copyOnly(t, path, to)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// copyOnly copies path to to: copytruncate's copy, before its truncation.
func copyOnly(t *testing.T, path, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// modelTailer writes data to access.log in a new directory (modification time: stamp
// 0) and opens a tailer of it on a Set on modelConfig.
func modelTailer(t *testing.T, data string) (*Set, *ManualWaker, string, *Tailer) {
	t.Helper()
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, data)
	stamp(t, path, 0)
	return s, w, path, openTailer(t, s, path)
}

// nextChunk calls Next once and returns its chunk; ok is false when the tailer slept
// with nothing to return (the ManualWaker's sleep cancels the call).
func nextChunk(t *testing.T, w *ManualWaker, src Source, max int) (c Chunk, ok bool) {
	t.Helper()
	slept := w.Slept()
	select {
	case <-slept:
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-slept:
			cancel()
		case <-stop:
		}
	}()
	c, err := src.Next(ctx, max)
	close(stop)
	<-done
	if err != nil {
		return Chunk{}, false
	}
	if err := checkChunk(&c); err != nil {
		t.Fatalf("chunk at %d: %v", c.Offset, err)
	}
	return c, true
}

// readChunks calls Next until the tailer sleeps with nothing left (NoWatch, ManualWaker).
func readChunks(t *testing.T, w *ManualWaker, src Source, max int) []Chunk {
	t.Helper()
	var out []Chunk
	for {
		c, ok := nextChunk(t, w, src, max)
		if !ok {
			return out
		}
		out = append(out, c)
	}
}

func chunkData(cs []Chunk) string {
	var b strings.Builder
	for _, c := range cs {
		b.Write(c.Data)
	}
	return b.String()
}

func modelConfig(t *testing.T) (Config, *ManualWaker) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.NoWatch = true
	cfg.RotateWait = time.Hour
	return cfg, w
}

func wantRead(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("read %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff([]byte(got), []byte(want)))
	}
}

// TestTailCopyTruncateBeforeAnyByteRead: a file copytruncated before the tailer read any
// byte of it, while running or while the shipper was down, is drained from its copy: the
// head fingerprint is taken over the bytes the file holds at open, not only over those
// read.
func TestTailCopyTruncateBeforeAnyByteRead(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "restart"}[restart], func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 20))
			tl := openTailer(t, s, path)
			if restart {
				tl.Close()
			}
			copyTruncate(t, path, path+".1")
			appendFile(t, path, lines("b", 1, 5))
			if restart {
				tl = openTailer(t, s, path)
			}
			wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 20)+lines("b", 1, 5))
		})
	}
}

// TestTailCopyTruncateOfFileEmptyWhenLookedAt: a file that was empty whenever the tailer
// looked, then written and copytruncated before it looked again (running, with the file
// deleted afterwards while the tailer holds it, or across a restart), is drained from the
// copy first: a rotated file changed since the last look holds what it had.
func TestTailCopyTruncateOfFileEmptyWhenLookedAt(t *testing.T) {
	for _, mode := range []string{"running", "deleted", "restart"} {
		t.Run(mode, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, "")
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			if got := readAll(t, w, tl, 64<<10); got != "" {
				t.Fatalf("read %q from an empty file", got)
			}
			if mode == "restart" {
				tl.Close()
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.WriteString(lines("a", 1, 20))
			stamp(t, path, 1)
			copyTruncate(t, path, path+".1")
			stamp(t, path+".1", 2)
			f.WriteString(lines("b", 1, 5))
			stamp(t, path, 3)
			if mode == "deleted" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			if mode == "restart" {
				tl = openTailer(t, s, path)
			}
			wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 20)+lines("b", 1, 5))
		})
	}
}

// TestTailContentNeverSeenIsInACopy: while the tailer does not look, the file is truncated
// (its unread end is lost: the tailer never saw it), written again, copytruncated and
// written again. The content it never saw is drained from the copy before the live file;
// likewise after two copytruncates in a row.
func TestTailContentNeverSeenIsInACopy(t *testing.T) {
	for _, twice := range []bool{false, true} {
		t.Run(map[bool]string{false: "truncate-then-copytruncate", true: "copytruncate-twice"}[twice], func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 10))
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			seen := readAll(t, w, tl, 64<<10)
			want := seen
			appendFile(t, path, lines("a", 11, 20))
			stamp(t, path, 1)
			if twice {
				copyTruncate(t, path, path+".0")
				stamp(t, path+".0", 2)
				want += lines("a", 11, 20)
			} else if err := os.Truncate(path, 0); err != nil { // a11-20 never seen: lost, uncounted
				t.Fatal(err)
			}
			appendFile(t, path, lines("b", 1, 10))
			stamp(t, path, 3)
			copyTruncate(t, path, path+".1")
			stamp(t, path+".1", 4)
			appendFile(t, path, lines("c", 1, 5))
			stamp(t, path, 5)
			wantRead(t, seen+readAll(t, w, tl, 64<<10), want+lines("b", 1, 10)+lines("c", 1, 5))
			if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
				t.Errorf("lost bytes %v, want 0: nothing the tailer saw was destroyed", lost)
			}
		})
	}
}

// TestTailNoFileCheckpointFindsGenerations: a tailer whose checkpoint names no file (the
// path did not exist) drains, after a restart, the generations that appeared and were
// rotated while the shipper was down, before the live file.
func TestTailNoFileCheckpointFindsGenerations(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	openTailer(t, s, path).Close()
	appendFile(t, path, lines("a", 1, 5))
	stamp(t, path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 3))
	stamp(t, path, 2)
	tl := openTailer(t, s, path)
	wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 5)+lines("b", 1, 3))
}

// TestTailRestartNeverReusesOffsets: lines read after the acknowledged checkpoint from a
// generation destroyed before the restart (truncated, or deleted and replaced) cannot be
// read again; the generation after it is never given their offsets (collectors would drop
// its lines as duplicates): the stream jumps past them. A generation that is still there
// is read again at the offsets it had.
func TestTailRestartNeverReusesOffsets(t *testing.T) {
	for _, destroy := range []string{"truncate", "replace", "none"} {
		t.Run(destroy, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 10))
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			first := readChunks(t, w, tl, 64<<10)
			if err := tl.Ack(first[len(first)-1].Pos); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines("b", 1, 10))
			stamp(t, path, 1)
			sent := readChunks(t, w, tl, 64<<10) // read, never acknowledged
			if got := chunkData(sent); got != lines("b", 1, 10) {
				t.Fatalf("read %q", got)
			}
			end := sent[len(sent)-1].End()
			tl.Close()
			want := lines("c", 1, 5)
			switch destroy {
			case "truncate":
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
			case "replace":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case "none":
				want = lines("b", 1, 10) + want
			}
			appendFile(t, path, lines("c", 1, 5))
			stamp(t, path, 2)
			again := readChunks(t, w, openTailer(t, s, path), 64<<10)
			if got := chunkData(again); got != want {
				t.Fatalf("after the restart read %q, want %q", got, want)
			}
			if destroy == "none" {
				if again[0].Offset != sent[0].Offset {
					t.Errorf("generation read again at %d, had %d", again[0].Offset, sent[0].Offset)
				}
				return
			}
			if again[0].Offset < end {
				t.Errorf("new lines at offset %d: the destroyed generation's lines were sent up to %d", again[0].Offset, end)
			}
		})
	}
}

// TestTailResumeJumpsPastEarlierJumps: a restart whose checkpointed file is gone jumps
// past every offset used since the checkpoint, including after a jump of an earlier run
// that was never acknowledged.
func TestTailResumeJumpsPastEarlierJumps(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 10))
	tl := openTailer(t, s, path)
	c := readChunks(t, w, tl, 64<<10)
	if err := tl.Ack(c[0].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	var end uint64
	for run := range 2 {
		// The checkpointed file is replaced while the shipper is down: the run jumps.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines("b", run*10+1, run*10+10))
		tl := openTailer(t, s, path)
		got := readChunks(t, w, tl, 64<<10)
		if chunkData(got) != lines("b", run*10+1, run*10+10) {
			t.Fatalf("run %d read %q", run, chunkData(got))
		}
		if got[0].Offset < end {
			t.Fatalf("run %d sent at %d, a run before sent up to %d", run, got[0].Offset, end)
		}
		end = got[len(got)-1].End()
		tl.Close()
	}
}

// TestTailResumedLineCutByTruncation: a restart in the middle of an over-long line whose
// rest is then destroyed by a truncation ends the line past the offsets the run before
// may have sent that rest at.
func TestTailResumedLineCutByTruncation(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, strings.Repeat("x", 300)+"\n")
	tl := openTailer(t, s, path)
	c := next(t, tl, 100) // the first fragment
	if err := tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	rest := readChunks(t, w, tl, 100) // sent, never acknowledged
	end := rest[len(rest)-1].End()
	tl.Close()
	tl = openTailer(t, s, path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 2))
	got := readChunks(t, tl.s.cfg.Waker.(*ManualWaker), tl, 64<<10)
	for _, c := range got {
		if c.Offset < end {
			t.Errorf("chunk %q at %d: the run before sent up to %d", c.Data, c.Offset, end)
		}
	}
	if d := chunkData(got); !strings.HasSuffix(d, lines("b", 1, 2)) {
		t.Errorf("read %q, want the new lines", d)
	}
}

// TestTailDoneGenerationReusedInode: a rotated file with the inode of a generation drained
// earlier but another head (the inode was reused) is a new generation.
func TestTailDoneGenerationReusedInode(t *testing.T) {
	cfg, _ := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	tl := openTailer(t, s, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	tl.done = []fileKey{{dev: dev, ino: ino, fpLen: 10, fp: fingerprint([]byte("other head"))}}
	if tl.isDone(path, dev, ino, fi.Size()) {
		t.Error("a file with a drained generation's inode but another head is taken for it")
	}
	tl.done = []fileKey{{dev: dev, ino: ino, fpLen: 10, fp: fingerprint([]byte(lines("a", 1, 1)[:10]))}}
	if !tl.isDone(path, dev, ino, fi.Size()) {
		t.Error("the drained generation is not recognised")
	}
}

// TestTailCopyIsNewerThanLastLook: a file whose known head is short (a partial first
// line, common to many logs) is truncated; an older rotated file that starts alike is not
// taken for its copy, only one modified since the tailer last looked.
func TestTailCopyIsNewerThanLastLook(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 5))
	copyTruncate(t, path, path+".1") // an older generation
	stamp(t, path+".1", 1)
	b := lines("b", 1, 5)
	appendFile(t, path, b[:12]) // "10.0.0.1 - -": the start of every line
	stamp(t, path, 2)
	tl := openTailer(t, s, path) // its head: those 12 bytes
	appendFile(t, path, b[12:])
	stamp(t, path, 3)
	copyTruncate(t, path, path+".2")
	stamp(t, path+".2", 4)
	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 5)
	wantRead(t, readAll(t, w, tl, 64<<10), b+lines("c", 1, 2))
}

// TestGenLogKeepsLongerHead: a generation walked again is recorded before its head is
// read; that entry must not hide the one that knows its head, or the next restart takes
// the generation for a destroyed one and sends it again at other offsets.
func TestGenLogKeepsLongerHead(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ckpt-x.gens")
	head := []byte(lines("a", 1, 1))
	known := genEntry{Stream: 1, Base: 100, Dev: 1, Ino: 2, FPLen: len(head), FP: fingerprint(head), Line: true}
	l, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.add(known, 0); err != nil {
		t.Fatal(err)
	}
	l.close()
	for run := range 2 { // two restarts, each walking the generation again
		l, err := openGenLog(name, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		e, found, _ := l.lookup(1, 2, head, 100)
		if !found || e.Base != 100 {
			t.Fatalf("run %d: lookup found=%v base=%d, want the recorded generation at 100", run, found, e.Base)
		}
		if err := l.add(genEntry{Stream: 1, Base: 100, Dev: 1, Ino: 2}, 0); err != nil { // entered, head not read yet
			t.Fatal(err)
		}
		l.close()
	}
}

// TestTailCopyIsNotNewerThanTruncation: a file whose known head is short (a partial first
// line) is truncated and written again, then rotated; a later generation that starts
// alike is not taken for its copy: copytruncate's copy is made before the truncation, so
// it is never modified after the live file last was. (Taken for one, it was read before
// the file it followed, and a restart walked it again after that file: lines twice.)
func TestTailCopyIsNotNewerThanTruncation(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	b := lines("b", 1, 1)
	appendFile(t, path, b[:12]) // "10.0.0.1 - -": the start of every line
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q before a line end", got)
	}
	// Truncated (not copied) and written again, starting alike; then rotated twice.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("c", 1, 3))
	stamp(t, path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("d", 1, 2))
	stamp(t, path, 2)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("e", 1, 1))
	stamp(t, path, 3)
	wantRead(t, readAll(t, w, tl, 64<<10), lines("c", 1, 3)+lines("d", 1, 2)+lines("e", 1, 1))
}

// TestTailRestartSkipsGenerationShippedBefore: a generation the stream holds wholly
// before the checkpoint is not read again when a restart walks the generations after
// the checkpoint's file, even where modification times put it after that file
// (copytruncate's copy and the truncated file's next writes within one tick of the file
// system clock).
func TestTailRestartSkipsGenerationShippedBefore(t *testing.T) {
	s, w, path, tl := modelTailer(t, lines("a", 1, 3))
	wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 3))
	appendFile(t, path, lines("a", 4, 5))
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, lines("b", 1, 3))
	stamp(t, path, 1)
	got := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(got), lines("a", 4, 5)+lines("b", 1, 3))
	if err := tl.Ack(got[len(got)-1].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	// Rotated while the shipper is down: the checkpointed file is drained from its
	// checkpoint, then what is newer than it, except the copy shipped before it.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("c", 1, 2))
	stamp(t, path, 2)
	tl = openTailer(t, s, path)
	wantRead(t, readAll(t, w, tl, 64<<10), lines("c", 1, 2))
}

// TestTailNewerFileDeletedWhileBehind: while the tailer drains a rotated generation, the
// new file at the path is deleted while its writer still appends to it, and replaced.
// Seen once by the tailer, it is held open and drained in its turn, the lines appended
// after the deletion too. Without a free descriptor slot only its size is known: that
// many bytes are counted lost.
func TestTailNewerFileDeletedWhileBehind(t *testing.T) {
	for _, slots := range []int{0, 1} {
		t.Run(map[int]string{0: "held", 1: "no-slot"}[slots], func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.MaxOpenFiles = 4
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, lines("a", 1, 20))
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			if slots > 0 { // every other slot taken: the tailer holds one only
				for s.fds.tryAcquire() {
					defer s.fds.release()
				}
			}
			first := next(t, tl, 200) // behind: a few lines of a
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			wf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer wf.Close()
			if _, err := wf.WriteString(lines("b", 1, 3)); err != nil {
				t.Fatal(err)
			}
			stamp(t, path, 1)
			second := next(t, tl, 200) // the tailer looks, still in a
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if _, err := wf.WriteString(lines("b", 4, 5)); err != nil { // after the deletion
				t.Fatal(err)
			}
			if err := os.Chtimes(path+".1", time.Unix(0, 0), time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines("c", 1, 2))
			stamp(t, path, 3)
			got := string(first.Data) + string(second.Data) + readAll(t, w, tl, 64<<10)
			lost := testutil.ToFloat64(s.m.LostBytes)
			if slots == 0 {
				wantRead(t, got, lines("a", 1, 20)+lines("b", 1, 5)+lines("c", 1, 2))
				if lost != 0 {
					t.Errorf("lost_bytes_total %v, want 0", lost)
				}
				return
			}
			wantRead(t, got, lines("a", 1, 20)+lines("c", 1, 2))
			if want := float64(len(lines("b", 1, 3))); lost != want {
				t.Errorf("lost_bytes_total %v, want %v (the size the deleted file was seen to have)", lost, want)
			}
		})
	}
}

// TestTailBlindCopyByIdentity: a file empty whenever the tailer looked is written, copied
// away and truncated before it looks again. The copy is told by the rotated files seen at
// the last look (a new identity, or a changed size or time), not by modification times
// alone: written, copied and truncated within one tick of the file system clock (its time
// unchanged), and next to an older rotated file of the same tick as the last look, which
// is not taken for the copy.
func TestTailBlindCopyByIdentity(t *testing.T) {
	for _, tick := range []string{"same", "next"} {
		t.Run(tick, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path+".1", lines("a", 1, 5)) // rotated before the tailer started
			stamp(t, path+".1", 0)
			appendFile(t, path, "")
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			if got := readAll(t, w, tl, 64<<10); got != "" {
				t.Fatalf("read %q from an empty file", got)
			}
			at := 0
			if tick == "next" {
				at = 1
			}
			appendFile(t, path, lines("b", 1, 5))
			copyTruncate(t, path, path+".2")
			stamp(t, path+".2", at)
			stamp(t, path, at)
			appendFile(t, path, lines("c", 1, 2))
			stamp(t, path, at)
			wantRead(t, readAll(t, w, tl, 64<<10), lines("b", 1, 5)+lines("c", 1, 2))
		})
	}
}

// TestTailRestartAfterShortHeadReplaced: a checkpoint in a file whose known head is part
// of a line; the file is then truncated and written again with content starting alike,
// and the tailer reads it. A restart does not take the new content for the
// checkpointed one (it would send it from the checkpoint's file offset, at offsets the
// run before gave to its start): the generation record says the content was replaced,
// and the new content is read again at the offsets it had.
func TestTailRestartAfterShortHeadReplaced(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	b := lines("b", 1, 3)
	appendFile(t, path, b[:12]) // "10.0.0.1 - -": the start of every line
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q before a line end", got)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	stamp(t, path, 1)
	got := readChunks(t, w, tl, 64<<10) // the truncation noticed: the cut line
	appendFile(t, path, b)
	stamp(t, path, 2)
	got = append(got, readChunks(t, w, tl, 64<<10)...)
	if d := chunkData(got); d != b[:12]+"\n"+b {
		t.Fatalf("read %q", d)
	}
	if err := tl.Ack(got[0].Pos); err != nil { // the cut line: the checkpoint is in the old content
		t.Fatal(err)
	}
	sent := got[len(got)-1].End()
	tl.Close()
	again := readChunks(t, w, openTailer(t, s, path), 64<<10)
	wantRead(t, chunkData(again), b)
	if again[0].Offset != got[1].Offset || again[len(again)-1].End() != sent {
		t.Errorf("read again at [%d, %d), first sent at [%d, %d)", again[0].Offset, again[len(again)-1].End(), got[1].Offset, sent)
	}
}

// TestTailCopyTruncateLineReadInWindow: logrotate's copytruncate copies the file, a line
// is appended to it and read by the tailer, then the file is truncated. The read offset
// is past the copy's end: the copy holds only bytes read already (the line after it was
// read from the file), so nothing of it is sent again (it was sent whole a second time,
// at new offsets, as a copy of what was never read). A line written in the window and not
// read is lost, counted with its size, when the tailer saw it in the file's size.
func TestTailCopyTruncateLineReadInWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a     int // lines before the copy (a small file: its head is shorter than FingerprintLen)
		extra bool
	}{{"read", 40, false}, {"small", 3, false}, {"unread", 40, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			a := lines("a", 1, tc.a)
			appendFile(t, path, a)
			stamp(t, path, 0)
			tl := openTailer(t, s, path)
			wantRead(t, readAll(t, w, tl, 64<<10), a)
			// logrotate: copy (within one tick of the file system clock of the next write) ...
			copyOnly(t, path, path+".1")
			stamp(t, path+".1", 1)
			// ... a line appended to the original, read by the tailer ...
			in := lines("b", 1, 1)
			appendFile(t, path, in)
			lost := ""
			if tc.extra {
				lost = lines("b", 2, 3000) // more than one read takes
				appendFile(t, path, lost)
			}
			stamp(t, path, 1)
			c := next(t, tl, len(in)) // reads the first line only; sees the size
			wantRead(t, string(c.Data), in)
			// ... then the truncation, and new lines.
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			after := lines("c", 1, 3)
			appendFile(t, path, after)
			stamp(t, path, 2)
			// What was read of the window's lines before the truncation comes first (a
			// line cut by the truncation ended there); the rest is counted lost.
			got := readAll(t, w, tl, 64<<10)
			read, ok := strings.CutSuffix(got, after)
			consumed := len(read)
			if ok && !strings.HasPrefix(lost, read) {
				consumed-- // the newline ending the cut line
				ok = strings.HasSuffix(read, "\n") && strings.HasPrefix(lost, read[:consumed])
			}
			if !ok {
				t.Fatalf("read %d bytes after the copy's end, want a prefix of the %d bytes written in the window, then the %d new ones",
					len(got), len(lost), len(after))
			}
			if tc.extra && consumed == len(lost) {
				t.Fatal("every line of the window was read before the truncation")
			}
			if got := testutil.ToFloat64(s.m.LostBytes); got != float64(len(lost)-consumed) {
				t.Errorf("lost bytes %v, want %d", got, len(lost)-consumed)
			}
		})
	}
}

// TestTailCopyInWindowOfFileEmptyWhenLookedAt: a file empty whenever the tailer looked is
// written and copied (copytruncate), and the tailer looks in the window, before the
// truncation: the file still holds what the copy does, and is read, not the copy (the
// copy was drained, then the file from its start: its lines twice).
func TestTailCopyInWindowOfFileEmptyWhenLookedAt(t *testing.T) {
	s, w, path, tl := modelTailer(t, "")
	wantRead(t, readAll(t, w, tl, 64<<10), "")
	a := lines("a", 1, 2)
	appendFile(t, path, a)
	stamp(t, path, 1)
	copyOnly(t, path, path+".1")
	stamp(t, path+".1", 2)
	in := lines("b", 1, 1)
	appendFile(t, path, in)
	stamp(t, path, 2)
	wantRead(t, readAll(t, w, tl, 64<<10), a+in)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	after := lines("c", 1, 2)
	appendFile(t, path, after)
	stamp(t, path, 3)
	wantRead(t, readAll(t, w, tl, 64<<10), after)
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}

// TestTailCopyDrainedInWindowThenFile: the tailer, behind, finds copytruncate's copy as a
// rotated generation not read yet and drains it in the window between the copy and the
// truncation; the file at path still starts with all of the copy, and is read from the
// copy's end (it was read from its start: the copy's lines twice).
func TestTailCopyDrainedInWindowThenFile(t *testing.T) {
	a := lines("a", 1, 3)
	s, w, path, tl := modelTailer(t, a)
	wantRead(t, readAll(t, w, tl, 64<<10), a)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	b := lines("b", 1, 20)
	appendFile(t, path, b)
	stamp(t, path, 1)
	c, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".2", c, 0o644); err != nil {
		t.Fatal(err)
	}
	stamp(t, path+".2", 2)
	in := lines("b", 21, 22)
	appendFile(t, path, in)
	stamp(t, path, 2)
	wantRead(t, readAll(t, w, tl, 64<<10), b+in)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	after := lines("c", 1, 2)
	appendFile(t, path, after)
	stamp(t, path, 3)
	wantRead(t, readAll(t, w, tl, 64<<10), after)
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}
