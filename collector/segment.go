package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression selects how segment files are compressed.
type Compression string

// Compression values.
const (
	// CompressZstd writes one complete zstd frame per flush (the default).
	CompressZstd Compression = "zstd"
	// CompressGzip writes one complete gzip member per flush.
	CompressGzip Compression = "gzip"
	// CompressNone writes the lines as they are.
	CompressNone Compression = "none"
)

// FsyncPolicy says when segment data is forced to stable storage.
type FsyncPolicy string

// FsyncPolicy values.
const (
	// FsyncNone leaves write-back to the kernel.
	FsyncNone FsyncPolicy = "none"
	// FsyncFlush calls fdatasync after every frame written (and fsyncs the directory
	// after a segment is created), so a flush that returned nil is durable.
	FsyncFlush FsyncPolicy = "flush"
)

// maxSuffix bounds the collision suffixes tried for one segment name.
const maxSuffix = 9999

// SegmentConfig configures SegmentWriters: how they compress, flush, rotate and
// sync. The names of the segments come from a Template, one per log.
type SegmentConfig struct {
	// Compression is zstd (default), gzip or none.
	Compression Compression
	// FlushBytes is the size step: at most this many raw bytes are buffered (one
	// larger Write into an empty buffer excepted); a Write that would pass it returns
	// ErrFlushNeeded. Default 1 MiB.
	FlushBytes int
	// RotateBytes rotates a segment once its size on disk (compressed bytes) reaches
	// it; checked after every frame. Zero disables size rotation.
	RotateBytes int64
	// RotateInterval rotates at every multiple of the interval in the configured time
	// zone (1h rotates on the hour, 24h at midnight). Zero disables time rotation.
	RotateInterval time.Duration
	// Fsync is none (default) or flush.
	Fsync FsyncPolicy
	// UTC expands strftime fields and aligns RotateInterval in UTC instead of local time.
	UTC bool
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// DefaultSegmentConfig returns the defaults: zstd, 1 MiB flush step, no rotation,
// no fsync, local time.
func DefaultSegmentConfig() SegmentConfig {
	return SegmentConfig{
		Compression: CompressZstd,
		FlushBytes:  1 << 20,
		Fsync:       FsyncNone,
	}
}

// Validate checks c and returns an error wrapping ErrBadConfig.
func (c SegmentConfig) Validate() error {
	switch c.Compression {
	case CompressZstd, CompressGzip, CompressNone:
	default:
		return fmt.Errorf("%w: compression %q (want zstd, gzip or none)", ErrBadConfig, c.Compression)
	}
	switch c.Fsync {
	case FsyncNone, FsyncFlush:
	default:
		return fmt.Errorf("%w: fsync %q (want none or flush)", ErrBadConfig, c.Fsync)
	}
	if c.FlushBytes < 1 || c.FlushBytes > 64<<20 {
		return fmt.Errorf("%w: flush bytes %d outside 1..64MiB", ErrBadConfig, c.FlushBytes)
	}
	if c.RotateBytes < 0 {
		return fmt.Errorf("%w: negative rotate bytes %d", ErrBadConfig, c.RotateBytes)
	}
	if c.RotateInterval < 0 || (c.RotateInterval > 0 && c.RotateInterval < time.Second) {
		return fmt.Errorf("%w: rotate interval %v (want 0 or at least 1s)", ErrBadConfig, c.RotateInterval)
	}
	return nil
}

// SegmentWriter writes one log's lines to a sequence of segment files below an output
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
// A SegmentWriter is not safe for concurrent use: one goroutine owns it, and other
// goroutines ask that owner to write or rotate (e.g. through a channel).
type SegmentWriter struct {
	cfg   SegmentConfig
	tmpl  *Template
	fs    segmentFS
	group string
	vhost string
	now   func() time.Time
	loc   *time.Location
	log   *slog.Logger
	m     *WriterMetrics

	zenc *zstd.Encoder
	genc *gzip.Writer

	raw      []byte // accepted lines not yet encoded
	frame    []byte // encoded frame not yet written (after a failed write)
	frameRaw int    // raw bytes in frame

	f           segmentFile // nil between segments: opened when a frame is written
	name        string      // current (or last) segment name
	good        int64       // end of the last good frame in f
	rotateAt    time.Time   // zero when time rotation is off
	needSync    bool        // a frame was written but not yet made durable
	needDirSync bool        // f was created but its directory entry not yet synced
	closed      bool

	lastBase string // collision suffix bookkeeping: last expanded name
	lastN    int    // and the last suffix used for it
}

// NewSegmentWriter returns a writer for the log of group (and vhost, if tmpl uses
// {vhost}) whose segments, named by tmpl, are created inside root. Names are validated
// here; a bad one returns a *NameError and is counted. No file is created before the
// first frame. The writer adds to m, shared by all writers (nil: counters that are not
// registered).
func NewSegmentWriter(root *os.Root, tmpl *Template, group, vhost string, cfg SegmentConfig, logger *slog.Logger, m *WriterMetrics) (*SegmentWriter, error) {
	if root == nil {
		return nil, fmt.Errorf("%w: nil output root", ErrBadConfig)
	}
	return newSegmentWriter(rootFS{root}, tmpl, group, vhost, cfg, logger, m)
}

func newSegmentWriter(fsys segmentFS, tmpl *Template, group, vhost string, cfg SegmentConfig, logger *slog.Logger, m *WriterMetrics) (*SegmentWriter, error) {
	if tmpl == nil {
		return nil, fmt.Errorf("%w: no segment name template", ErrBadConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m, _ = NewWriterMetrics(nil) // registers nothing: cannot fail
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &SegmentWriter{
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
func (w *SegmentWriter) Segment() string { return w.name }

// Buffered returns the number of accepted bytes not yet written to a segment file
// (raw lines plus the raw size of a prepared frame not yet written).
func (w *SegmentWriter) Buffered() int { return len(w.raw) + w.frameRaw }

// PreparedFrame is a frame encoded by Prepare and not yet written: it goes to
// Segment (relative to the output directory), which is Before bytes long now and
// After bytes long once Commit wrote it.
type PreparedFrame struct {
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
func (w *SegmentWriter) Prepare() (PreparedFrame, bool, error) {
	if w.closed {
		return PreparedFrame{}, false, ErrWriterClosed
	}
	if len(w.frame) == 0 && len(w.raw) > 0 {
		if err := w.encode(); err != nil {
			return PreparedFrame{}, false, err
		}
	}
	if len(w.frame) == 0 {
		return PreparedFrame{}, false, nil
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return PreparedFrame{}, false, err
		}
	}
	return PreparedFrame{Segment: w.name, Before: w.good, After: w.good + int64(len(w.frame))}, true, nil
}

// Commit writes the frame Prepare returned at the end of the last good frame, then
// applies the fsync policy and the rotation rules (size after the write; time when the
// interval boundary has passed, which is also checked when there is nothing to
// write). A failed write is cut back and the frame kept: Prepare and Commit again
// retry it at the same offset.
func (w *SegmentWriter) Commit() error {
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
func (w *SegmentWriter) Pending() bool { return len(w.frame) > 0 }

// Write accepts p, which should hold whole '\n'-terminated lines, into the buffer of
// the next frame. A nil error means p was accepted (it is kept until written); a
// non-nil error means p was NOT accepted and nothing of it is kept: the caller retries
// later with the same bytes. Write returns ErrFlushNeeded when buffering p would pass
// the flush step, or when a prepared frame is not yet written: the owner writes a frame
// (Prepare, Commit) and tries again. Data accepted earlier is never lost by an error.
func (w *SegmentWriter) Write(p []byte) error {
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

// Rotate closes the current segment cleanly; the next frame opens a new one (no empty
// segment is created when nothing follows). Used on SIGHUP. It returns ErrFlushNeeded
// while lines are buffered or a frame is prepared: write them first. Like Commit, it
// first retries a failed sync and applies the rotation rules.
func (w *SegmentWriter) Rotate() error {
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
func (w *SegmentWriter) Close() error {
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
func (w *SegmentWriter) Abandon() error {
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
func (w *SegmentWriter) release() {
	w.closed = true
	if w.zenc != nil {
		w.zenc.Close()
	}
}

// encode turns the buffered raw lines into one complete frame.
func (w *SegmentWriter) encode() error {
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
func (w *SegmentWriter) writeFrame() error {
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
func (w *SegmentWriter) sync() error {
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
func (w *SegmentWriter) open() error {
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

func (w *SegmentWriter) closeSegment(reason string) error {
	err := w.closeFile()
	w.m.Rotations.Inc()
	w.log.Info("segment rotated", "segment", w.name, "reason", reason, "bytes", w.good)
	return err
}

func (w *SegmentWriter) closeFile() error {
	err := w.f.Close()
	w.f = nil
	w.needSync, w.needDirSync = false, false
	if err != nil {
		w.m.WriteErrors.Inc()
		return fmt.Errorf("close segment %s: %w", w.name, err)
	}
	return nil
}
