package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// restartRig drives one tailer of access.log through rotations by rename with writers
// that keep their descriptors (an Apache graceful restart's old children), reads with or
// without acknowledging, and restarts, rebuilding the stream as collectors do
// (streamBytes: a resend must carry the bytes first sent at its offsets). The tailer
// polls (NoWatch, the ManualWaker) and lingers for an hour unless the test says.
type restartRig struct {
	t      *testing.T
	w      *ManualWaker
	s      *Set
	path   string
	tl     *Tailer
	stream streamBytes
	held   []Chunk // read and not acknowledged yet: readHold, ackHeld
}

func newRestartRig(t *testing.T, rotateWait time.Duration) *restartRig {
	t.Helper()
	cfg, w := modelConfig(t)
	cfg.RotateWait = rotateWait
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	r := &restartRig{t: t, w: w, s: newSources(t, cfg), path: filepath.Join(t.TempDir(), "access.log"), stream: streamBytes{}}
	t.Cleanup(func() {
		if r.tl != nil {
			r.tl.Close()
		}
	})
	return r
}

// readHold reads what the tailer has, checks that it is want, and holds the chunks
// unacknowledged until ackHeld.
func (r *restartRig) readHold(want string) {
	r.t.Helper()
	cs := readChunks(r.t, r.w, r.tl, 64<<10)
	r.stream.add(r.t, cs)
	if got := chunkBytes(cs); got != want {
		r.t.Fatalf("read %q, want %q", got, want)
	}
	r.held = append(r.held, cs...)
}

// ackHeld acknowledges the chunks held by readHold.
func (r *restartRig) ackHeld() {
	r.t.Helper()
	for _, c := range r.held {
		if err := r.tl.Ack(c.Pos); err != nil {
			r.t.Fatal(err)
		}
	}
	r.held = nil
}

// create opens a new file at the path for a writer.
func (r *restartRig) create() *os.File {
	r.t.Helper()
	return openAppend(r.t, r.path)
}

func (r *restartRig) write(f *os.File, s string) {
	r.t.Helper()
	writeString(r.t, f, s)
}

// rename renames the file at the path to the path with suffix (".1").
func (r *restartRig) rename(suffix string) {
	r.t.Helper()
	if err := os.Rename(r.path, r.path+suffix); err != nil {
		r.t.Fatal(err)
	}
}

// start opens the tailer (from its checkpoint, after the first time).
func (r *restartRig) start() {
	r.t.Helper()
	tl, err := r.s.OpenFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.tl = tl
}

// restart closes the tailer and opens it again from its checkpoint.
func (r *restartRig) restart() {
	r.t.Helper()
	if err := r.tl.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.start()
}

// read reads until the tailer sleeps with nothing to return, acknowledging each chunk
// when ack, and returns what it read.
func (r *restartRig) read(ack bool) string {
	r.t.Helper()
	cs := readChunks(r.t, r.w, r.tl, 64<<10)
	r.stream.add(r.t, cs)
	for _, c := range cs {
		if !ack {
			break
		}
		if err := r.tl.Ack(c.Pos); err != nil {
			r.t.Fatal(err)
		}
	}
	return chunkBytes(cs)
}

// readAll reads and acknowledges until nothing more comes (a lingering generation is
// read only once what was returned before is acknowledged).
func (r *restartRig) readAll() {
	r.t.Helper()
	for range 8 {
		if r.read(true) == "" {
			return
		}
	}
}

// drain reads and acknowledges until a read returns no chunk, n reads at the most.
func (r *restartRig) drain(n int) {
	r.t.Helper()
	for range n {
		cs := readChunks(r.t, r.w, r.tl, 64<<10)
		r.stream.add(r.t, cs)
		for _, c := range cs {
			if err := r.tl.Ack(c.Pos); err != nil {
				r.t.Fatal(err)
			}
		}
		if len(cs) == 0 {
			return
		}
	}
}

// check compares the stream rebuilt with the lines written: each once, in order per file.
func (r *restartRig) check(want map[string]int) {
	r.t.Helper()
	checkGenerations(r.t, r.stream.lines(), want)
}

// rotated writes a's first line and reads it, then rotates by rename while a's writer
// keeps its descriptor: a at access.log.1, b at the path with its first line (not read).
func (r *restartRig) rotated() (a, b *os.File) {
	r.t.Helper()
	a = r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b = r.create()
	r.write(b, "b 0\n")
	return a, b
}

// kill closes the tailer as a SIGKILL leaves it: no stop checkpoint.
func (r *restartRig) kill() {
	r.tl.noStop = true
	r.tl.Close()
}

// rotateTwice rotates by rename twice (create): the file at the path to .1, b written
// to the new one, .1 to .2 and it to .1, c written to the next.
func (r *restartRig) rotateTwice(b, c string) {
	r.t.Helper()
	r.rename(".1")
	r.write(r.create(), b)
	mustRename(r.t, r.path+".1", r.path+".2")
	r.rename(".1")
	r.write(r.create(), c)
}

// readWant reads as read does, and fails (format, with what it read) unless it read want.
func (r *restartRig) readWant(ack bool, want, format string) {
	r.t.Helper()
	if got := r.read(ack); got != want {
		r.t.Fatalf(format, got)
	}
}

// waitRead ticks and reads, acknowledging, until the stream rebuilt holds n lines.
func (r *restartRig) waitRead(n int) {
	r.t.Helper()
	testsupport.EventuallyErr(r.t, func() error {
		r.w.Tick()
		r.read(true)
		if got := len(r.stream.lines()); got < n {
			return fmt.Errorf("%d of %d lines read", got, n)
		}
		return nil
	})
}

// TestTailRestartResumedThenParked: a run resumes at its checkpoint in access.log (b)
// and, before reading anything of it, parks it to read what a's old writer appended to
// access.log.1 while the shipper was down (a lingering generation the run before left),
// then reads b on; it stops with none of it acknowledged. The next run reads a again
// only up to where that run left it, at the offsets it had, and b once.
func TestTailRestartResumedThenParked(t *testing.T) {
	testTailRestartResumedLingering(t, false)
}

// TestTailRestartInLingeringReadAfterResume: as TestTailRestartResumedThenParked, the
// checkpoint of the next run in what a's old writer appended (read and acknowledged),
// b's line after it not.
func TestTailRestartInLingeringReadAfterResume(t *testing.T) {
	testTailRestartResumedLingering(t, true)
}

// testTailRestartResumedLingering is the body of both: a's line appended while the
// shipper was down is read after the restart and acknowledged when ackA (then a's old
// writer appends once more), b's lines after it not, and the tailer restarts again.
func testTailRestartResumedLingering(t *testing.T, ackA bool) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.tl.Close()
	r.write(a, "a 1\n") // a's old writer, while the shipper is down
	r.start()
	r.readWant(ackA, "a 1\n", "read %q after the restart, want a's line appended")
	r.write(b, "b 1\n")
	r.read(false)
	r.write(a, "a 2\n")
	r.read(false)
	r.restart()
	r.write(b, "b 2\n")
	wantA := 3
	if ackA {
		r.write(a, "a 3\n")
		wantA = 4
	}
	r.readAll()
	r.check(map[string]int{"a": wantA, "b": 3})
}

// lingering returns how many generations the tailer follows for RotateWait.
func (r *restartRig) lingering() int {
	r.tl.mu.Lock()
	defer r.tl.unlockLooks()
	return len(r.tl.linger)
}

// TestTailLeftForGoodGrows: a generation renamed away (access.log.1) is left for good
// once RotateWait passes without growth; its old writer then appends (an Apache graceful
// restart's child serving a long request). Those lines are read in this run, not only by
// the next one (issue 10: 40 lines arrived at the next start, and never without one).
func TestTailLeftForGoodGrows(t *testing.T) {
	r := newRestartRig(t, 50*time.Millisecond)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	testsupport.EventuallyErr(t, func() error {
		r.w.Tick()
		r.read(true)
		if n := r.lingering(); n > 0 {
			return fmt.Errorf("%d generations still followed for rotate_wait", n)
		}
		return nil
	})
	r.write(a, "a 1\na 2\n") // a's old writer, after rotate_wait
	r.write(b, "b 1\n")
	r.waitRead(5)
	r.check(map[string]int{"a": 3, "b": 2})
}

// TestTailRestartLeftGrowsAfter: the shipper restarts while it follows access.log.1 for
// RotateWait (its old writer has not appended since it was left); the old writer appends
// after the restart. Those lines are read in this run, not only by the next one.
func TestTailRestartLeftGrowsAfter(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.restart()
	r.write(a, "a 1\n") // a's old writer, after the restart
	r.write(b, "b 1\n")
	r.waitRead(4)
	r.check(map[string]int{"a": 2, "b": 2})
}

// TestTailRestartResumedLingeringLeftAtOnce: the run before stopped while it read on a
// lingering generation (access.log.1, left at 'a 0', read on to 'a 1' and acknowledged);
// this run resumes there and leaves it at once for access.log, lingering. Where it is
// left is recorded with the bytes before it (genEntry.Left, TailFP), so that the next run,
// finding it grown, reads it on from there, not from where the first run left it
// ('a 1' twice: issue 10, 47 lines doubled in the binary repro).
func TestTailRestartResumedLingeringLeftAtOnce(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(a, "a 1\n") // a's old writer
	c := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "a 1\n" {
		t.Fatalf("read %q, want a's line appended", c.Data)
	}
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.restart() // the checkpoint in access.log.1, after 'a 1'
	r.write(b, "b 1\n")
	r.readAll()
	r.tl.Close()
	r.write(a, "a 2\n") // while the shipper is down
	r.start()
	r.write(b, "b 2\n")
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 3})
}

// TestTailLingeringReadWhilePathGone: access.log (b) is deleted and not created again
// yet; the shipper restarts, and access.log.1 (a), grown since, lingers again. Its lines
// are read now, not once a file is at the path again.
func TestTailLingeringReadWhilePathGone(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readAll()
	b.Close()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.readAll()
	r.tl.Close()
	r.write(a, "a 1\n") // while the shipper is down
	r.start()
	r.waitRead(3)
	r.check(map[string]int{"a": 2, "b": 1})
}

// TestTailRestartWalksRecordedOrderNotMTime: the checkpoint is in a (access.log.2 now);
// the run before went on with b (access.log.1) and c (access.log). While the shipper is
// down, the old writers append to b, then to a: a is modified after b. The walk from the
// checkpoint goes from a to b as the record says, not past b because it looks older than
// a (b's appended line was never read, its offsets taken for destroyed: repro.sh seed
// 106, 27 lines of access.log.1 missing without a gap).
func TestTailRestartWalksRecordedOrderNotMTime(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.read(false)
	if err := os.Rename(r.path+".1", r.path+".2"); err != nil {
		t.Fatal(err)
	}
	r.rename(".1")
	c := r.create()
	r.write(c, "c 0\n")
	r.read(false)
	r.tl.Close()
	r.write(b, "b 1\n")
	r.write(a, "a 1\n")
	now := time.Now()
	for name, ago := range map[string]time.Duration{r.path + ".1": 10 * time.Second, r.path + ".2": 5 * time.Second} {
		if err := os.Chtimes(name, now.Add(-ago), now.Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}

// TestTailRestartWalkReachesLingeringReadOn: the run before read b (a generation after
// its last saved checkpoint), then on a lingering generation (what a's old writer
// appended to access.log.1) after it, and was stopped with its checkpoint still before
// b (acknowledgements it was told of not saved yet: --checkpoint-interval, a kill). The
// walk of the next run reads b again at its offsets and then a's appended line at the
// offsets it had: it took the record's entry there for a generation destroyed since,
// jumped, and read a's line again past the jump (sent twice; -model.oldwriter seed 81).
func TestTailRestartWalkReachesLingeringReadOn(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	saved, _, err := r.s.store.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	r.read(true)
	r.write(a, "a 1\n") // a's old writer
	r.readWant(true, "a 1\n", "read %q, want a's line appended")
	if err := r.tl.Ack(saved); err != nil { // the checkpoint saved last: before b
		t.Fatal(err)
	}
	r.restart()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2})
}

// TestTailRotatedExtensionKept: logrotate's "extension .log" keeps the extension last
// (access.log -> access.1.log -> access.2.log; with dateext access-20261130.log).
// Rotated twice while the shipper was down, the generation between the checkpointed one
// and the live file was not a rotated name of access.log (the default patterns were
// {name}.[0-9]* and the like), nor could a pattern say it ({name} was required): it was
// skipped whole, silently (a breaker's logrotate run: 200 of 1,000 lines missing, no
// gap, no warning). ExtensionRotatedNames ({stem}.N{ext}, {stem}-NNNNNNNN*{ext}), in the
// default, name them.
func TestTailRotatedExtensionKept(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		rotate func(dir string, k int)
	}{
		{"numbered", func(dir string, k int) {
			for i := k - 1; i >= 1; i-- {
				mustRename(t, filepath.Join(dir, fmt.Sprintf("access.%d.log", i)), filepath.Join(dir, fmt.Sprintf("access.%d.log", i+1)))
			}
			mustRename(t, filepath.Join(dir, "access.log"), filepath.Join(dir, "access.1.log"))
		}},
		{"dateext", func(dir string, k int) {
			mustRename(t, filepath.Join(dir, "access.log"), filepath.Join(dir, fmt.Sprintf("access-202611%02d.log", 10+k)))
		}},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			r := newRestartRig(t, 10*time.Millisecond)
			dir := filepath.Dir(r.path)
			a := r.create()
			r.write(a, "a 0\n")
			r.start()
			r.readAll()
			r.write(a, "a 1\n")
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			// Down: rotated twice.
			tc.rotate(dir, 1)
			b := r.create()
			r.write(b, "b 0\n")
			tc.rotate(dir, 2)
			c := r.create()
			r.write(c, "c 0\n")
			r.start()
			r.write(c, "c 1\n")
			r.readAll()
			r.check(map[string]int{"a": 2, "b": 1, "c": 2})
		})
	}
}

// TestTailBlindCheckpointRenamedTwiceWhileDown: the shipper was killed with the
// checkpoint it saved at start (the file empty then: no head known; what it read since
// not acknowledged), the file was written on, then rotated twice by rename while it was
// down (a -> access.log.2, b ->
// access.log.1, c at the path). The checkpointed file, found under its rotated name,
// changed before any byte of it was read: it was taken for a file copytruncated since,
// and b, rotated after it, for its copy: b was read at a's offsets (dropped by collectors
// as duplicates: silent loss) and a again after it (its lines twice). A file found renamed
// was not copytruncated: it is read from its start, then b, then c.
func TestTailBlindCheckpointRenamedTwiceWhileDown(t *testing.T) {
	r := newRestartRig(t, 10*time.Millisecond)
	a := r.create()
	r.start() // its start checkpoint names the empty file
	r.write(a, tagged("a", 0, 9))
	r.read(false) // sent, the acknowledgement not saved yet
	r.kill()
	r.write(a, tagged("a", 10, 19))
	r.rotateTwice(tagged("b", 0, 19), tagged("c", 0, 19))
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 20, "b": 20, "c": 20})
}

// TestDefaultRotatedNamesExtension: the default rotated names take logrotate's
// "extension .log" names (access.1.log, access.12.log, access-20261130.log), digits only
// after the dot, so that another live log (access.2fa.log, access.ssl.log) is no
// generation of access.log.
func TestDefaultRotatedNamesExtension(t *testing.T) {
	for name, want := range map[string]bool{
		"access.log.1": true, "access.log-20261130": true, "access.1.log": true, "access.12.log": true, "access.123.log": true,
		"access-20261130.log": true, "access-20261130-1030.log": true,
		"access.2fa.log": false, "access.ssl.log": false, "access.1.txt": false, "access-2026.log": false, "error.1.log": false,
	} {
		if got := isRotatedName(DefaultRotatedNames, "access.log", name); got != want {
			t.Errorf("%s a rotated name of access.log: %v, want %v", name, got, want)
		}
	}
}

// TestTailRestartOldWriterMakesCheckpointedNewest: the shipper was down across two
// rotations (create) while an old writer (an Apache graceful restart's child) kept
// appending to the checkpointed file: it ends with a later modification time than the
// generation rotated after it. The walk from the checkpoint took that generation for an
// older one by its time and skipped it whole, silently (a breaker's logrotate run: 100
// of 500 lines, 10 of 10 runs). Generations are told apart by their birth time where
// the file system keeps it: each rotation creates the next file.
func TestTailRestartOldWriterMakesCheckpointedNewest(t *testing.T) {
	r := newRestartRig(t, 10*time.Millisecond)
	a := r.create()
	r.write(a, tagged("a", 0, 9))
	r.start()
	r.readAll()
	r.kill()
	r.rotateTwice(tagged("b", 0, 9), tagged("c", 0, 9))
	later := time.Now().Add(time.Second)
	r.write(a, tagged("a", 10, 19)) // the old writer, after both rotations
	if err := os.Chtimes(r.path+".2", later, later); err != nil {
		t.Fatal(err)
	}
	if bornAt(r.path+".1") == 0 {
		t.Skip("the file system keeps no birth times: generations are ordered by modification time")
	}
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 20, "b": 10, "c": 10})
}

// TestTailRestartWalkReachesReadOnAgain: b (access.log), read after a (access.log.1,
// renamed, its writer kept) by a run that stopped with its checkpoint in a, was shrunk to
// its first line and written while the shipper was down, a written by its old writer
// too. The next run reads b again at the offsets it had up to where it still holds what
// was read, then on, parks it at its end to read on a, and stops before that read was
// acknowledged, its checkpoint inside b. The walk from there reads b again, and a, grown,
// is read on again (lookLinger, b not left): at the offsets the run before read it at,
// as the record says, not after a jump past them (its line sent twice: -model.shrink
// -model.oldwriter seed 9066).
func TestTailRestartWalkReachesReadOnAgain(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.write(b, "b 1\n")
	r.readWant(false, "b 0\nb 1\n", "read %q, want b") // a left at its end
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	r.write(a, "a 1\n")
	r.shrink("b 0\n")
	r.write(b, "b 2\n")
	r.start()
	cs := readChunks(t, r.w, r.tl, 4) // b, a line a chunk; then b is parked for a
	r.stream.add(t, cs)
	for _, c := range cs {
		if err := r.tl.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	r.readWant(false, "a 1\n", "read %q once b was acknowledged, want a's line written while the shipper was down")
	if err := r.tl.Ack(cs[0].Pos); err != nil { // the checkpoint inside b
		t.Fatal(err)
	}
	r.restart()
	r.readAll()
	lines := r.stream.lines()
	if !slices.Contains(lines, "b 2") {
		t.Fatalf("stream %q, want b's line written while the shipper was down", lines)
	}
	checkGenerations(t, slices.DeleteFunc(lines, func(l string) bool { return l[0] == 'b' }), map[string]int{"a": 2})
}

// TestTailRestartCopyEndsWhereReadOnBefore: the run before parked b (access.log) at its
// end to read on a (access.log.1, its old writer appended), and stopped before that was
// acknowledged, its checkpoint inside b. b is copytruncated to access.log.2 and written
// again after the next run resumed there, before it read any of it: the copy is drained
// from the checkpoint to where the run before parked b, then a is read on again at the
// offsets that run read it at, as the record says, then b from its start. Gone back to b
// first, the stream jumped past a's offsets, and a's line was read again by the run
// after, sent twice (-model.shrink -model.oldwriter seed 9077).
func TestTailRestartCopyEndsWhereReadOnBefore(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readAll() // b's first line; a lingers, left at its end
	cp := r.tl.lastAck.Load()
	r.write(b, "b 1\n")
	r.readAll() // b's second line, acknowledged
	r.write(a, "a 1\n")
	r.readWant(false, "a 1\n", "read %q after a's old writer appended, want its line (b parked)")
	if err := r.tl.Ack(*cp); err != nil { // the checkpoint before where b was parked
		t.Fatal(err)
	}
	r.restart()
	r.copyTruncate(".2", 5)
	r.write(b, "b 2\n")
	stamp(t, r.path, 6)
	r.readAll()
	r.restart()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 3})
}
