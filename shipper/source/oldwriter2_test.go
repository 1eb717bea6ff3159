package source

import (
	"os"
	"testing"
	"time"
)

// TestTailLiveFileRenamedBeforeCopyDrainedLingers: a (access.log) is copytruncated to
// access.log.1 with a line not read yet, then renamed to access.log.2 while its writer
// keeps appending to it (an Apache graceful restart's old children), b created at the
// path, all before the tailer looks. The tailer drains the copy, enters the live file
// again from its start (backToLive) under the path's name, though it is not at the path
// any more, and leaves it for b: taken for no renamed generation (its name was the
// path's), it was never lingered on, and what its old writer appended after was never
// read (-model.oldwriter seed 1141). It lingers under its rotated name.
func TestTailLiveFileRenamedBeforeCopyDrainedLingers(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.write(a, "a 1\n")
	copyTruncate(t, r.path, r.path+".1")
	r.write(a, "c 0\n") // the old writer, after the truncation
	r.rename(".2")
	b := r.create()
	r.write(b, "b 0\n")
	r.readAll() // the copy's 'a 1', the live file's 'c 0', then b
	if r.lingering() != 1 {
		t.Errorf("%d generations lingering after the live file was left under its rotated name, want 1", r.lingering())
	}
	r.write(a, "c 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 1, "c": 2})
}

// TestTailLiveFileAfterCopyKeepsBirth: a (access.log) is copytruncated to access.log.2
// with a line not read yet, renamed to access.log.3 while its writer keeps appending to
// it, b created at the path. The tailer drains the copy and enters a again from its
// start (backToLive). b is written, then copytruncated to access.log.4, and written
// again; a's old writer appends after the copy, so a is newer by its time than b's copy.
// Entered again without its birth time, a left for b made the copy, born after a, an
// older generation by its time: skipped whole, b's lines before the truncation never
// read (-model.shrink -model.oldwriter seed 9143). The copy is drained before b.
func TestTailLiveFileAfterCopyKeepsBirth(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	stamp(t, r.path, 0)
	r.start()
	r.readAll()
	r.write(a, "a 1\n")
	r.copyTruncate(".2", 1)
	r.rename(".3")
	b := r.create()
	r.write(a, "a 2\n")
	stamp(t, r.path+".3", 2)
	r.readAll() // the copy's 'a 1', then a's 'a 2' (b is empty)
	r.write(b, "b 0\n")
	r.copyTruncate(".4", 3)
	r.write(b, "b 1\n")
	stamp(t, r.path, 4)
	r.write(a, "a 3\n")
	stamp(t, r.path+".3", 5)
	r.readAll()
	r.check(map[string]int{"a": 4, "b": 2})
}

// TestTailLingeringEmptyGrowsNoCopyOfBlindFile: a (access.log) was empty when it was
// renamed to access.log.1 (its writer kept), and lingers, left at its start, once b at
// the path has data; b is read, then truncated, and empty again whenever the tailer
// looks (blind). a's old writer appends, then b's writer: a changed since the last look
// and is older than b's change, so the look for a copy of b made before any byte of it
// was read (findUnreadCopy) took a for copytruncate's copy of b: drained as a copy, it
// was lingered on no more, and what its writer appended after was never read
// (-model.oldwriter seed 1141). A generation lingered on is no copy.
func TestTailLingeringEmptyGrowsNoCopyOfBlindFile(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	r.readAll() // a left at its start, lingering; b read
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.readAll() // b truncated: read from its start, empty
	r.write(a, "a 0\n")
	r.write(b, "c 0\n")
	r.readAll()
	r.write(a, "a 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 1, "c": 1})
}

// TestTailRestartInLingeringParkedCopied: the run before read b (access.log) to 'b 0',
// parked it to read on what a's old writer appended (access.log.1), and stopped inside
// that read ('a 1' acknowledged, 'a 2' not), 'b 1' written to b meanwhile, not read.
// While the shipper is down, b is copytruncated to access.log.2 (the file at the path
// then empty, or written again), and a's old writer appends again: a is newer by its
// time than the copy. The next run read a on, then took the copy for a generation older
// than a (its time; its head is b's, read before) and skipped it: with the path empty it
// waited on a, the path written it read that from its start; 'b 1' was never read
// (-model.oldwriter seed 1027). The copy is b grown past where it was left: read on
// from there after a, at the stream's next offsets. So too b renamed (not copied).
func TestTailRestartInLingeringParkedCopied(t *testing.T) {
	for _, how := range []string{"copied", "copied, path written", "renamed"} {
		t.Run(how, func(t *testing.T) {
			r, a, b, _ := newLingeringRig(t)
			r.write(a, "a 1\na 2\n")
			c := next(t, r.tl, 4) // 'a 1' only (b parked at its end)
			r.stream.add(t, []Chunk{c})
			if string(c.Data) != "a 1\n" {
				t.Fatalf("read %q, want 'a 1'", c.Data)
			}
			if err := r.tl.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
			r.write(b, "b 1\n")
			r.tl.Close()
			want := map[string]int{"a": 4, "b": 2}
			switch how {
			case "copied":
				copyTruncate(t, r.path, r.path+".2")
			case "copied, path written":
				copyTruncate(t, r.path, r.path+".2")
				r.write(b, "c 0\n")
				want["c"] = 1
			case "renamed":
				r.rename(".2")
				r.write(r.create(), "c 0\n")
				want["c"] = 1
			}
			r.write(a, "a 3\n")
			// The copy (or b) older by its time than a's last append.
			now := time.Now()
			for name, in := range map[string]time.Duration{r.path + ".2": 5 * time.Second, r.path: 5 * time.Second, r.path + ".1": 10 * time.Second} {
				if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
					t.Fatal(err)
				}
			}
			r.start()
			r.readAll()
			r.check(want)
		})
	}
}

// TestTailRestartLingeringReadOnTwiceSameBase: a (access.log.1) lingers and is read on
// twice, b (at the path) parked each time with nothing new, so that both reads have the
// same base; the checkpoint is at the end of the first ('a 1' acknowledged), the
// second ('a 2') not acknowledged.
func TestTailRestartLingeringReadOnTwiceSameBase(t *testing.T) {
	r, a, _, _ := newLingeringRig(t)
	r.write(a, "a 1\n")
	r.readAll() // b parked at its end, 'a 1', back to b
	r.write(a, "a 2\n")
	r.readWant(false, "a 2\n", "read %q, want a's line appended")
	r.restart()
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 1})
}

// TestTailRestartCopyOfParkedReadWhole: b (access.log) is copied to access.log.2
// (copytruncate's copy, its truncation to come), then written ('b 2', in the window);
// the tailer reads b to its end, parks it there to read on what a's old writer appended
// (access.log.1), and stops inside that read, all acknowledged. While the shipper is
// down, b is truncated and written again. The walk from the checkpoint took the copy
// (its time after a's) for a rotated generation not read yet (no inode of the record,
// and shorter than where b was left) and read it whole again past a jump: b's lines sent
// twice (-model.oldwriter seed 748). A copy of no more than what was read of a
// generation the stream holds wholly before the checkpoint (its head, a whole line, and
// where it was left) holds nothing new.
func TestTailRestartCopyOfParkedReadWhole(t *testing.T) {
	r, a, b, _ := newLingeringRig(t)
	r.write(b, "b 1\n")
	r.readAll()
	copyOnly(t, r.path, r.path+".2")
	r.write(b, "b 2\n")
	r.write(a, "a 1\n")
	r.readWant(true, "b 2\n", "read %q, want b's line written in copytruncate's window")
	c := next(t, r.tl, 64<<10) // 'a 1' (b parked at its end)
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "a 1\n" {
		t.Fatalf("read %q, want 'a 1'", c.Data)
	}
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.tl.Close()
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, "c 0\n")
	now := time.Now()
	for name, in := range map[string]time.Duration{r.path + ".1": 5 * time.Second, r.path + ".2": 10 * time.Second, r.path: 10 * time.Second} {
		if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 3, "c": 1})
}

// TestTailRestartReplacedParkedAtStart: b (access.log) is truncated and written again
// ('c 0') while 'b 1' is not acknowledged yet; the tailer enters the new content at its
// start, and, once 'b 1' is acknowledged, parks it there (nothing of it read) to read on
// what a's old writer appended (access.log.1), 'a 1' at the offsets that follow. The
// restart from the checkpoint in b's old content (where 'b 1' ends) found the new
// content recorded after it and read it at the offsets it was entered at: those 'a 1'
// was sent at (offsets reused: collectors drop 'c 0' as a resend; -model.oldwriter seed
// 701). The run before left it there at once and went on with a: so does the walk.
func TestTailRestartReplacedParkedAtStart(t *testing.T) {
	r, a, b, _ := newLingeringRig(t)
	r.write(b, "b 1\n")
	c := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "b 1\n" {
		t.Fatalf("read %q, want 'b 1'", c.Data)
	}
	r.write(a, "a 1\n")
	if got := r.read(false); got != "" {
		t.Fatalf("read %q before 'b 1' was acknowledged, want nothing", got)
	}
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, "c 0\n")
	if got := r.read(false); got != "" {
		t.Fatalf("read %q before 'b 1' was acknowledged, want nothing", got)
	}
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.readWant(false, "a 1\n", "read %q once 'b 1' was acknowledged, want a's line appended")
	r.restart()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}

// TestTailLingeringBackCopiedInWindow: a (access.log), copytruncated to access.log.1
// and renamed to access.log.2 before the tailer looked, lingers at its start once the
// copy is drained and b is read at the path. a is renamed back to the path (b away to
// access.log.3), written to, and copied to access.log.4 (copytruncate's copy, its
// truncation to come). The tailer drains the copy as a rotated generation not read yet,
// then finds a at the path, the generation it lingers on, and read it on from where it
// was left (its start): the copy's lines sent twice (-model.shrink seed 178). The file
// starts with all of the copy: it is read from the copy's end, as any file at the path
// that does.
func TestTailLingeringBackCopiedInWindow(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	copyTruncate(t, r.path, r.path+".1")
	r.rename(".2")
	b := r.create()
	r.write(b, "b 0\n")
	r.readAll() // the copy, a (lingering at its start), b
	if r.lingering() != 1 {
		t.Fatalf("%d generations lingering, want 1", r.lingering())
	}
	r.rename(".3")
	mustRename(t, r.path+".2", r.path)
	r.write(a, "c 0\nc 1\n")
	copyOnly(t, r.path, r.path+".4")
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 1, "c": 2})
}

// TestTailRestartCopyDrainedLiveFileRecordedNext: a (access.log.1) was renamed empty,
// its writer kept, before the tailer first looked; b (access.log) is read, then
// copytruncated to access.log.2 and written again. The run before drained the copy,
// then read b again from its start, and stopped before that was acknowledged; a's old
// writer wrote after the copy was made (a is newer by its time). The walk from the
// checkpoint drains the copy, then reads b from its start at the offsets the run before
// read it at, as the record says, before a: taken first, a had those offsets and b's
// lines were read again after a jump, sent twice (-model.shrink -model.oldwriter seed
// 9106).
func TestTailRestartCopyDrainedLiveFileRecordedNext(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	stamp(t, r.path, 0)
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	stamp(t, r.path, 1)
	r.start()
	r.readAll()
	r.write(b, "b 1\n")
	r.copyTruncate(".2", 2)
	r.write(b, "b 2\n")
	stamp(t, r.path, 3)
	r.write(a, "a 0\n")
	stamp(t, r.path+".1", 4)
	r.readWant(false, "b 1\nb 2\n", "read %q, want the copy's line then b's new one")
	r.restart()
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 3})
}
