package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// maxSuffix bounds the collision suffixes tried for one segment name.
const maxSuffix = 9999

// Writer writes one log's lines to a sequence of segment files below an output
// directory, one complete frame at a time, so a segment on disk is always complete
// frames plus at most a torn tail.
//
// The writer never writes a frame on its own. Write buffers lines; the owner writes
// them as one frame in two steps, Prepare (encode the frame, open its segment, report
// where it goes) and Commit (write it), so it can record the frame durably in between
// (the collector's write-ahead intent). Write, Rotate and Close refuse with
// ErrFlushNeeded when they would need a frame written first; Abandon drops what was not
// written.
//
// Write errors keep the data: a failed frame write is cut back (truncate to the end of
// the last good frame) and kept; the next Prepare and Commit retry it at the same
// offset.
//
// A Writer is not safe for concurrent use: one goroutine owns it, and other
// goroutines ask that owner to write or rotate (e.g. through a channel).
type Writer struct {
	cfg   Config
	tmpl  *Template
	fs    FS
	group string
	vhost string
	now   func() time.Time
	loc   *time.Location
	log   *slog.Logger
	m     *Metrics

	zenc *zstd.Encoder
	genc *gzip.Writer

	raw      []byte // accepted lines not yet encoded
	frame    []byte // encoded frame not yet written (prepared, or kept after a failed write)
	frameRaw int    // raw bytes in frame

	f           File      // nil between segments: opened when a frame is written
	name        string    // current (or last) segment name
	good        int64     // end of the last good frame in f
	rotateAt    time.Time // zero when time rotation is off
	needSync    bool      // a frame was written but not yet made durable
	needDirSync bool      // f was created but its directory entry not yet synced
	closed      bool

	lastBase string // collision suffix bookkeeping: last expanded name
	lastN    int    // and the last suffix used for it
}

// NewWriter returns a writer for the log of group (and vhost, if tmpl uses {vhost})
// whose segments, named by tmpl, are created in fsys (the RootFS of the output
// directory). The names are checked here (see Template.Expand): a bad one is counted
// and returned as an error wrapping ErrBadName. No file is created before the first
// frame. The writer adds to m, which every writer shares (nil: counters that are not
// registered).
func NewWriter(fsys FS, tmpl *Template, group, vhost string, cfg Config, logger *slog.Logger, m *Metrics) (*Writer, error) {
	if fsys == nil || tmpl == nil {
		return nil, fmt.Errorf("%w: segment writer without a file system or name template", ErrBadConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m, _ = NewMetrics(nil) // registers nothing: cannot fail
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		cfg:   cfg,
		tmpl:  tmpl,
		fs:    fsys,
		group: group,
		vhost: vhost,
		now:   cfg.Now,
		loc:   time.Local,
		log:   logger.With("component", "segment", "group", group, "vhost", vhost),
		m:     m,
	}
	if w.now == nil {
		w.now = time.Now
	}
	if cfg.UTC {
		w.loc = time.UTC
	}
	if _, err := tmpl.Expand(group, vhost, w.now().In(w.loc)); err != nil {
		if errors.Is(err, ErrBadName) {
			m.NamesRejected.Inc()
		}
		return nil, err
	}
	var err error
	switch cfg.Compression {
	case CompressZstd:
		w.zenc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true),
			zstd.WithWindowSize(zstdWindow(cfg.FlushBytes)))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	case CompressGzip:
		w.genc, err = gzip.NewWriterLevel(nil, gzip.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("gzip encoder: %w", err)
		}
	}
	return w, nil
}

// zstdWindow returns a window just large enough for one flush step (a frame never
// references another), between 64 KiB and 4 MiB.
func zstdWindow(flushBytes int) int {
	w := 64 << 10
	for w < flushBytes && w < 4<<20 {
		w <<= 1
	}
	return w
}

// Segment returns the name of the current segment, relative to the output directory,
// or of the last one if none is open; "" before the first one.
func (w *Writer) Segment() string { return w.name }

// Buffered returns the number of accepted bytes not yet written to a segment file
// (raw lines plus the raw size of a prepared frame not yet written).
func (w *Writer) Buffered() int { return len(w.raw) + w.frameRaw }

// Write accepts p, which should hold whole '\n'-terminated lines, into the buffer of
// the next frame. A nil error means p was accepted (it is kept until written); a
// non-nil error means p was NOT accepted and nothing of it is kept: the caller retries
// later with the same bytes. Write returns ErrFlushNeeded when buffering p would pass
// the flush step, or when a prepared frame is not yet written: the owner writes a frame
// (Prepare, Commit) and tries again. Data accepted earlier is never lost by an error.
func (w *Writer) Write(p []byte) error {
	if w.closed {
		return ErrWriterClosed
	}
	if len(p) == 0 {
		return nil
	}
	if len(w.frame) > 0 || (len(w.raw) > 0 && len(w.raw)+len(p) > w.cfg.FlushBytes) {
		return ErrFlushNeeded
	}
	w.raw = append(w.raw, p...)
	return nil
}

// Frame is a frame encoded by Prepare and not yet written: it goes to Segment
// (relative to the output directory), which is Before bytes long now and After bytes
// long once Commit wrote it.
type Frame struct {
	Segment string
	Before  int64
	After   int64
}

// Prepare encodes the buffered lines into one complete frame (if not done already:
// a frame whose write failed is kept and prepared again, at the same offset) and
// opens the segment it goes to, creating it if none is open. It reports the frame, or
// false when there is nothing to write. Nothing is written to the segment before
// Commit, so the caller can record the frame durably first. On error the data is
// kept.
func (w *Writer) Prepare() (Frame, bool, error) {
	if w.closed {
		return Frame{}, false, ErrWriterClosed
	}
	if len(w.frame) == 0 && len(w.raw) > 0 {
		if err := w.encode(); err != nil {
			return Frame{}, false, err
		}
	}
	if len(w.frame) == 0 {
		return Frame{}, false, nil
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return Frame{}, false, err
		}
	}
	return Frame{Segment: w.name, Before: w.good, After: w.good + int64(len(w.frame))}, true, nil
}

// Commit writes the frame Prepare returned at the end of the last good frame, then
// applies the fsync policy and the rotation rules (size after the write; time when the
// interval boundary has passed, which is also checked when there is nothing to
// write). A failed write is cut back and the frame kept: Prepare and Commit again
// retry it at the same offset.
func (w *Writer) Commit() error {
	if w.closed {
		return ErrWriterClosed
	}
	if len(w.frame) > 0 {
		if w.f == nil {
			return fmt.Errorf("segment writer for %s: commit without a prepared frame", w.group)
		}
		if err := w.writeFrame(); err != nil {
			return err
		}
	}
	if err := w.sync(); err != nil {
		return err
	}
	if w.f == nil {
		return nil
	}
	switch {
	case w.cfg.RotateBytes > 0 && w.good >= w.cfg.RotateBytes:
		return w.closeSegment("size")
	case !w.rotateAt.IsZero() && !w.now().Before(w.rotateAt):
		return w.closeSegment("time")
	}
	return nil
}

// Pending reports whether a prepared frame is not yet written: after Prepare, until a
// Commit writes it. A Commit that returns an error with Pending false wrote the frame
// (a later step failed: the sync, retried by the next Commit, or the rotation).
func (w *Writer) Pending() bool { return len(w.frame) > 0 }

// Rotate closes the current segment cleanly; the next frame opens a new one (no empty
// segment is created when nothing follows). Used on SIGHUP. It returns ErrFlushNeeded
// while lines are buffered or a frame is prepared: write them first. Like Commit, it
// first retries a failed sync and applies the rotation rules.
func (w *Writer) Rotate() error {
	if w.closed {
		return ErrWriterClosed
	}
	if w.Buffered() > 0 {
		return ErrFlushNeeded
	}
	if err := w.Commit(); err != nil {
		return err
	}
	if w.f == nil {
		return nil
	}
	return w.closeSegment("demand")
}

// Close closes the current segment. It returns ErrFlushNeeded while lines are buffered
// or a frame is prepared (write them first, or drop them with Abandon); the writer then
// stays usable, so Close can be retried. Like Commit, it first retries a failed sync
// and applies the rotation rules.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.Buffered() > 0 {
		return ErrFlushNeeded
	}
	if err := w.Commit(); err != nil {
		return err
	}
	var err error
	if w.f != nil {
		err = w.closeFile()
	}
	w.release()
	return err
}

// Abandon drops the lines not yet written (buffered, or in a prepared frame) and
// closes the writer. The segment keeps its complete frames: a failed write was cut
// back. It returns the error of closing the segment file, if any.
func (w *Writer) Abandon() error {
	if w.closed {
		return nil
	}
	w.raw, w.frame, w.frameRaw = nil, nil, 0
	var err error
	if w.f != nil {
		err = w.closeFile()
	}
	w.release()
	return err
}

// release marks the writer closed and frees its encoder.
func (w *Writer) release() {
	w.closed = true
	if w.zenc != nil {
		w.zenc.Close()
	}
}

// encode turns the buffered raw lines into one complete frame.
func (w *Writer) encode() error {
	switch w.cfg.Compression {
	case CompressZstd:
		w.frame = w.zenc.EncodeAll(w.raw, w.frame[:0])
	case CompressGzip:
		w.genc.Reset(appender{&w.frame})
		w.frame = w.frame[:0]
		if _, err := w.genc.Write(w.raw); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		if err := w.genc.Close(); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	default:
		w.frame, w.raw = w.raw, w.frame
	}
	w.frameRaw = len(w.raw)
	if w.cfg.Compression == CompressNone {
		w.frameRaw = len(w.frame)
	}
	w.raw = w.raw[:0]
	return nil
}

// appender is an io.Writer appending to a byte slice.
type appender struct{ b *[]byte }

func (a appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// writeFrame writes the pending frame at the end of the last good frame of the open
// segment. A failed or short write is cut back so the file never holds a partial
// frame followed by a good one; the frame is kept for the retry.
func (w *Writer) writeFrame() error {
	n, err := w.f.WriteAt(w.frame, w.good)
	if err == nil && n != len(w.frame) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(w.frame))
	}
	if err != nil {
		w.m.WriteErrors.Inc()
		if terr := w.f.Truncate(w.good); terr != nil {
			// The retry writes at w.good again, over the partial frame.
			w.log.Warn("cannot cut back partial frame", "segment", w.name, "size", w.good, "err", terr)
		}
		return fmt.Errorf("segment %s: write frame at %d: %w", w.name, w.good, err)
	}
	w.good += int64(len(w.frame))
	w.m.Flushes.Inc()
	w.m.RawBytes.Add(float64(w.frameRaw))
	w.m.CompressedBytes.Add(float64(len(w.frame)))
	w.frame = w.frame[:0]
	w.frameRaw = 0
	if w.cfg.Fsync == FsyncFlush {
		w.needSync = true
	}
	return nil
}

// sync applies the fsync policy to what writeFrame wrote and to a new directory entry.
func (w *Writer) sync() error {
	if w.needSync && w.f != nil {
		if err := w.f.Datasync(); err != nil {
			w.m.WriteErrors.Inc()
			return fmt.Errorf("segment %s: %w", w.name, err)
		}
		w.needSync = false
	}
	if w.needDirSync {
		if err := w.fs.SyncDir(dirOf(w.name)); err != nil {
			w.m.WriteErrors.Inc()
			return fmt.Errorf("segment %s: sync directory: %w", w.name, err)
		}
		w.needDirSync = false
	}
	return nil
}

// open creates the next segment: the template expanded at the current time, with a
// collision suffix if that name exists (an existing segment is never overwritten).
func (w *Writer) open() error {
	now := w.now().In(w.loc)
	base, err := w.tmpl.Expand(w.group, w.vhost, now)
	if err != nil {
		w.m.NamesRejected.Inc()
		return err
	}
	if err := w.fs.MkdirAll(dirOf(base)); err != nil {
		w.m.WriteErrors.Inc()
		return fmt.Errorf("segment directory for %s: %w", base, err)
	}
	n := 0
	if base == w.lastBase {
		n = w.lastN + 1
	}
	for ; n <= maxSuffix; n++ {
		name := base
		if n > 0 {
			name = suffixed(base, n)
		}
		f, err := w.fs.Create(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			w.m.WriteErrors.Inc()
			return fmt.Errorf("create segment %s: %w", name, err)
		}
		w.f, w.name, w.good = f, name, 0
		w.lastBase, w.lastN = base, n
		w.needDirSync = w.cfg.Fsync == FsyncFlush
		w.rotateAt = time.Time{}
		if iv := w.cfg.RotateInterval; iv > 0 {
			_, off := now.Zone()
			shift := time.Duration(off) * time.Second
			w.rotateAt = now.Add(shift).Truncate(iv).Add(iv).Add(-shift)
		}
		w.log.Info("segment opened", "segment", name)
		return nil
	}
	w.m.WriteErrors.Inc()
	return fmt.Errorf("%w: %s and suffixes up to .%d exist", ErrSegmentExists, base, maxSuffix)
}

func (w *Writer) closeSegment(reason string) error {
	err := w.closeFile()
	w.m.Rotations.Inc()
	w.log.Info("segment rotated", "segment", w.name, "reason", reason, "bytes", w.good)
	return err
}

func (w *Writer) closeFile() error {
	err := w.f.Close()
	w.f = nil
	w.needSync, w.needDirSync = false, false
	if err != nil {
		w.m.WriteErrors.Inc()
		return fmt.Errorf("close segment %s: %w", w.name, err)
	}
	return nil
}
