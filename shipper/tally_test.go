package shipper

import (
	"testing"

	"github.com/logspread/logspread/shipper/source"
)

// TestTallyCountsOnce: chunks read again (from a checkpoint, cut differently, more
// than once) count as read once and as read again once; what lies beyond is read.
func TestTallyCountsOnce(t *testing.T) {
	data := []byte("a\nbb\nccc\ndddd\n") // lines end at 2, 5, 9, 14
	chunk := func(from, to uint64) *source.Chunk {
		d := data[from:to]
		n := uint32(0)
		for _, b := range d {
			if b == '\n' {
				n++
			}
		}
		return &source.Chunk{Stream: 1, Offset: from, Span: to - from, Data: d, Lines: n}
	}
	tl := NewTally()
	type counts struct{ read, readBytes, reread, rereadBytes uint64 }
	var got counts
	take := func(from, to uint64) {
		l, s, rl, rs := tl.take(chunk(from, to))
		got.read += uint64(l)
		got.readBytes += s
		got.reread += uint64(rl)
		got.rereadBytes += rs
	}
	take(0, 5)  // a, bb
	take(5, 9)  // ccc
	take(2, 9)  // read again from a checkpoint at 2: bb, ccc
	take(5, 14) // again from 5, cut differently: ccc again (once more), dddd new
	take(5, 14) // and again: dddd read again
	want := counts{read: 4, readBytes: 14, reread: 3, rereadBytes: 12}
	if got != want {
		t.Errorf("counted %+v, want %+v", got, want)
	}
	if l, s := beyond(chunk(2, 14), 5); l != 2 || s != 9 {
		t.Errorf("beyond(2..14, 5) = %d lines, %d bytes; want 2, 9", l, s)
	}
	tl.ack(1, 9)
	tl.ack(1, 5) // acknowledgements only advance
	if m := tl.ackedMark(1); m != 9 {
		t.Errorf("acked mark %d, want 9", m)
	}
	// A stream its source forgot (prune) leaves nothing behind.
	tl.forget(1)
	if n := tl.streams(); n != 0 {
		t.Errorf("%d streams kept after the only one was forgotten", n)
	}
}
