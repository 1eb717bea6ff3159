package source

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// case20Lines returns n lines "<g> i\n", i from 0, each padded to 40 bytes.
func case20Lines(g string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%-39s\n", fmt.Sprintf("%s %d", g, i))
	}
	return b.String()
}

// countedGap returns the bytes chunks announce lost (Chunk.Lost) that are not announced
// unused: what a collector lacking them counts as a gap of known size.
func countedGap(cs []Chunk) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.Lost
		for _, u := range c.Unused {
			n -= u.To - u.From
		}
	}
	return n
}

// TestTailCase20GenerationSeenByCrashedRunNotSized (bench case 20, ROTATE=5; failing
// test, not for landing): copytruncate with a rotate count, a SIGKILL loop, nothing
// acknowledged. Run 1 reads a (then copytruncated to .1) and b in the file at the path,
// and is killed. While down, copytruncate again (b to .1, a deleted by the rotate count),
// and c is written. Run 2 walks from its checkpoint: a is gone (counted), it reads b's
// copy again and c's lines in the file at the path (returned, not acknowledged: the
// collector may never get them, as in the bench where the run dies before its batch
// goes out) and is killed. While down, the rotate count deletes every copy holding a, b
// and c (copytruncate twice more, d then e written). Run 3 walks from the checkpoint
// again: c's generation, recorded by run 2 with its head (and seen at its size), is
// gone. Its bytes existed and were seen; the contract (issue 10) wants them in a counted
// gap of their size, never in offsets announced unused (an unknown gap at collectors).
func TestTailCase20GenerationSeenByCrashedRunNotSized(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	a, b, c := case20Lines("a", 5), case20Lines("b", 5), case20Lines("c", 7)
	r.write(f, a)
	r.start()
	r.read(false)
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, b)
	r.w.Tick()
	r.read(false)
	r.kill()

	// Down: logrotate copytruncate, rotate 1 (a's copy deleted), c written.
	mustRename(t, r.path+".1", r.path+".2")
	copyTruncate(t, r.path, r.path+".1")
	if err := os.Remove(r.path + ".2"); err != nil {
		t.Fatal(err)
	}
	r.write(f, c)
	r.start()
	cs2 := readChunks(t, r.w, r.tl, 64<<10)
	r.w.Tick()
	cs2 = append(cs2, readChunks(t, r.w, r.tl, 64<<10)...)
	cFrom, cTo := uint64(0), uint64(0) // c's offsets in the stream, as run 2 returned them
	for _, ch := range cs2 {
		if i := strings.Index(string(ch.Data), "c 0 "); i >= 0 && cTo == 0 {
			cFrom = ch.Offset + uint64(i)
		}
		if i := strings.Index(string(ch.Data), "c 6 "); i >= 0 {
			cTo = ch.Offset + uint64(i) + 40
		}
	}
	if cTo-cFrom != uint64(len(c)) {
		t.Fatalf("run 2 returned c at [%d, %d), want its %d bytes: %q", cFrom, cTo, len(c), chunkBytes(cs2))
	}
	r.kill()

	// Down: b's copy and c (copytruncated, its copy then deleted) are gone; d, e written.
	if err := os.Remove(r.path + ".1"); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, r.path, r.path+".1")
	r.write(f, case20Lines("d", 3))
	copyTruncate(t, r.path, r.path+".2")
	if err := os.Remove(r.path + ".1"); err != nil {
		t.Fatal(err)
	}
	mustRename(t, r.path+".2", r.path+".1")
	r.write(f, case20Lines("e", 3))

	r.start()
	cs := readChunks(t, r.w, r.tl, 64<<10)
	r.w.Tick()
	cs = append(cs, readChunks(t, r.w, r.tl, 64<<10)...)
	var unused uint64
	for _, ch := range cs {
		for _, u := range ch.Unused {
			unused += u.To - u.From
		}
		t.Logf("chunk offset=%d span=%d lost=%d unused=%v data=%q", ch.Offset, ch.Span, ch.Lost, ch.Unused, firstLine(ch.Data))
	}
	if !strings.Contains(chunkBytes(cs), "e 2") {
		t.Fatalf("run 3 read %q, want d's and e's lines", chunkBytes(cs))
	}
	// c (returned by run 2, never acknowledged) is gone: its offsets must be in the
	// counted part of a loss notice (collectors that lack them count a gap of that
	// size), never announced unused (an unknown gap, of no size, at collectors).
	covered := false
	for _, ch := range cs {
		if ch.Offset-ch.Lost <= cFrom && ch.Offset >= cTo {
			covered = true
		}
		for _, u := range ch.Unused {
			if lo, hi := max(u.From, cFrom), min(u.To, cTo); lo < hi {
				t.Errorf("run 3 announced [%d, %d) unused: %d bytes of c's [%d, %d), seen and returned by run 2, are not a counted gap", u.From, u.To, hi-lo, cFrom, cTo)
			}
		}
	}
	if !covered {
		t.Errorf("no loss notice of run 3 covers c's offsets [%d, %d)", cFrom, cTo)
	}
	t.Logf("counted gap %d bytes, unused %d offsets", countedGap(cs), unused)
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
