package source

import (
	"bytes"
	"context"

	"github.com/logspread/logspread/formats/envelope"
)

// A Chunk is the body of one batch: whole '\n'-terminated lines, or one piece of an
// over-long line.
type Chunk struct {
	Stream uint64              // stream id of the source
	Offset uint64              // logical offset of Data[0] in the stream (monotonic across rotations, never reused)
	Span   uint64              // logical bytes covered (len(Data), more when a line was truncated)
	Data   []byte              // owned by the caller after Next returns
	Lines  uint32              // complete lines ending in this chunk
	Flags  envelope.BatchFlags // 0, or FlagFragment with FlagFirst/FlagLast/FlagTruncated
	Pos    Checkpoint          // where to resume after this chunk once it is acknowledged
	// Lost is the number of logical bytes just before Offset that the source will never
	// return: a full journal dropped them, a corrupt journal record was cut, or the
	// tailer could not continue exactly (bytes destroyed, a generation gone, a jump by
	// LossGap). It counts from the end of the previous chunk, or, for the first chunk
	// after the source opened or rewound, from the position it resumed from (its
	// checkpoint, the rewind's position); 0 when the stream continues there, and for
	// the first chunk of a new stream, unless the stream lost bytes before it (a
	// tailer's copy compressed before it was read): then it counts from where that
	// loss began. The sender announces [Offset-Lost, Offset) to collectors as a loss
	// notice.
	Lost uint64
	// Unused lists the ranges of [Offset-Lost, Offset) that the stream skipped past
	// every offset a run before may have used, when it could not tell which it used (a
	// jump by LossGap after a crash): as far as anyone can tell they hold no bytes. The
	// sender announces them as unused (envelope.FlagUnused), which collectors do not
	// count as a gap of that size, and the rest of Lost as lost. Sorted, disjoint.
	Unused []OffsetRange
	// Epoch counts the rewinds of the stream (Glob.RewindStream): a chunk read before
	// the last rewind has a lower epoch than the ones read after it. 0 for sources that
	// never rewind a stream while it is read.
	Epoch uint64
}

// An OffsetRange is the logical offsets [From, To) of a stream.
type OffsetRange struct{ From, To uint64 }

// End returns the logical offset just past the chunk: the Offset of the next one.
func (c *Chunk) End() uint64 { return c.Offset + c.Span }

// Header returns the batch header describing c (RawLen and CRC are filled in by
// envelope.AppendBatch).
func (c *Chunk) Header() envelope.BatchHeader {
	return envelope.BatchHeader{Flags: c.Flags, Lines: c.Lines, Stream: c.Stream, Offset: c.Offset, Span: c.Span}
}

// A Source yields the chunks of one or more streams.
//
// Concurrency: Next and Close must not be called concurrently with each other (one reader
// goroutine owns the source); Ack may be called from any goroutine, concurrently with Next.
type Source interface {
	// Next blocks until at least one complete line (or fragment) is available, then returns
	// up to max bytes of data cut at line ends. It returns ctx.Err() when ctx is done, and
	// io.EOF when a finite source (the stdin journal after end of input) has nothing left.
	Next(ctx context.Context, max int) (Chunk, error)
	// Ack records that everything up to pos (a Chunk.Pos returned by Next) is acknowledged:
	// it saves pos durably and releases what is no longer needed (journal segments).
	Ack(pos Checkpoint) error
	// Close releases the source's files and stops its goroutines.
	Close() error
}

// An Appender is a Source that can put a chunk's data into the caller's buffer
// instead of a new one: a sender that gathers chunks into one batch saves an
// allocation and a copy per chunk.
//
// Concurrency: as Next.
type Appender interface {
	Source
	// NextAppend is Next, except that the chunk's data goes to the spare capacity of
	// dst: if dst has room for it, Data is dst[len(dst):len(dst)+len(Data)], in dst's
	// array (which the caller then owns as it owns Data); otherwise Data is a new slice,
	// as with Next.
	NextAppend(ctx context.Context, max int, dst []byte) (Chunk, error)
}

// cutter cuts buffered stream bytes into chunks. The buffer holds bytes read but not yet
// emitted, buf[r:w]. It is used by one goroutine.
type cutter struct {
	buf  []byte // allocated on first use, dropped while idle
	size int    // buffer size (at least the chunk bound plus one)
	from int    // > 0: start with this many bytes and grow (tailers of many small files)
	grow bool   // the last read filled the free space: grow before the next one
	r, w int
	off  uint64 // logical offset of the next byte to emit
	max  int    // hard maximum line length, with its '\n'

	frag     bool   // inside a line longer than the chunk bound
	lineKept uint64 // bytes of that line already emitted
	skip     bool   // dropping the rest of a line above the hard maximum
	tail     []byte // kept bytes of the truncated line, not yet emitted
	tailLead bool   // the truncated piece is also the first one
	skipped  uint64 // bytes dropped so far, after tail

	// terminate makes the next cut treat the end of the buffer as a line end (appending
	// '\n'): the file is being left. It is cleared once nothing is pending.
	terminate bool
	truncated int // lines truncated so far (for metrics, read and reset by the owner)

	// into, if it has room, receives the data of the next chunk emitted (see
	// Appender); the owner sets it for one Next and clears it.
	into []byte
}

func newCutter(size, maxLine int) cutter {
	return cutter{size: size, max: maxLine}
}

// pending reports whether an unterminated line is buffered or half-sent.
func (c *cutter) pending() bool { return c.r < c.w || c.frag || c.skip }

// reserve makes room to read at least one more byte while keeping max bytes reachable:
// it grows or compacts the buffer and returns the free space. A cutter with a zero
// grow-from size allocates its full size at once; otherwise the buffer starts small and
// doubles (up to its size, or max+1) when it is full or the last read filled it (grow).
func (c *cutter) reserve(max int) []byte {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	limit := c.size
	if limit < max+1 {
		limit = max + 1
	}
	if c.buf == nil {
		n := limit
		if c.from > 0 && c.from < n {
			n = c.from
		}
		c.buf = make([]byte, n)
	}
	if c.r > 0 && len(c.buf)-c.w < len(c.buf)/2 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if (c.w == len(c.buf) || c.grow || c.from == 0) && len(c.buf) < limit {
		n := limit
		if c.from > 0 && 2*len(c.buf) < n {
			n = 2 * len(c.buf)
		}
		nb := make([]byte, n)
		c.w = copy(nb, c.buf[c.r:c.w])
		c.r, c.buf = 0, nb
	}
	c.grow = false
	return c.buf[c.w:]
}

// idle drops the buffer of a cutter that grows from small when nothing is buffered.
func (c *cutter) idle() {
	if c.from > 0 && c.r == c.w && !c.pending() {
		c.buf, c.r, c.w = nil, 0, 0
	}
}

// cut returns the next chunk from the buffer, or false when more data is needed. Stream
// and Pos are left for the caller.
func (c *cutter) cut(max int) (Chunk, bool) {
	max = min(max, c.max)
	avail := c.buf[c.r:c.w]
	switch {
	case c.skip:
		return c.cutSkip(avail)
	case c.frag:
		return c.cutFrag(avail, max)
	}
	lim := min(len(avail), max)
	if i := bytes.LastIndexByte(avail[:lim], '\n'); i >= 0 {
		data := avail[:i+1]
		return c.emit(data, len(data), uint32(bytes.Count(data, nl)), 0, false), true
	}
	if len(avail) >= max {
		c.frag, c.lineKept = true, 0
		return c.cutFrag(avail, max)
	}
	if c.terminate {
		c.terminate = false
		if len(avail) > 0 {
			return c.emit(avail, len(avail), 1, 0, true), true
		}
	}
	return Chunk{}, false
}

var nl = []byte{'\n'}

func (c *cutter) cutFrag(avail []byte, max int) (Chunk, bool) {
	var lead envelope.BatchFlags
	if c.lineKept == 0 {
		lead = envelope.FlagFirst
	}
	last := envelope.FlagFragment | envelope.FlagLast | lead
	rem := uint64(c.max-1) - c.lineKept // content bytes this line may still keep
	if rem < uint64(max) {
		n := int(rem) + 1
		if j := bytes.IndexByte(avail[:min(len(avail), n)], '\n'); j >= 0 {
			return c.emitLast(avail[:j+1], false, last), true
		}
		if len(avail) >= n {
			c.tail = append(c.tail[:0], avail[:rem]...)
			c.tailLead = lead != 0
			c.r += int(rem)
			c.frag, c.skip, c.skipped = false, true, 0
			return c.cutSkip(c.buf[c.r:c.w])
		}
	} else {
		if j := bytes.IndexByte(avail[:min(len(avail), max)], '\n'); j >= 0 {
			return c.emitLast(avail[:j+1], false, last), true
		}
		if len(avail) >= max {
			c.lineKept += uint64(max)
			return c.emit(avail[:max], max, 0, envelope.FlagFragment|lead, false), true
		}
	}
	if c.terminate {
		c.terminate = false
		return c.emitLast(avail, true, last), true
	}
	return Chunk{}, false
}

func (c *cutter) emitLast(data []byte, addNL bool, flags envelope.BatchFlags) Chunk {
	c.frag, c.lineKept = false, 0
	return c.emit(data, len(data), 1, flags, addNL)
}

func (c *cutter) cutSkip(avail []byte) (Chunk, bool) {
	if j := bytes.IndexByte(avail, '\n'); j >= 0 {
		c.skipped += uint64(j + 1)
		c.r += j + 1
		return c.emitTruncated(uint64(len(c.tail)) + c.skipped), true
	}
	c.skipped += uint64(len(avail))
	c.r = c.w
	if c.terminate {
		c.terminate = false
		return c.emitTruncated(uint64(len(c.tail)) + c.skipped + 1), true
	}
	return Chunk{}, false
}

func (c *cutter) emitTruncated(span uint64) Chunk {
	flags := envelope.FlagFragment | envelope.FlagLast | envelope.FlagTruncated
	if c.tailLead {
		flags |= envelope.FlagFirst
	}
	data := make([]byte, len(c.tail)+1)
	copy(data, c.tail)
	data[len(c.tail)] = '\n'
	ch := Chunk{Offset: c.off, Span: span, Data: data, Lines: 1, Flags: flags}
	c.off += span
	c.skip, c.skipped, c.tail = false, 0, c.tail[:0]
	c.truncated++
	return ch
}

// emit copies data (plus a synthetic '\n' when addNL) into a new chunk (into the
// spare capacity of c.into if it has room) and consumes consumed buffered bytes.
func (c *cutter) emit(data []byte, consumed int, lines uint32, flags envelope.BatchFlags, addNL bool) Chunk {
	n := len(data)
	if addNL {
		n++
	}
	var out []byte
	if d := c.into; cap(d)-len(d) >= n {
		out = d[len(d) : len(d)+n]
		c.into = nil
	} else {
		out = make([]byte, n)
	}
	copy(out, data)
	if addNL {
		out[n-1] = '\n'
	}
	ch := Chunk{Offset: c.off, Span: uint64(n), Data: out, Lines: lines, Flags: flags}
	c.off += uint64(n)
	c.r += consumed
	return ch
}
