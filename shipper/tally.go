package shipper

import (
	"bytes"
	"sync"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper/source"
)

// A Tally counts every line of every stream once, for the figures a shipper reports
// (Stats, the shutdown summary, the acknowledged-lines counter): a line read again
// (re-read from a checkpoint for a collector that was away, or by the sender that
// replaced another after a reload) is counted as re-read, not read again, and its
// acknowledgement is not counted twice. It keeps, per stream, the end of what was
// read and the end of what was acknowledged.
//
// One Tally may be shared by the Shippers that follow each other over the same
// sources (Config.Tally); its methods may be called from any goroutine.
type Tally struct {
	mu     sync.Mutex        // Guards the fields below.
	read   map[uint64]uint64 // stream -> end of what was read
	reread map[uint64]uint64 // stream -> end of what was read again
	acked  map[uint64]uint64 // stream -> end of what was acknowledged
}

// NewTally returns an empty Tally.
func NewTally() *Tally {
	return &Tally{read: map[uint64]uint64{}, reread: map[uint64]uint64{}, acked: map[uint64]uint64{}}
}

// take accounts a chunk taken into a window: it returns the lines and bytes of it read
// for the first time, and those read again for the first time (a line read again
// twice counts once: a stream is read again from its checkpoint, which only advances,
// so what was read again lies below a high-water mark).
func (t *Tally) take(ch *source.Chunk) (lines uint32, span uint64, relines uint32, respan uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mark, ok := t.read[ch.Stream]
	if !ok || ch.End() > mark {
		t.read[ch.Stream] = ch.End()
	}
	if !ok {
		return ch.Lines, ch.Span, 0, 0
	}
	lines, span = beyond(ch, mark)
	if lo, hi := max(ch.Offset, t.reread[ch.Stream]), min(ch.End(), mark); lo < hi {
		l1, s1 := beyond(ch, lo)
		l2, s2 := beyond(ch, hi)
		relines, respan = l1-l2, s1-s2
		t.reread[ch.Stream] = hi
	}
	return lines, span, relines, respan
}

// ackedMark returns the end of what was acknowledged of stream (0 if nothing).
func (t *Tally) ackedMark(stream uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked[stream]
}

// ack records that stream was acknowledged up to end.
func (t *Tally) ack(stream, end uint64) {
	t.mu.Lock()
	if end > t.acked[stream] {
		t.acked[stream] = end
	}
	t.mu.Unlock()
}

// beyond returns the lines ending in ch, and its bytes, beyond offset mark. Chunks end
// at line ends; a fragment of a long line ends that line (if at all) at its end.
func beyond(ch *source.Chunk, mark uint64) (uint32, uint64) {
	switch {
	case mark <= ch.Offset:
		return ch.Lines, ch.Span
	case mark >= ch.End():
		return 0, 0
	}
	span := ch.End() - mark
	if ch.Flags&envelope.FlagFragment != 0 || uint64(len(ch.Data)) != ch.Span {
		return ch.Lines, span
	}
	return min(uint32(bytes.Count(ch.Data[mark-ch.Offset:], []byte{'\n'})), ch.Lines), span
}

// forget drops what t keeps of stream, whose source will never return it again
// (Forgetter): a stream that comes back is a new stream.
func (t *Tally) forget(stream uint64) {
	t.mu.Lock()
	delete(t.read, stream)
	delete(t.reread, stream)
	delete(t.acked, stream)
	t.mu.Unlock()
}

// streams returns how many streams t keeps.
func (t *Tally) streams() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(len(t.read), len(t.acked))
}

// forgetCounts drops what the loop and its tally count of a forgotten stream.
func (l *sendLoop) forgetCounts(stream uint64) {
	delete(l.counted, stream)
	l.cfg.Tally.forget(stream)
}
