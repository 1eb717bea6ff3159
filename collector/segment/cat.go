package segment

import (
	"bufio"
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

// Cat copies the lines of one segment (plain, gzip or zstd, detected by magic
// bytes; any number of frames or members) from r to w, in order, in bounded memory.
// If the last frame is torn (a crash mid-write), every complete line before the tear
// is written, the output ends on a line boundary, and the error is a *TornError
// wrapping ErrTornFrame. Undecodable data that is not a torn tail returns an error
// wrapping ErrCorruptSegment. A plain segment whose last line lacks '\n' is torn too.
func Cat(r io.Reader, w io.Writer) error { return CatWith(r, w, CatOptions{}) }

// CatWith is Cat with options.
func CatWith(r io.Reader, w io.Writer, opt CatOptions) error {
	cr := &countingReader{r: r, progress: opt.Progress}
	br := bufio.NewReaderSize(cr, 64<<10)
	lw := &lineWriter{w: w}
	head, _ := br.Peek(4)
	var err error
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		err = catZstd(br, lw)
	case bytes.HasPrefix(head, gzipMagic):
		err = catGzip(br, lw)
	default:
		_, err = io.Copy(lw, br)
		if err == nil && len(lw.held) > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil {
		return lw.flushAll()
	}
	if lw.werr != nil {
		return lw.werr
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &TornError{InputOffset: cr.n, OutputOffset: lw.out, Err: err}
	}
	return fmt.Errorf("%w at input byte %d (output ends at byte %d): %w", ErrCorruptSegment, cr.n, lw.out, err)
}

func catZstd(br *bufio.Reader, lw *lineWriter) error {
	dec, err := zstd.NewReader(br,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxCatWindow),
		zstd.WithDecoderMaxMemory(MaxCatWindow*2))
	if err != nil {
		return err
	}
	defer dec.Close()
	_, err = io.Copy(lw, dec)
	return err
}

func catGzip(br *bufio.Reader, lw *lineWriter) error {
	zr, err := gzip.NewReader(br)
	if err != nil {
		return err
	}
	defer zr.Close()
	_, err = io.Copy(lw, zr) // multistream: one member per flush
	return err
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
