package source

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTailLingeringTakesTurnsWhilePathGone: a and b (access.log.1, access.log.2) linger
// with their old writers; c, at the path, was read and then deleted. a grows and is read
// on (c parked); then b grows. With the path gone, a (renamed away, no newer file with
// data) was followed on as if the writer might still use it, and c parked and b never
// entered again: b's lines were never read (-model.oldwriter seeds 5, 75, 122: lines
// missing at the end, never destroyed). A lingering generation read on goes back to the
// one parked for it at its end, so that the others take their turns.
func TestTailLingeringTakesTurnsWhilePathGone(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readAll()
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	r.readAll() // b lingers, c followed
	c.Close()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.readAll()
	r.write(a, "a 1\n")
	r.readAll()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}

// TestTailRestartInLingeringReadOnAgain: access.log.1 (a) lingers and is read on twice
// from where it was left, the generation at the path (b) parked each time with nothing
// new, so that both of a's reads have the same base; the checkpoint saved last is inside
// the second one ('a 2' acknowledged, 'a 3' and b entered again after it not saved yet:
// --checkpoint-interval, a kill). The restart took the checkpoint for the end of a
// generation left (the first read's end is before it) and read a on from where the
// first read left it, past a jump: 'a 2' sent twice (-model.oldwriter seed 58). It
// resumes inside the second read, at the offsets it had.
func TestTailRestartInLingeringReadOnAgain(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(true, "b 0\n", "read %q, want b's line")
	r.write(a, "a 1\n")
	r.readWant(true, "a 1\n", "read %q, want a's line appended")
	r.readAll() // acknowledged: back to b, nothing new there
	r.write(a, "a 2\na 3\n")
	c := next(t, r.tl, 4) // 'a 2' only
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "a 2\n" {
		t.Fatalf("read %q, want 'a 2'", c.Data)
	}
	r.readAll()                             // 'a 3', then back to b
	if err := r.tl.Ack(c.Pos); err != nil { // the checkpoint saved last: after 'a 2'
		t.Fatal(err)
	}
	r.restart()
	r.write(b, "b 1\n")
	r.readAll()
	r.check(map[string]int{"a": 4, "b": 2})
}

// TestTailRestartWalksRecordedBeforeCopy: the checkpoint is where a (access.log.1) was
// left; the run before went on with b, not acknowledged. While the shipper is down, b is
// renamed to access.log.2 (its old writer keeps appending to it) and c, the next file,
// is copytruncated to access.log.3 before any byte of it was read: the copy is older by
// its time than b. The walk from the checkpoint took the copy first (the oldest time),
// found the record's next offsets given to b, jumped past them and read b again after
// it: 'b 0' sent twice (-model.oldwriter seed 108). The generation the record names next
// comes first, at the offsets it had.
func TestTailRestartWalksRecordedBeforeCopy(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	_, b := r.rotated()
	r.readWant(false, "b 0\n", "read %q, want b's line")
	r.tl.Close()
	r.rename(".2")
	c := r.create()
	r.write(c, "c 0\n")
	if err := os.WriteFile(r.path+".3", []byte("c 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, "b 1\n") // b's old writer
	// Times after the checkpoint's last look (one tick apart), the copy before b.
	now := time.Now()
	for name, in := range map[string]time.Duration{r.path + ".3": 5 * time.Second, r.path + ".2": 10 * time.Second, r.path: 10 * time.Second} {
		if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 1, "b": 2, "c": 1})
}

// TestTailRestartLingeringReadOnPastJump: the checkpoint is where a (access.log.1) was
// left; the run before went on with b, deleted while the shipper was down. The next run
// finds b destroyed, jumps past its offsets and reads on there what a's old writer
// appended (not acknowledged), then restarts. The run after found the record's entry of
// that read past the checkpoint's offset and did not enter a there: it jumped again and
// read 'a 1' a second time (-model.oldwriter seeds 70, 121). The recorded gaps cover the
// offsets between: a is read on again past the same gap, at the offsets it had.
func TestTailRestartLingeringReadOnPastJump(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readWant(false, "b 0\n", "read %q, want b's line")
	r.tl.Close()
	b.Close()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.write(a, "a 1\n") // a's old writer, while the shipper is down
	r.start()
	r.readWant(false, "a 1\n", "read %q after the restart, want a's line appended")
	r.restart()
	r.write(a, "a 2\n")
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 1})
}

// TestTailRestartWalksGenerationParkedAtItsEnd: the run before read b to its end, parked
// it there to read on what a's old writer appended (access.log.1, left at the
// checkpoint), then entered b again where it was parked (a record entry of b past its
// start, at the offsets after a's line) and was stopped with its checkpoint still at a's
// leave. The walk took that entry for b shrunk and read on past its start (truncate -s
// N), or for b's offsets: it skipped the offsets of a's line as b's old content (or read
// b at them: offsets reused), and read a's line again after (-model.oldwriter seeds 81,
// 205). An entry that begins where the generation was left is no shrink, and b is read
// at the offsets it had from its start.
func TestTailRestartWalksGenerationParkedAtItsEnd(t *testing.T) {
	for _, rename := range []bool{false, true} {
		t.Run(map[bool]string{false: "at the path", true: "renamed"}[rename], func(t *testing.T) {
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
			r.readAll() // a left, lingering; b read
			r.write(a, "a 1\n")
			r.readAll()                             // b parked at its end, a read on, then b again
			if err := r.tl.Ack(saved); err != nil { // the checkpoint saved last: at a's end
				t.Fatal(err)
			}
			r.tl.Close()
			w, want := b, map[string]int{"a": 2, "b": 2}
			if rename {
				r.rename(".2")
				w, want = r.create(), map[string]int{"a": 2, "b": 1, "c": 2}
				r.write(w, "c 0\n")
			}
			r.start()
			r.write(w, map[bool]string{false: "b 1\n", true: "c 1\n"}[rename])
			r.readAll()
			r.check(want)
		})
	}
}

// TestTailRestartCopyReadUpToWhereLeft: the run before read b (access.log) to 'b 0',
// parked it there to read on what a's old writer appended (access.log.1, left at the
// checkpoint), then went back to b; its checkpoint is still at a's leave. While the
// shipper is down, b, grown by 'b 1', is copytruncated to access.log.2. The walk read the
// copy from its start past where b was left, putting 'b 1' at the offsets 'a 1' had
// (offsets reused: collectors drop it as a duplicate; -model.oldwriter seed 50): the
// record's leave of b was looked for under the copy's inode only. A copy (another inode
// with b's head) is read up to where b was left, a's line then at the offsets it had,
// the copy's rest after. So too when the shipper restarts again with the checkpoint in
// the copy where b was left (its leave, due next, not made yet).
func TestTailRestartCopyReadUpToWhereLeft(t *testing.T) {
	for _, again := range []bool{false, true} {
		t.Run(map[bool]string{false: "walk", true: "restart at the leave"}[again], func(t *testing.T) {
			testTailRestartCopyReadUpToWhereLeft(t, again)
		})
	}
}

func testTailRestartCopyReadUpToWhereLeft(t *testing.T, again bool) {
	r, a, b, saved := newLingeringRig(t)
	r.write(a, "a 1\n")
	r.readAll() // b parked, a read on, then b again
	r.write(b, "b 1\n")
	if err := r.tl.Ack(saved); err != nil { // the checkpoint saved last: at a's end
		t.Fatal(err)
	}
	r.tl.Close()
	if err := os.WriteFile(r.path+".2", []byte("b 0\nb 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, "c 0\n")
	r.start()
	if again {
		c := next(t, r.tl, 64<<10)
		r.stream.add(t, []Chunk{c})
		if string(c.Data) != "b 0\n" {
			t.Fatalf("read %q, want the copy up to where b was left", c.Data)
		}
		if err := r.tl.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
		r.restart()
	}
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2, "c": 1})
}

// TestTailRestartWalkReadsLingeringBeforeNextRotated: as
// TestTailRestartWalksGenerationParkedAtItsEnd, b renamed to access.log.2 while the
// shipper is down and c, created after it, rotated too (access.log.3). The walk left b
// where the run before had left it, then took c, a rotated generation not read yet, at
// the offsets the run before had read a's appended line at: it found them used,
// jumped, and read 'a 1' again later (-model.oldwriter seed 230). Leaving a generation
// where the run before left it, the walk reads on the lingering one there first.
func TestTailRestartWalkReadsLingeringBeforeNextRotated(t *testing.T) {
	r, a, _, saved := newLingeringRig(t)
	r.write(a, "a 1\n")
	r.readAll() // b parked at its end, a read on, then b again
	// The checkpoint saved last: at a's end.
	if err := r.tl.Ack(saved); err != nil {
		t.Fatal(err)
	}
	r.tl.Close()
	r.rename(".2")
	r.write(r.create(), "c 0\n")
	r.rename(".3")
	r.write(r.create(), "d 0\n")
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 1, "c": 1, "d": 1})
}

// TestTailRestartMidLineThenLeftGrows: the shipper restarts with its checkpoint in the
// middle of a's first line (a fragment sent and acknowledged), reads the line's rest,
// then leaves a for b (a renamed to access.log.1, its old writer still holding it).
// Resumed mid-line, a's base was not taken as known, so its leave was not recorded: the
// next run, a grown while it was down, did not know where a was left: 'a 1' was never
// read (or, a's time among those of generations not read yet, a was read again from its
// start: -model.oldwriter seed 115, lines sent twice). The record of generations says
// where a's byte 0 is in the stream.
func TestTailRestartMidLineThenLeftGrows(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0 "+strings.Repeat("x", 40)+"\n")
	r.start()
	c := next(t, r.tl, 8) // a fragment of a's first line
	r.stream.add(t, []Chunk{c})
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0\n")
	r.readAll() // a left, lingering; b read
	r.tl.Close()
	r.write(a, "a 1\n") // a's old writer, while the shipper is down
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 1})
}

// TestTailCopyNotLingering: b, at the path, is known by one byte only ('x', part of a
// line) when it is copytruncated to access.log.2; a (access.log.1), which the tailer
// lingers on, starts with the same byte and was written since b began (its old writer).
// a was taken for b's copy and read on from b's read offset as b's rest ('xa 0' twice:
// its first byte from b, the rest from a; -model.oldwriter seed 208). A generation the
// tailer lingers on is no copy of the one it follows.
func TestTailCopyNotLingering(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "xa 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "x")
	r.readAll() // a left, lingering; b's first byte read, its line pending
	r.write(a, "xa 1\n")
	r.write(b, "b 0\n")
	if err := os.WriteFile(r.path+".2", []byte("xb 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(b, "xc 0\n")
	now := time.Now()
	for name, in := range map[string]time.Duration{r.path + ".1": time.Second, r.path + ".2": 2 * time.Second, r.path: 3 * time.Second} {
		if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
			t.Fatal(err)
		}
	}
	r.readAll()
	r.check(map[string]int{"xa": 2, "xb": 1, "xc": 1})
}

// TestTailRestartLingeringReadOnUpToWhereLeft: the run before parked b to read on what
// a's old writer appended (access.log.1: 'a 1'), went back to b and read 'b 1' after it;
// its checkpoint is still where b was parked. While the shipper is down a's writer
// appends 'a 2' (and, "rotated", b and the file after it are rotated by rename). The
// walk read a on at the offsets it had past where that run left it: 'a 2' at the offsets
// of 'b 1' (offsets reused; -model.oldwriter seed 218). It is read up to there, b's line
// then at its offsets, 'a 2' after. And once a lingering generation read on by the walk
// is left, the rotated generations not read yet are those newer than the one left
// before it (or the checkpoint's look), not than it, which its old writer keeps newer:
// c, rotated after b, was skipped as older than b, its line never read.
func TestTailRestartLingeringReadOnUpToWhereLeft(t *testing.T) {
	for _, rotated := range []bool{false, true} {
		t.Run(map[bool]string{false: "at the path", true: "rotated"}[rotated], func(t *testing.T) {
			r := newRestartRig(t, time.Hour)
			a, b := r.rotated()
			r.readWant(true, "b 0\n", "read %q, want b's line")
			saved, _, err := r.s.store.Load(r.path)
			if err != nil {
				t.Fatal(err)
			}
			r.write(a, "a 1\n")
			r.readAll() // b parked, a read on, then b again
			r.write(b, "b 1\n")
			r.readAll()
			// The checkpoint saved last: where b was parked.
			if err := r.tl.Ack(saved); err != nil {
				t.Fatal(err)
			}
			r.tl.Close()
			want := map[string]int{"a": 3, "b": 2}
			if rotated {
				r.rename(".2")
				r.write(r.create(), "c 0\n")
				r.rename(".3")
				r.write(r.create(), "d 0\n")
				r.write(b, "b 2\n") // b's old writer too: b newer than c
				want["b"], want["c"], want["d"] = 3, 1, 1
				now := time.Now()
				for name, in := range map[string]time.Duration{r.path + ".3": time.Second, r.path + ".2": 2 * time.Second, r.path: 2 * time.Second} {
					if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.write(a, "a 2\n")
			if err := os.Chtimes(r.path+".1", time.Now().Add(3*time.Second), time.Now().Add(3*time.Second)); err != nil {
				t.Fatal(err)
			}
			r.start()
			r.readAll()
			r.check(want)
		})
	}
}

// TestTailLingeringNotHeldAhead: after a restart the tailer follows b at the path and
// looks at a (access.log.1, left by the run before) for growth; b is deleted while its
// writer holds it, which then writes half a line, and a's old writer appends: a lingers
// again, not read yet (b's line is pending). A look on a creation event (fsnotify; here
// counted by hand) listed the rotated names and held a, new to it, ahead as a newer
// generation with data: b, deleted, was left at once, its half line cut and its rest
// read as a line never written (-model.oldwriter seed 67, with fsnotify only). A
// generation t lingers on is older than the one it follows, never held ahead.
func TestTailLingeringNotHeldAhead(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a, b := r.rotated()
	r.readAll()
	r.restart()
	r.write(b, "b 1\n")
	r.readAll()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.write(b, "b 2 and")
	r.read(true) // b's half line read, pending
	r.write(a, "a 1\n")
	r.read(true) // a lingers again (read once b's line is ended)
	if r.lingering() != 1 {
		t.Fatalf("%d generations followed for rotate_wait, want a", r.lingering())
	}
	r.tl.mu.Lock()
	r.tl.creates.Add(1) // a creation of the path, as fsnotify reports one
	r.tl.look(false)
	r.tl.unlockLooks()
	r.read(true)
	r.write(b, " its rest\n")
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 3})
}

// TestTailWalkSinceHistoryNotByTime: the shipper stopped with no file followed; while it
// was down x and y were rotated (access.log.1, access.log.2) and z created at the path.
// The walk drains x first (the oldest), whose old writer then appends: x, left, is newer
// by its time than y, which was skipped as an older generation, its line never read
// (-model.oldwriter seed 179, about half its runs). A rotated file that appeared since
// the history was taken is a generation not read yet, whatever its time.
func TestTailWalkSinceHistoryNotByTime(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	r.start() // no file at the path
	r.readAll()
	r.tl.Close()
	x := r.create()
	r.write(x, "x 0\n")
	r.rename(".1")
	r.write(r.create(), "y 0\n")
	r.rename(".2")
	r.write(r.create(), "z 0\n")
	now := time.Now()
	for name, in := range map[string]time.Duration{r.path + ".1": time.Second, r.path + ".2": 2 * time.Second, r.path: 3 * time.Second} {
		if err := os.Chtimes(name, now.Add(in), now.Add(in)); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	c := next(t, r.tl, 64<<10)
	r.stream.add(t, []Chunk{c})
	if string(c.Data) != "x 0\n" {
		t.Fatalf("read %q, want x's line first", c.Data)
	}
	r.write(x, "x 1\n") // x's old writer
	if err := os.Chtimes(r.path+".1", now.Add(4*time.Second), now.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	r.readAll()
	r.check(map[string]int{"x": 2, "y": 1, "z": 1})
}

// TestTailRestartLingeringReadOnPastDestroyed: the checkpoint is where a (access.log.1)
// was left; the run before read b after it, then b was deleted (its descriptor closed
// with the run), then read on a's appended line after b's offsets. The next run found
// the record's read-on of a beyond the checkpoint, past b's offsets, and did not enter a
// there (no gap recorded between): a was read on later past a jump, 'a 1' a second time
// (-model.oldwriter seed 368). b destroyed, its offsets are moved past as bytes sent and
// destroyed, and a is read on at the offsets it had.
func TestTailRestartLingeringReadOnPastDestroyed(t *testing.T) {
	r, a, b, saved := newLingeringRig(t)
	b.Close()
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.write(a, "a 1\n")
	r.readAll() // a read on after b
	// The checkpoint saved last: at a's end.
	if err := r.tl.Ack(saved); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.write(a, "a 2\n")
	r.readAll()
	r.check(map[string]int{"a": 3, "b": 1})
}

// TestGenLogRecordedFromInodeReused: a run read, after the checkpoint, a generation
// whose file was deleted since, then one whose file got its inode number (ext4 gives it
// to the next file created): recordedFrom kept one key per inode, the first's, and the
// walk did not know the second for a generation the record names next (its head did not
// match): it took another rotated file first and read it again past a jump
// (-model.oldwriter seed 374). Each head recorded is a key of its own, in stream order.
func TestGenLogRecordedFromInodeReused(t *testing.T) {
	l, err := openGenLog(filepath.Join(t.TempDir(), "ckpt-x.gens"), 1, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []genEntry{
		{Stream: 1, Base: 100, Dev: 1, Ino: 7, FPLen: 1024, FP: 11},
		{Stream: 1, Base: 300, Dev: 1, Ino: 8, FPLen: 40, FP: 33},
		{Stream: 1, Base: 200, Dev: 1, Ino: 7, FPLen: 60, FP: 22},
	} {
		if err := l.add(e, 0); err != nil {
			t.Fatal(err)
		}
	}
	l.resumed()
	want := []fileKey{{1, 7, 1024, 11}, {1, 7, 60, 22}, {1, 8, 40, 33}}
	if got := l.recordedFrom(50); !slices.Equal(got, want) {
		t.Fatalf("recordedFrom: %v, want %v", got, want)
	}
}

// TestTailRestartMidLineWalksUpToWhereLeft: the checkpoint saved last is in the middle
// of b's first line (a fragment sent); the run before read b to its end, parked it to
// read on what a's old writer appended (access.log.1), and went back to b. While the
// shipper is down b grows and is renamed (access.log.2). The walk from the checkpoint
// read b past where that run left it (leaveWhereLeft gave up in the middle of a line),
// putting b's new line at the offsets of a's (offsets reused; -model.oldwriter seed
// 536). The record says where b's byte 0 is: b is read up to where it was left, a's line
// then at its offsets, b's new line after.
func TestTailRestartMidLineWalksUpToWhereLeft(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	a := r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	r.rename(".1")
	b := r.create()
	r.write(b, "b 0 "+strings.Repeat("x", 40)+"\n")
	c := next(t, r.tl, 8) // a fragment of b's first line; a left, lingering
	r.stream.add(t, []Chunk{c})
	r.readAll()
	r.write(a, "a 1\n")
	r.readAll() // b parked at its end, a read on, then b again
	r.write(b, "b 1\n")
	// The checkpoint saved last: in the middle of b's first line.
	if err := r.tl.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	r.tl.Close()
	r.rename(".2")
	r.start()
	r.readAll()
	r.check(map[string]int{"a": 2, "b": 2})
}

// newLingeringRig starts the restart tests of a lingering generation: a written and read
// (saved: the checkpoint then, at a's end), renamed access.log.1 (left, lingering), b
// created at the path and read.
func newLingeringRig(t *testing.T) (r *restartRig, a, b *os.File, saved Checkpoint) {
	t.Helper()
	r = newRestartRig(t, time.Hour)
	a = r.create()
	r.write(a, "a 0\n")
	r.start()
	r.readAll()
	saved, _, err := r.s.store.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.rename(".1")
	b = r.create()
	r.write(b, "b 0\n")
	r.readAll() // a left, lingering; b read
	return r, a, b, saved
}
