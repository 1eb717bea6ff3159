package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Magic bytes that tell segment formats apart; anything else is plain text.
var (
	zstdMagic = []byte{0x28, 0xB5, 0x2F, 0xFD}
	gzipMagic = []byte{0x1F, 0x8B}
)

// MaxCatWindow is the largest zstd window Cat accepts (memory bound).
const MaxCatWindow = 64 << 20

// maxHeldLine bounds the bytes Cat holds back while waiting for a line end.
// A longer line is written in pieces; if the segment is torn inside such a line, the
// output may end without '\n'.
const maxHeldLine = 4 << 20

// CatOptions tunes CatWith.
type CatOptions struct {
	// Progress, if set, is called with the total number of segment bytes read so far,
	// after every read from the input (callers throttle their display).
	Progress func(read int64)
}

// maxFrame bounds the compressed and the decompressed size of one frame or member Cat
// holds in memory; segments close a frame at every flush, far below it.
const maxFrame = 256 << 20

// Cat copies the lines of one segment (plain, gzip or zstd, detected by magic
// bytes; any number of frames or members) from r to w, in order, in memory bounded by
// one frame. Damage is skipped and accounted for, never printed:
//   - A frame (gzip member) that cannot be decoded is skipped: Cat looks for the next
//     frame that decodes (the next zstd frame magic, the next gzip member header) and
//     goes on from there. The error then includes a *SkippedError (wrapping
//     ErrCorruptSegment) with the count and the bytes skipped.
//   - If the last frame is incomplete (a crash mid-write), every complete line before
//     it is written, the output ends on a line boundary, and the error includes a
//     *TornError wrapping ErrTornFrame. A plain segment whose last line lacks '\n' is
//     torn too.
//   - Input that is neither zstd nor gzip and does not look like text (a fair share of
//     control bytes at its start) is ErrNotSegment, and nothing is written.
//
// Both a *SkippedError and a *TornError can be returned together (errors.Join).
func Cat(r io.Reader, w io.Writer) error { return CatWith(r, w, CatOptions{}) }

// CatWith is Cat with options.
func CatWith(r io.Reader, w io.Writer, opt CatOptions) error {
	in := &catInput{r: &countingReader{r: r, progress: opt.Progress}}
	lw := &lineWriter{w: w}
	if err := in.fill(4096); err != nil {
		return err
	}
	head := in.buf
	var err error
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		err = catFrames(in, lw, zstdFrame)
	case bytes.HasPrefix(head, gzipMagic):
		err = catFrames(in, lw, gzipMember)
	case binary(head):
		return fmt.Errorf("%w: neither zstd nor gzip, and not text (%d of the first %d bytes are control bytes)", ErrNotSegment, controlBytes(head), len(head))
	default:
		err = catPlain(in, lw)
	}
	if lw.werr != nil {
		return lw.werr
	}
	return err
}

// catPlain copies a plain segment.
func catPlain(in *catInput, lw *lineWriter) error {
	for {
		if len(in.buf) > 0 {
			if _, err := lw.Write(in.buf); err != nil {
				return err
			}
			in.consume(len(in.buf))
		}
		if in.eof {
			break
		}
		if err := in.fill(64 << 10); err != nil {
			return err
		}
	}
	if len(lw.held) > 0 {
		return &TornError{InputOffset: in.off, OutputOffset: lw.out, Err: io.ErrUnexpectedEOF}
	}
	return nil
}

// frameDecoder decodes the frame (or member) at the start of in.buf, reading more
// input as it needs, without consuming it. It returns the frame's length and its
// content; truncated reports that the input ended inside the frame.
type frameDecoder func(in *catInput, dec *zstd.Decoder) (n int, content []byte, truncated bool, err error)

// catFrames copies the frames of a zstd or gzip segment, skipping damaged ones.
func catFrames(in *catInput, lw *lineWriter, decode frameDecoder) error {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxCatWindow),
		zstd.WithDecoderMaxMemory(maxFrame))
	if err != nil {
		return err
	}
	defer dec.Close()
	var skipped SkippedError
	for {
		if err := in.fill(1); err != nil {
			return err
		}
		if len(in.buf) == 0 {
			return skipped.orNil()
		}
		n, content, truncated, derr := decode(in, dec)
		if derr == nil {
			if err := lw.writeFrame(content); err != nil {
				return err
			}
			in.consume(n)
			continue
		}
		// Damage: find the next frame that decodes.
		start := in.off
		next, found, err := resync(in, dec, decode)
		if err != nil {
			return err
		}
		if !found && truncated {
			// The last frame is incomplete and nothing follows it: a crash mid-write.
			in.consume(len(in.buf))
			torn := &TornError{InputOffset: in.off, OutputOffset: lw.out, Err: derr}
			return errors.Join(skipped.orNil(), torn)
		}
		if !found {
			next = len(in.buf)
		}
		skipped.add(start, int64(next), derr)
		in.consume(next)
	}
}

// resync looks for the next frame after the damaged one at in.buf[0] that decodes and
// returns its offset in in.buf; found is false if none does before the end of the input.
func resync(in *catInput, dec *zstd.Decoder, decode frameDecoder) (next int, found bool, err error) {
	magic := zstdMagic
	if bytes.HasPrefix(in.buf, gzipMagic) || !bytes.HasPrefix(in.buf, zstdMagic) && isGzipInput(in) {
		magic = gzipMagic
	}
	from := 1
	for {
		if i := bytes.Index(in.buf[from:], magic); i >= 0 {
			at := from + i
			probe := in.view(at)
			_, _, _, derr := decode(probe, dec)
			in.adopt(probe)
			if derr == nil {
				return at, true, nil
			}
			from = at + 1
			continue
		}
		if in.eof {
			return 0, false, nil
		}
		from = max(1, len(in.buf)-len(magic)+1)
		if err := in.fill(len(in.buf) + 64<<10); err != nil {
			return 0, false, err
		}
	}
}

// isGzipInput reports whether the segment in is gzip (its kind is set by its first
// bytes, which may have been consumed).
func isGzipInput(in *catInput) bool { return in.kind == gzipKind }

// zstdFrame decodes the zstd frame at the start of in.buf. Its length comes from the
// frame's structure (header, block headers, checksum), so a damaged frame is skipped
// without decoding what follows it. Skippable frames decode to nothing.
func zstdFrame(in *catInput, dec *zstd.Decoder) (int, []byte, bool, error) {
	in.kind = zstdKind
	need := func(n int) (bool, error) { // false: the input ends first
		if n > maxFrame {
			return false, fmt.Errorf("frame larger than %d bytes", maxFrame)
		}
		if err := in.fill(n); err != nil {
			return false, err
		}
		return len(in.buf) >= n, nil
	}
	if ok, err := need(8); err != nil || !ok {
		return 0, nil, err == nil, orEOF(err)
	}
	b := in.buf
	if m := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24; m&0xFFFFFFF0 == 0x184D2A50 {
		n := 8 + int(uint32(b[4])|uint32(b[5])<<8|uint32(b[6])<<16|uint32(b[7])<<24)
		ok, err := need(n)
		if err != nil || !ok {
			return 0, nil, err == nil, orEOF(err)
		}
		return n, nil, false, nil
	}
	if !bytes.HasPrefix(b, zstdMagic) {
		return 0, nil, false, errors.New("no zstd frame magic")
	}
	fhd := b[4]
	if fhd&0x08 != 0 {
		return 0, nil, false, errors.New("reserved bit set in the frame header")
	}
	single := fhd >> 5 & 1
	pos := 5 + int(1-single) + []int{0, 1, 2, 4}[fhd&3] + []int{int(single), 2, 4, 8}[fhd>>6]
	for {
		if ok, err := need(pos + 3); err != nil || !ok {
			return 0, nil, err == nil, orEOF(err)
		}
		b = in.buf
		bh := uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16
		last, typ, size := bh&1 == 1, bh>>1&3, int(bh>>3)
		if typ == 3 || size > 128<<10 {
			return 0, nil, false, fmt.Errorf("bad block header at frame byte %d", pos)
		}
		if typ == 1 { // RLE: one byte, repeated size times
			size = 1
		}
		pos += 3 + size
		if last {
			break
		}
	}
	if fhd&0x04 != 0 {
		pos += 4 // content checksum
	}
	if ok, err := need(pos); err != nil || !ok {
		return 0, nil, err == nil, orEOF(err)
	}
	content, err := dec.DecodeAll(in.buf[:pos], in.scratch[:0])
	if err != nil {
		return 0, nil, false, err
	}
	in.scratch = content
	return pos, content, false, nil
}

// gzipMember decodes the gzip member at the start of in.buf.
func gzipMember(in *catInput, _ *zstd.Decoder) (int, []byte, bool, error) {
	in.kind = gzipKind
	r := &inputReader{in: in}
	zr, err := gzip.NewReader(r)
	if err == nil {
		zr.Multistream(false)
		var out bytes.Buffer
		out.Grow(len(in.scratch))
		_, err = io.Copy(&out, io.LimitReader(zr, maxFrame+1))
		if err == nil && out.Len() > maxFrame {
			err = fmt.Errorf("member larger than %d bytes", maxFrame)
		}
		if err == nil {
			in.scratch = out.Bytes()
			return r.pos, in.scratch, false, nil
		}
	}
	if r.short || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return 0, nil, true, orEOF(err)
	}
	return 0, nil, false, err
}

func orEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Kinds of compressed segments.
const (
	zstdKind = iota + 1
	gzipKind
)

// catInput buffers the segment from the current position: buf holds the unconsumed
// bytes read so far, starting at input offset off.
type catInput struct {
	r       io.Reader
	buf     []byte
	off     int64
	eof     bool
	kind    int
	scratch []byte // the last frame's content; reused
	parent  *catInput
	skip    int // a view: bytes of parent.buf before buf
}

// fill reads until buf holds at least n bytes or the input ends. Only read errors
// other than io.EOF are returned.
func (in *catInput) fill(n int) error {
	if in.parent != nil { // a view reads through its parent
		err := in.parent.fill(in.skip + n)
		in.buf, in.eof = in.parent.buf[min(in.skip, len(in.parent.buf)):], in.parent.eof
		return err
	}
	for len(in.buf) < n && !in.eof {
		if cap(in.buf)-len(in.buf) < 32<<10 {
			nb := make([]byte, len(in.buf), max(2*cap(in.buf), n, 64<<10))
			copy(nb, in.buf)
			in.buf = nb
		}
		m, err := in.r.Read(in.buf[len(in.buf):cap(in.buf)])
		in.buf = in.buf[:len(in.buf)+m]
		switch {
		case errors.Is(err, io.EOF):
			in.eof = true
		case err != nil:
			return fmt.Errorf("read segment: %w", err)
		}
	}
	return nil
}

// consume drops the first n bytes of buf.
func (in *catInput) consume(n int) {
	in.buf = in.buf[n:]
	in.off += int64(n)
	if len(in.buf) == 0 {
		in.buf = in.buf[:0:0] // let the backing array go once it is all consumed
	}
}

// view returns an input that starts at buf[at], sharing this input's buffer.
func (in *catInput) view(at int) *catInput {
	return &catInput{parent: in, skip: at, buf: in.buf[at:], eof: in.eof, off: in.off + int64(at), kind: in.kind, scratch: in.scratch}
}

// adopt takes back what a view read (its parent's buffer may have grown).
func (in *catInput) adopt(v *catInput) { in.scratch = v.scratch }

// inputReader reads a catInput from its start without consuming it, one byte at a
// time if asked (gzip then reads exactly one member); pos is the bytes read.
type inputReader struct {
	in    *catInput
	pos   int
	short bool // the input ended
}

func (r *inputReader) more() bool {
	if r.pos < len(r.in.buf) {
		return true
	}
	if err := r.in.fill(r.pos + 64<<10); err != nil || r.pos >= len(r.in.buf) {
		r.short = true
		return false
	}
	return true
}

func (r *inputReader) Read(p []byte) (int, error) {
	if !r.more() {
		return 0, io.EOF
	}
	n := copy(p, r.in.buf[r.pos:])
	r.pos += n
	return n, nil
}

func (r *inputReader) ReadByte() (byte, error) {
	if !r.more() {
		return 0, io.EOF
	}
	r.pos++
	return r.in.buf[r.pos-1], nil
}

// binary reports whether b (the start of an input) does not look like log text: more
// than one byte in 16 is a control byte other than tab, CR, LF, FF or VT.
func binary(b []byte) bool { return len(b) > 0 && controlBytes(b)*16 > len(b) }

func controlBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' || c == 0x7f {
			n++
		}
	}
	return n
}

// countingReader counts the bytes read and reports progress.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// lineWriter passes complete lines to w and holds back a trailing partial line
// (up to maxHeldLine), so that a tear drops only the unfinished line.
type lineWriter struct {
	w    io.Writer
	held []byte
	out  int64 // bytes written to w
	werr error // first error from w
}

func (l *lineWriter) Write(p []byte) (int, error) {
	if l.werr != nil {
		return 0, l.werr
	}
	n := len(p)
	i := bytes.LastIndexByte(p, '\n')
	if i < 0 {
		l.held = append(l.held, p...)
		if len(l.held) > maxHeldLine {
			return n, l.flushAll()
		}
		return n, nil
	}
	if len(l.held) > 0 {
		l.held = append(l.held, p[:i+1]...)
		if err := l.emit(l.held); err != nil {
			return 0, err
		}
		l.held = l.held[:0]
	} else if err := l.emit(p[:i+1]); err != nil {
		return 0, err
	}
	l.held = append(l.held, p[i+1:]...)
	return n, nil
}

// writeFrame writes the content of one frame.
func (l *lineWriter) writeFrame(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := l.Write(b)
	return err
}

func (l *lineWriter) emit(b []byte) error {
	n, err := l.w.Write(b)
	l.out += int64(n)
	if err != nil {
		l.werr = err
	}
	return err
}

// flushAll writes the held partial line (end of a complete segment, or an over-long line).
func (l *lineWriter) flushAll() error {
	if len(l.held) == 0 {
		return nil
	}
	err := l.emit(l.held)
	l.held = l.held[:0]
	return err
}
