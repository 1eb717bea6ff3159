package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Writer writes one log's lines to a sequence of segment files below an output
// directory, one complete frame at a time, so a segment on disk is always complete
// frames plus at most a torn tail.
//
// The writer never writes a frame on its own. Write buffers lines; the owner writes
// them as one frame in two steps, Prepare (encode the frame, open its segment, report
// where it goes) and Commit (write it), so it can record the frame durably in between
// (the collector's write-ahead intent). Write, Reopen and Close refuse with
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
	names Names
	now   func() time.Time
	loc   *time.Location
	log   *slog.Logger
	m     *Metrics

	zenc *zstd.Encoder
	genc *gzip.Writer

	raw       []byte // accepted lines not yet encoded
	ready     []byte // complete zstd frames accepted (WriteFrame) or encoded before them, not yet prepared
	readyRaw  int    // raw bytes in ready
	readyN    int    // frames in ready accepted as they are (WriteFrame)
	rawName   string // the expanded name of the period of the lines in raw and ready
	frame     []byte // encoded frames not yet written (prepared, or kept after a failed write)
	frameRaw  int    // raw bytes in frame
	frameN    int    // frames in frame accepted as they are
	frameName string // the expanded name of the period of the lines in frame

	f           File      // nil between segments: opened when a frame is written
	good        int64     // end of the last good frame in f
	rotateAt    time.Time // zero when time rotation is off
	needSync    bool      // a frame was written but not yet made durable
	needDirSync bool      // f was created but its directory entry not yet synced
	closed      bool
	last        Last // the current (or last) segment

	nameSec int64  // the Unix second nameNow was expanded for
	nameNow string // the template expanded at nameSec ("" before the first)
}

// Last is what a Writer knows of the segment it wrote last: its name, and whether
// the next frame may go to it. A Writer that replaces a closed one for the same log
// (after an eviction, or a restart with Segment from the state file) continues from
// it (Writer.Continue): it appends to that segment while it is still the current
// one. The zero Last knows nothing.
type Last struct {
	// Segment is the segment's name ("" if none).
	Segment string
	base    string      // its expanded name, without the collision suffix ("" unknown)
	n       int         // its collision suffix (0 none)
	id      fs.FileInfo // its identity when last open (nil unknown)
	full    bool        // closed by a bound (size, rotate interval): never appended to
	gone    bool        // its name no longer pointed to it: the name is free again
}

// NewWriter returns a writer for the log of names (the group, and the vhost and host
// if tmpl uses {vhost} and {host})
// whose segments, named by tmpl, are created in fsys (the RootFS of the output
// directory). The names are checked here (see Template.Expand): a bad one is counted
// and returned as an error wrapping ErrBadName. No file is created before the first
// frame. The writer adds to m, which every writer shares (nil: counters that are not
// registered).
func NewWriter(fsys FS, tmpl *Template, names Names, cfg Config, logger *slog.Logger, m *Metrics) (*Writer, error) {
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
		names: names,
		now:   cfg.Now,
		loc:   time.Local,
		log:   logger.With("component", "segment", "group", names.Group, "vhost", names.Vhost),
		m:     m,
	}
	if names.Host != "" {
		w.log = w.log.With("host", names.Host)
	}
	if w.now == nil {
		w.now = time.Now
	}
	switch {
	case cfg.Location != nil:
		w.loc = cfg.Location
	case cfg.UTC:
		w.loc = time.UTC
	}
	if _, err := w.nameFor(w.now()); err != nil {
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
func (w *Writer) Segment() string { return w.last.Segment }

// Last returns what the writer knows of its current (or last) segment, for the
// writer that replaces it (Continue).
func (w *Writer) Last() Last { return w.last }

// Continue makes the writer continue from the segment of a writer it replaces (see
// Last): the first frame is appended to that segment when the template still
// expands to its name, its name still points to it, and no bound closed it; else a
// new segment is created, with the next collision suffix. Called before the first
// frame; ignored after it.
func (w *Writer) Continue(l Last) {
	if w.f == nil && w.last.Segment == "" {
		w.last = l
	}
}

// nameFor returns the template expanded at now: the name of the segment the lines
// written at now belong to. It is cached per Unix second (every strftime field and
// every zone change has a whole second as its unit), and each new name is checked
// against the file system's limits.
func (w *Writer) nameFor(now time.Time) (string, error) {
	sec := now.Unix()
	if w.nameNow != "" && sec == w.nameSec {
		return w.nameNow, nil
	}
	name, err := w.tmpl.Expand(w.names, now.In(w.loc))
	if err != nil {
		return "", err
	}
	if name != w.nameNow {
		if err := w.fs.CheckName(name); err != nil {
			return "", err
		}
	}
	w.nameSec, w.nameNow = sec, name
	return name, nil
}

// Buffered returns the number of accepted bytes not yet written to a segment file
// (raw lines, the raw size of frames accepted by WriteFrame, plus the raw size of a
// prepared frame not yet written).
func (w *Writer) Buffered() int { return len(w.raw) + w.readyRaw + w.frameRaw }

// Write accepts p, which should hold whole '\n'-terminated lines, into the buffer of
// the next frame. A nil error means p was accepted (it is kept until written); a
// non-nil error means p was NOT accepted and nothing of it is kept: the caller retries
// later with the same bytes. Write returns ErrFlushNeeded when buffering p would pass
// the flush step, when the template expands to another name now than when the
// buffered lines were accepted (a frame holds the lines of one period of the name),
// or when a prepared frame is not yet written: the owner writes a frame (Prepare,
// Commit) and tries again. Data accepted earlier is never lost by an error.
func (w *Writer) Write(p []byte) error {
	if w.closed {
		return ErrWriterClosed
	}
	if len(p) == 0 {
		return nil
	}
	if err := w.accept(len(p)); err != nil {
		return err
	}
	w.raw = append(w.raw, p...)
	return nil
}

// accept checks that n more bytes (raw lines, or a frame accepted as it is) can join
// the next frame now (see Write) and notes the period name of the buffered lines. The
// size step bounds the bytes held: raw lines by their size, frames accepted as they
// are (and the lines sealed before them) by their compressed size.
func (w *Writer) accept(n int) error {
	name, err := w.nameFor(w.now())
	if err != nil {
		return err
	}
	pend := len(w.raw) + len(w.ready)
	if len(w.frame) > 0 || (pend > 0 && (pend+n > w.cfg.FlushBytes || name != w.rawName)) {
		return ErrFlushNeeded
	}
	if pend == 0 {
		w.rawName = name
	}
	return nil
}

// WriteFrame accepts frame, one complete zstd frame (RFC 8878) that decompresses to
// rawLen bytes of whole '\n'-terminated lines, to be written to the segment as it is,
// after the lines accepted before it and before those accepted after it: concatenated
// zstd frames are one valid zstd stream. The collector appends a batch v2 body this
// way (envelope.CheckFrame) instead of decoding and encoding it again. Only a zstd
// writer accepts frames (ErrNotZstd otherwise). The contract is Write's: nil means
// accepted (frame was copied); ErrFlushNeeded means not accepted: write a frame and
// try again. The lines buffered before it are encoded into their own frame now, so
// the next Prepare writes both in order.
func (w *Writer) WriteFrame(frame []byte, rawLen int) error {
	if w.closed {
		return ErrWriterClosed
	}
	if w.cfg.Compression != CompressZstd {
		return ErrNotZstd
	}
	if len(frame) == 0 {
		return nil
	}
	if err := w.accept(len(frame)); err != nil {
		return err
	}
	w.sealRaw()
	w.ready = append(w.ready, frame...)
	w.readyRaw += rawLen
	w.readyN++
	return nil
}

// sealRaw encodes the buffered lines into one frame at the end of ready.
func (w *Writer) sealRaw() {
	if len(w.raw) == 0 {
		return
	}
	w.ready = w.zenc.EncodeAll(w.raw, w.ready)
	w.readyRaw += len(w.raw)
	w.raw = w.raw[:0]
}

// Frame is a frame encoded by Prepare and not yet written: it goes to Segment
// (relative to the output directory), which is Before bytes long now and After bytes
// long once Commit wrote it. ID is the segment file's identity (zero when the system
// gives none): a recovery finds the segment by it when logrotate renamed it after the
// frame was written.
type Frame struct {
	Segment string
	Before  int64
	After   int64
	ID      FileID
}

// Prepare encodes the buffered lines into one complete frame (if not done already:
// a frame whose write failed is kept and prepared again, at the same offset) and
// opens the segment it goes to: the open one if its name is the frame's and still
// points to it, else the segment of the frame's name (appended to when it is this
// log's current segment, see Continue) or a new one. It reports the frame, or false
// when there is nothing to write. Nothing is written to the segment before Commit, so
// the caller can record the frame durably first. On error the data is kept.
//
// Every Prepare checks that the open segment's name still points to the open file: a
// segment deleted, renamed or replaced while open is closed (counted and logged), so
// nothing is ever written into an unlinked or moved file, and the next frame goes to a
// new segment of the right name.
func (w *Writer) Prepare() (Frame, bool, error) {
	if w.closed {
		return Frame{}, false, ErrWriterClosed
	}
	if len(w.frame) == 0 && len(w.ready) > 0 {
		// Frames accepted as they are: the buffered lines after them become one more.
		w.sealRaw()
		w.frame, w.ready = w.ready, w.frame[:0]
		w.frameRaw, w.frameN = w.readyRaw, w.readyN
		w.readyRaw, w.readyN = 0, 0
		w.frameName, w.rawName = w.rawName, ""
	}
	if len(w.frame) == 0 && len(w.raw) > 0 {
		if err := w.encode(); err != nil {
			return Frame{}, false, err
		}
	}
	if w.f != nil {
		w.checkGone()
	}
	if len(w.frame) == 0 {
		return Frame{}, false, nil
	}
	if w.f != nil && w.last.base != w.frameName {
		// The name's period is over: the frame goes to its own period's segment.
		if err := w.closeSegment("name"); err != nil {
			return Frame{}, false, err
		}
	}
	if w.f == nil {
		if err := w.open(w.frameName); err != nil {
			return Frame{}, false, err
		}
	}
	return Frame{Segment: w.last.Segment, Before: w.good, After: w.good + int64(len(w.frame)), ID: IDOf(w.last.id)}, true, nil
}

// checkGone closes the open segment when its name no longer points to it (deleted,
// renamed or replaced).
func (w *Writer) checkGone() {
	fst, err := w.f.Stat()
	if err != nil {
		return // cannot tell: the write will report a broken file
	}
	pst, err := w.fs.Stat(w.last.Segment)
	if err == nil && os.SameFile(fst, pst) {
		return
	}
	how := "replaced"
	if errors.Is(err, fs.ErrNotExist) {
		how = "deleted or renamed"
	}
	w.m.Vanished.Inc()
	w.log.Warn("open segment was "+how+"; closing it, the next frame goes to a new segment",
		"segment", w.last.Segment, "bytes", w.good)
	_ = w.closeFile()
	w.last.gone = true
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
			return fmt.Errorf("segment writer for %s: commit without a prepared frame", w.names.Group)
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
		w.last.full = true
		return w.closeSegment("size")
	case !w.rotateAt.IsZero() && !w.now().Before(w.rotateAt):
		w.last.full = true
		return w.closeSegment("time")
	}
	return nil
}

// Pending reports whether a prepared frame is not yet written: after Prepare, until a
// Commit writes it. A Commit that returns an error with Pending false wrote the frame
// (a later step failed: the sync, retried by the next Commit, or the rotation).
func (w *Writer) Pending() bool { return len(w.frame) > 0 }

// Reopen closes the current segment cleanly (used on SIGHUP, as daemons reopen their
// logs after logrotate): every frame in it is complete and its descriptor released.
// The next frame reopens the segment by name, as after an eviction or a restart: it is
// appended to the segment the name still points to, so no file appears when nothing
// moved it; when logrotate (or anyone) moved or removed it, a new segment takes the
// name; when another file took the name, a new segment gets the next collision
// suffix. No empty segment is created when nothing follows. It returns
// ErrFlushNeeded while lines are buffered or a frame is prepared: write them first.
// Like Commit, it first retries a failed sync and applies the rotation rules.
func (w *Writer) Reopen() error {
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
	err := w.closeFile()
	w.log.Info("segment closed on request; the next frame reopens it by name", "segment", w.last.Segment, "bytes", w.good)
	return err
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
	w.raw, w.frame, w.frameRaw, w.frameN = nil, nil, 0, 0
	w.ready, w.readyRaw, w.readyN = nil, 0, 0
	w.rawName, w.frameName = "", ""
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
	w.frameName, w.rawName = w.rawName, ""
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
			w.log.Warn("cannot cut back partial frame", "segment", w.last.Segment, "size", w.good, "err", terr)
		}
		return fmt.Errorf("segment %s: write frame at %d: %w", w.last.Segment, w.good, err)
	}
	w.good += int64(len(w.frame))
	w.m.Flushes.Inc()
	w.m.RawBytes.Add(float64(w.frameRaw))
	w.m.CompressedBytes.Add(float64(len(w.frame)))
	w.m.VerbatimFrames.Add(float64(w.frameN))
	w.frame = w.frame[:0]
	w.frameRaw, w.frameN = 0, 0
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
			return fmt.Errorf("segment %s: %w", w.last.Segment, err)
		}
		w.needSync = false
	}
	if w.needDirSync {
		if err := w.fs.SyncDir(dirOf(w.last.Segment)); err != nil {
			w.m.WriteErrors.Inc()
			return fmt.Errorf("segment %s: sync directory: %w", w.last.Segment, err)
		}
		w.needDirSync = false
	}
	return nil
}

// open opens the segment of the expanded name base for the next frame: the last
// segment when it is still base's current one (appended to), else a new segment named
// base, or base with the next collision suffix (an existing file is never overwritten,
// and is appended to only when it is this log's last segment).
func (w *Writer) open(base string) error {
	if err := w.fs.MkdirAll(dirOf(base)); err != nil {
		w.m.WriteErrors.Inc()
		return fmt.Errorf("segment directory for %s: %w", base, err)
	}
	now := w.now().In(w.loc)
	n := -1 // the first suffix to try; -1: unknown, list the directory
	if k, ok := suffixOf(base, w.last.Segment); ok && w.last.Segment != "" {
		n = k + 1
		if !w.last.full && !w.last.gone {
			done, gone, err := w.reopen(base, k, now)
			if err != nil || done {
				return err
			}
			w.last.gone = gone
		} else if w.last.full && !w.last.gone {
			// Closed by a bound or a rotation request: a new segment, under the
			// same name if the last one was moved away (logrotate).
			if _, err := w.fs.Stat(w.last.Segment); errors.Is(err, fs.ErrNotExist) {
				w.last.gone = true
			}
		}
		if w.last.gone {
			n = k // the name is free again: take it
		}
	}
	if n < 0 {
		var err error
		if n, err = w.nextSuffix(base); err != nil {
			w.m.WriteErrors.Inc()
			return fmt.Errorf("list segments of %s: %w", base, err)
		}
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
		w.setSegment(f, name, base, n, 0, now)
		w.needDirSync = w.cfg.Fsync == FsyncFlush
		w.log.Info("segment opened", "segment", name)
		return nil
	}
	w.m.WriteErrors.Inc()
	return fmt.Errorf("%w: %s and suffixes up to _%d exist", ErrSegmentExists, base, maxSuffix)
}

// reopen opens the last segment (suffix n of base) to append to it, unless its name
// no longer points to it (gone: it does not exist; else replaced by another file), a
// bound closed it (its size reached RotateBytes, or it was last written before the
// current RotateInterval began).
func (w *Writer) reopen(base string, n int, now time.Time) (done, gone bool, err error) {
	name := w.last.Segment
	f, err := w.fs.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, true, nil
	}
	if err != nil {
		if errors.Is(err, errNotRegular) {
			return false, false, nil // not a segment: a new one is created beside it
		}
		w.m.WriteErrors.Inc()
		return false, false, fmt.Errorf("reopen segment %s: %w", name, err)
	}
	st, err := f.Stat()
	keep := err == nil && (w.last.id == nil || os.SameFile(st, w.last.id))
	if keep && w.cfg.RotateBytes > 0 && st.Size() >= w.cfg.RotateBytes {
		keep = false
	}
	if keep && w.cfg.RotateInterval > 0 && st.ModTime().Before(intervalStart(now, w.cfg.RotateInterval)) {
		keep = false
	}
	if !keep {
		_ = f.Close()
		return false, false, nil
	}
	w.setSegment(f, name, base, n, st.Size(), now)
	w.m.Reopened.Inc()
	w.log.Info("segment reopened to append", "segment", name, "bytes", st.Size())
	return true, false, nil
}

// nextSuffix returns the collision suffix after the highest one of base's segments
// in its directory (0 when there is none), so a new segment sorts after the others.
// A new period's name usually has no segment yet: when neither base nor its first
// suffixed name exists it is 0 at the cost of two Stat calls, without listing the
// directory, which holds every period's segments of every log (listing it for each
// new segment made the cost of a segment grow with the segments kept: quadratic over
// a collector's life). Only a name that has a segment (the clock stepped back, a
// restart) lists the directory for its highest suffix.
func (w *Writer) nextSuffix(base string) (int, error) {
	if _, err := w.fs.Stat(base); errors.Is(err, fs.ErrNotExist) {
		if _, err := w.fs.Stat(suffixed(base, 1)); errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
	}
	names, err := w.fs.List(dirOf(base))
	if err != nil {
		return 0, err
	}
	file := path.Base(base)
	next := 0
	for _, e := range names {
		if k, ok := suffixOf(file, e); ok {
			next = max(next, k+1)
		}
	}
	return next, nil
}

// setSegment makes f, named name (suffix n of base), of size bytes, the open segment.
func (w *Writer) setSegment(f File, name, base string, n int, size int64, now time.Time) {
	w.f, w.good = f, size
	w.last = Last{Segment: name, base: base, n: n}
	if st, err := f.Stat(); err == nil {
		w.last.id = st
	}
	w.rotateAt = time.Time{}
	if iv := w.cfg.RotateInterval; iv > 0 {
		w.rotateAt = intervalStart(now, iv).Add(iv)
	}
}

// intervalStart returns the start of the rotation interval iv now is in, aligned in
// now's zone (1h on the hour, 24h at midnight).
func intervalStart(now time.Time, iv time.Duration) time.Time {
	_, off := now.Zone()
	shift := time.Duration(off) * time.Second
	return now.Add(shift).Truncate(iv).Add(-shift)
}

func (w *Writer) closeSegment(reason string) error {
	err := w.closeFile()
	w.m.Rotations.Inc()
	w.log.Info("segment rotated", "segment", w.last.Segment, "reason", reason, "bytes", w.good)
	return err
}

func (w *Writer) closeFile() error {
	err := w.f.Close()
	w.f = nil
	w.needSync, w.needDirSync = false, false
	if err != nil {
		w.m.WriteErrors.Inc()
		return fmt.Errorf("close segment %s: %w", w.last.Segment, err)
	}
	return nil
}
