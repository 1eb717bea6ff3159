package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
)

// connGapMarker is the line written to every open log after a lost session when gap
// markers are on.
const connGapMarker = "# logspread gap connection lost: messages may be missing\n"

// gapPrefix starts every gap marker line; such lines never carry a vhost.
var gapPrefix = []byte("# logspread gap ")

// maxVhostCache bounds the per-log cache of vhost names seen.
const maxVhostCache = 4096

// wkey names one segment writer: a log, and a vhost for {vhost} logs ("" otherwise).
type wkey struct {
	log   int
	vhost string
}

// openWriter is a segment writer in the writer set.
type openWriter struct {
	w    *SegmentWriter
	used uint64 // writerSet.clock at the last write, for LRU eviction
	// seg and size are where the last frame seen by the writer set ended: a change
	// after a Write means the writer wrote a frame at its size step.
	seg  string
	size int64
}

// wroteFrame reports whether the writer wrote a frame since the last call.
func (ow *openWriter) wroteFrame() bool {
	if ow.w.name == ow.seg && ow.w.good == ow.size {
		return false
	}
	ow.seg, ow.size = ow.w.name, ow.w.good
	return true
}

// chunk is a run of lines of one message bound for one writer.
type chunk struct {
	key wkey
	b   []byte
}

// vhostEntry is a cached vhost resolution.
type vhostEntry struct {
	name     string // the vhost to write to
	rejected bool   // the line's vhost was unsafe and replaced by the default
}

// writerSet is the writer side of a Collector: the sequencer and the open segment
// writers. It is owned by the goroutine running Collector.Run.
type writerSet struct {
	c        *Collector
	log      *slog.Logger
	fs       segmentFS
	closeFS  func() error
	seq      *Sequencer
	restored int

	writers map[wkey]*openWriter
	clock   uint64
	vhosts  []map[string]vhostEntry // per log: vhost field bytes -> resolution
	logs    map[string]LogState     // last segment per log name, for the state file

	out    []byte  // lines of the message being written
	chunks []chunk // writes of that message not yet accepted, in order

	dirty         bool // the sequencer advanced since the last state save
	sizeStep      bool // a writer wrote a frame at its size step during this message
	rotatePending bool // a rotation request failed on some writer and is retried
	lastBadWarn   time.Time
	lastVhostWarn time.Time
}

func (c *Collector) newWriterSet() (*writerSet, error) {
	w := &writerSet{
		c:       c,
		log:     c.log,
		fs:      c.fs,
		writers: make(map[wkey]*openWriter),
		vhosts:  make([]map[string]vhostEntry, len(c.logs)),
		logs:    make(map[string]LogState),
	}
	if w.fs == nil {
		root, err := c.openRoot()
		if err != nil {
			return nil, err
		}
		w.fs, w.closeFS = rootFS{root}, root.Close
	}
	if err := os.MkdirAll(c.cfg.StateDir, 0o755); err != nil {
		w.release()
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st, err := LoadState(c.statePath())
	if err != nil {
		w.release()
		return nil, err
	}
	sc := DefaultSequencerConfig()
	sc.GapMarker = c.cfg.GapMarkers
	if c.cfg.MaxLine != 0 {
		sc.MaxLine = c.cfg.MaxLine
	}
	w.seq, err = NewSequencer(sc, c.log, c.reg)
	if err != nil {
		w.release()
		return nil, err
	}
	w.seq.Restore(st.Streams)
	w.restored = len(st.Streams)
	for i := range w.vhosts {
		w.vhosts[i] = make(map[string]vhostEntry)
	}
	return w, nil
}

// release frees what newWriterSet opened (the writers are closed by finish).
func (w *writerSet) release() {
	if w.seq != nil {
		w.seq.Close()
	}
	if w.closeFS != nil {
		_ = w.closeFS()
	}
}

// loop takes messages from the queue in delivery order and writes them, flushing
// every FlushInterval and rotating on request, until the queue is closed and empty.
func (w *writerSet) loop(ctx context.Context) error {
	tick := time.NewTicker(w.c.cfg.FlushInterval)
	defer tick.Stop()
	var batch []*qitem
	for {
		var closed bool
		batch, closed = w.c.q.take(batch[:0])
		if len(batch) == 0 {
			if closed {
				return w.finish()
			}
			select {
			case <-w.c.q.ready:
			case <-tick.C:
				w.flushAll()
			case <-w.c.rotate:
				w.rotateAll()
			}
			continue
		}
		for i, it := range batch {
			select {
			case <-tick.C:
				w.flushAll()
			case <-w.c.rotate:
				w.rotateAll()
			default:
			}
			if err := w.handle(ctx, it); err != nil {
				for _, rest := range batch[i:] {
					w.c.q.release(rest)
				}
				w.abandon()
				return err
			}
			w.c.q.release(it)
		}
		clear(batch)
	}
}

// handle writes the lines of one queued item. It returns an error only when writes
// kept failing past DrainTimeout after ctx was done.
func (w *writerSet) handle(ctx context.Context, it *qitem) error {
	switch it.kind {
	case itemGap:
		w.seq.ConnectionLost()
		if w.c.cfg.GapMarkers {
			w.markConnectionGap()
		}
	case itemData:
		out, err := w.seq.Process(w.out[:0], it.messType, it.data)
		w.out = out
		if err != nil {
			if time.Since(w.lastBadWarn) > time.Second {
				w.lastBadWarn = time.Now()
				w.log.Warn("bad message not written", "err", err)
			}
			return nil
		}
		if len(out) == 0 {
			return nil
		}
		w.dirty = true
		for _, li := range it.logs {
			w.route(li, out)
		}
	}
	if err := w.writeChunks(ctx); err != nil {
		return err
	}
	if w.sizeStep {
		// A writer wrote a frame at its size step: flush the others too and save the
		// state now, so the state file lags the segments as little as possible.
		w.sizeStep = false
		w.flushAll()
	}
	return nil
}

// markConnectionGap queues the connection gap marker for every log: the one writer of
// a plain log, and every open writer of a {vhost} log.
func (w *writerSet) markConnectionGap() {
	marker := []byte(connGapMarker)
	var open []wkey
	for k := range w.writers {
		if w.c.logs[k.log].format != nil {
			open = append(open, k)
		}
	}
	slices.SortFunc(open, func(a, b wkey) int {
		if a.log != b.log {
			return a.log - b.log
		}
		return strings.Compare(a.vhost, b.vhost)
	})
	for i, ls := range w.c.logs {
		if ls.format == nil {
			w.chunks = append(w.chunks, chunk{wkey{i, ""}, marker})
		}
	}
	for _, k := range open {
		w.chunks = append(w.chunks, chunk{k, marker})
	}
}

// route queues the lines of one message for log li: whole for a plain log, split
// into runs of lines with the same vhost for a {vhost} log.
func (w *writerSet) route(li int, lines []byte) {
	ls := &w.c.logs[li]
	if ls.format == nil {
		w.chunks = append(w.chunks, chunk{wkey{li, ""}, lines})
		return
	}
	start, cur := 0, ""
	for p := 0; p < len(lines); {
		end := len(lines)
		if e := bytes.IndexByte(lines[p:], '\n'); e >= 0 {
			end = p + e + 1
		}
		vh := w.vhostOf(li, lines[p:end])
		if p > start && vh != cur {
			w.chunks = append(w.chunks, chunk{wkey{li, cur}, lines[start:p]})
			start = p
		}
		cur, p = vh, end
	}
	w.chunks = append(w.chunks, chunk{wkey{li, cur}, lines[start:]})
}

// vhostOf returns the vhost log a line of log li goes to: its vhost field when that
// is a safe file name, the default vhost otherwise (counted).
func (w *writerSet) vhostOf(li int, line []byte) string {
	def := w.c.cfg.DefaultVhost
	if bytes.HasPrefix(line, gapPrefix) {
		return def
	}
	raw, ok := w.c.logs[li].format.VHost(line)
	if !ok || len(raw) == 0 {
		w.c.m.DefaultVhost.Inc()
		return def
	}
	cache := w.vhosts[li]
	e, ok := cache[string(raw)]
	if !ok {
		name := string(raw)
		e = vhostEntry{name: name}
		if err := ValidateVhost(name); err != nil {
			e = vhostEntry{name: def, rejected: true}
			if time.Since(w.lastVhostWarn) > time.Second {
				w.lastVhostWarn = time.Now()
				w.log.Warn("unsafe vhost name: lines go to the default vhost log", "group", w.c.logs[li].cfg.Group, "err", err, "default", def)
			}
		}
		if len(cache) >= maxVhostCache {
			clear(cache)
		}
		cache[name] = e
	}
	if e.rejected {
		w.c.m.RejectedVhost.Inc()
		w.c.m.DefaultVhost.Inc()
	}
	return e.name
}

// writeChunks writes the queued chunks in order. A failed write is retried with
// backoff, from the chunk that failed (SegmentWriter.Write accepts all or nothing),
// so nothing is lost or reordered. While it retries, the queue fills up behind it.
// After ctx is done it gives up once DrainTimeout has passed and returns the error.
func (w *writerSet) writeChunks(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	var giveUpAt time.Time
	for i := 0; i < len(w.chunks); {
		err := w.write(&w.chunks[i])
		if err == nil {
			i++
			continue
		}
		w.stalled(err)
		if ctx.Err() != nil {
			if giveUpAt.IsZero() {
				giveUpAt = time.Now().Add(w.c.cfg.DrainTimeout)
			}
			if time.Now().After(giveUpAt) {
				n := 0
				for _, ch := range w.chunks[i:] {
					n += len(ch.b)
				}
				w.chunks = w.chunks[:0]
				return fmt.Errorf("segment writes still failing %v after shutdown began, %d bytes not written: %w", w.c.cfg.DrainTimeout, n, err)
			}
		}
		w.c.m.WriteRetries.Inc()
		d := jitter(backoff)
		if ctx.Err() == nil {
			sleepCtx(ctx, d) // a shutdown starts the drain clock at once
		} else {
			time.Sleep(d)
		}
		backoff = min(backoff*2, max(w.c.cfg.WriteRetryMax, time.Millisecond))
	}
	w.chunks = w.chunks[:0]
	w.unstalled()
	return nil
}

// stalled records a failing write.
func (w *writerSet) stalled(err error) {
	if w.c.stall.Swap(&err) == nil {
		w.c.m.Stalled.Set(1)
		w.log.Error("segment write failed; retrying without dropping lines (the queue fills meanwhile)", "err", err)
	}
}

func (w *writerSet) unstalled() {
	if w.c.stall.Swap(nil) != nil {
		w.c.m.Stalled.Set(0)
		w.log.Info("segment writes succeed again")
	}
}

// write hands one chunk to its writer, creating the writer if needed.
func (w *writerSet) write(ch *chunk) error {
	ow, err := w.writer(ch.key)
	if err != nil {
		badName := errors.Is(err, ErrBadName) || errors.Is(err, ErrBadTemplate)
		if badName && ch.key.vhost != "" && ch.key.vhost != w.c.cfg.DefaultVhost {
			// The vhost passed ValidateVhost but the name still cannot be used.
			w.c.m.RejectedVhost.Inc()
			ch.key.vhost = w.c.cfg.DefaultVhost
			return w.write(ch)
		}
		return err
	}
	w.clock++
	ow.used = w.clock
	err = ow.w.Write(ch.b)
	if ow.wroteFrame() {
		w.sizeStep = true
	}
	return err
}

// writer returns the open writer for k, creating it (and closing the least recently
// used one when too many are open).
func (w *writerSet) writer(k wkey) (*openWriter, error) {
	if ow := w.writers[k]; ow != nil {
		return ow, nil
	}
	ls := &w.c.logs[k.log]
	sw, err := newSegmentWriter(w.fs, ls.cfg.Group, k.vhost, ls.seg, w.c.log, w.c.reg)
	if err != nil {
		return nil, err
	}
	ow := &openWriter{w: sw}
	w.writers[k] = ow
	w.evict(k)
	w.c.m.OpenWriters.Set(float64(len(w.writers)))
	return ow, nil
}

// evict closes least recently used writers (never keep) while too many are open. A
// writer whose Close fails stays open and is retried later.
func (w *writerSet) evict(keep wkey) {
	for len(w.writers) > w.c.cfg.MaxOpenWriters {
		var victim wkey
		var oldest *openWriter
		for k, ow := range w.writers {
			if k != keep && (oldest == nil || ow.used < oldest.used) {
				victim, oldest = k, ow
			}
		}
		if oldest == nil {
			return
		}
		if err := oldest.w.Close(); err != nil {
			w.c.m.WriteRetries.Inc()
			w.log.Warn("cannot close least recently used segment writer; keeping it open", "err", err)
			return
		}
		w.noteSegment(victim, oldest.w)
		delete(w.writers, victim)
		w.c.m.Evictions.Inc()
	}
}

// logName is the state file's name of a log: "group" or "group/vhost".
func (w *writerSet) logName(k wkey) string {
	g := w.c.logs[k.log].cfg.Group
	if w.c.logs[k.log].format == nil {
		return g
	}
	return g + "/" + k.vhost
}

func (w *writerSet) noteSegment(k wkey, sw *SegmentWriter) {
	s := sw.Segment()
	if s == "" {
		return
	}
	name := w.logName(k)
	if _, ok := w.logs[name]; ok || len(w.logs) < maxVhostCache {
		w.logs[name] = LogState{Segment: s}
	}
}

// flushAll flushes every open writer (closing one frame each and applying time
// rotation), then saves the state file if every flush succeeded.
func (w *writerSet) flushAll() {
	if w.rotatePending {
		w.rotateAll()
		return
	}
	var ferr error
	for k, ow := range w.writers {
		err := ow.w.Flush()
		ow.wroteFrame()
		if err != nil {
			ferr = err
			continue
		}
		w.noteSegment(k, ow.w)
	}
	w.afterFlush(ferr)
}

// afterFlush saves the state after a successful flush of every writer, or records
// the failure.
func (w *writerSet) afterFlush(ferr error) {
	if ferr != nil {
		w.c.m.WriteRetries.Inc()
		w.stalled(ferr)
		return
	}
	w.unstalled()
	if w.dirty {
		w.saveState()
	}
}

// rotateAll rotates every open writer (SIGHUP). Writers whose rotation fails are
// retried at the next flush tick.
func (w *writerSet) rotateAll() {
	if !w.rotatePending {
		w.c.m.RotateRequests.Inc()
		w.log.Info("rotating all segments on request", "open", len(w.writers))
	}
	var ferr error
	for k, ow := range w.writers {
		w.noteSegment(k, ow.w)
		if err := ow.w.Rotate(); err != nil {
			ferr = err
		}
		ow.wroteFrame()
	}
	w.rotatePending = ferr != nil
	w.afterFlush(ferr)
}

// saveState writes the sequencer snapshot. Called only when every line the sequencer
// returned has been flushed.
func (w *writerSet) saveState() {
	st := State{Streams: w.seq.Snapshot(), Logs: w.logs}
	if err := SaveState(w.c.statePath(), st); err != nil {
		w.c.m.StateErrors.Inc()
		w.log.Error("cannot save state file; retrying at the next flush", "err", err)
		return
	}
	w.c.m.StateSaves.Inc()
	w.dirty = false
}

// finish closes every writer cleanly and saves the state, retrying failed closes
// until DrainTimeout.
func (w *writerSet) finish() error {
	giveUpAt := time.Now().Add(w.c.cfg.DrainTimeout)
	backoff := 50 * time.Millisecond
	for {
		var cerr error
		for k, ow := range w.writers {
			w.noteSegment(k, ow.w)
			if err := ow.w.Close(); err != nil {
				cerr = err
				continue
			}
			w.noteSegment(k, ow.w)
			delete(w.writers, k)
		}
		w.c.m.OpenWriters.Set(float64(len(w.writers)))
		if cerr == nil {
			break
		}
		w.stalled(cerr)
		if time.Now().After(giveUpAt) {
			n := 0
			for _, ow := range w.writers {
				n += ow.w.Buffered()
			}
			w.abandon()
			return fmt.Errorf("closing segments: writes still failing after %v, %d bytes not written: %w", w.c.cfg.DrainTimeout, n, cerr)
		}
		w.c.m.WriteRetries.Inc()
		time.Sleep(jitter(backoff))
		backoff = min(backoff*2, max(w.c.cfg.WriteRetryMax, time.Millisecond))
	}
	w.unstalled()
	if w.dirty {
		w.saveState()
		if w.dirty {
			return errors.New("collector: state file not saved at shutdown")
		}
	}
	w.log.Info("collector stopped", "streams", len(w.seq.Snapshot()))
	return nil
}

// abandon drops the writers without saving the state (their data could not be
// written), releasing their files.
func (w *writerSet) abandon() {
	for k, ow := range w.writers {
		if ow.w.f != nil {
			_ = ow.w.f.Close()
			ow.w.f = nil
		}
		ow.w.closed = true
		if ow.w.zenc != nil {
			ow.w.zenc.Close()
		}
		delete(w.writers, k)
	}
	w.c.m.OpenWriters.Set(0)
}
