package collector

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

// wkey names one segment writer: a log, a vhost for {vhost} logs and a host for
// {host} logs ("" otherwise).
type wkey struct {
	log   int
	vhost string
	host  string
}

// openWriter is a segment writer in the writer set.
type openWriter struct {
	w    *segment.Writer
	key  wkey
	used uint64 // writerSet.clock at the last write, for LRU eviction
	// buf holds, per stream, the spans of the lines w accepted that are not yet in a
	// prepared frame; frame the spans of the lines in the prepared frame (framed).
	buf    map[uint64]rangeSet
	frame  map[uint64]rangeSet
	framed bool
	pf     segment.Frame // the prepared frame, while framed
	// since is writerSet.clock at the first line accepted that is not yet in a
	// segment (0 when there is none): flushCycle writes the frames in that order.
	since uint64
	// lines counts the lines accepted and not yet in a segment (for the account of
	// what could not be written).
	lines int
}

// addSpan adds sp to the spans of stream id in m.
func addSpan(m map[uint64]rangeSet, id uint64, sp Span) {
	r := m[id]
	r.add(sp.From, sp.To)
	m[id] = r
}

// writerSetConfig is what a writerSet gets from its Collector.
type writerSetConfig struct {
	cfg       Config       // validated, with defaults filled in
	logs      []logSpec    // the configured logs; a wkey's log indexes it
	fs        segment.FS   // the output directory
	closeFS   func() error // closes fs (nil: nothing to close); called by release
	statePath string
	log       *slog.Logger
	reg       prometheus.Registerer // the sequencer registers its metrics on it
	m         *CollectorMetrics
	segm      *segment.Metrics
	// stall holds the last write error while writes fail (Collector.Healthy reads it).
	stall *atomic.Pointer[error]
	// progress sends the progress reports.
	progress *progressSender
	// sleep waits d or until ctx is done (reports whether d passed); nil means a timer.
	// Tests inject a clock here.
	sleep func(ctx context.Context, d time.Duration) bool
}

// writerSet is the writer side of a Collector: the sequencer, routing, the open
// segment writers, and the flush cycle that writes their frames after the write-ahead
// intent. It is owned by the goroutine running Collector.Run.
type writerSet struct {
	writerSetConfig
	seq      *Sequencer
	vhosts   *vhostRouter
	restored int

	writers  map[wkey]*openWriter
	clock    uint64
	segments map[string]LogState // last segment per log name, for the state file
	// lasts holds, per log name, what the last writer of a log knew of its segment,
	// so the log's next writer appends to it (segment.Writer.Continue). It and
	// segments are bounded by MaxLogs (logs without an open writer expire).
	lasts map[string]segment.Last
	// logUsed is writerSet.clock when a log of lasts or segments last had a writer
	// closed: expireLog forgets the least recently used one.
	logUsed map[string]uint64
	// badNames holds the names refused as too long or unsafe (logged once each;
	// bounded by MaxLogs).
	badNames map[string]bool
	// hosts caches, per host name received, whether it is safe (hostOf; bounded by
	// MaxLogs).
	hosts        map[string]bool
	lastHostWarn time.Time
	// groupLines and groupBytes are the per-group counters, by log index.
	groupLines, groupBytes []prometheus.Counter

	// committed is, per stream, its base, groups and the spans in complete frames on
	// disk or declared lost: the state file's Streams. needSave says it (or segments)
	// changed since the last clean state save, or the last save holds an intent.
	committed map[uint64]StreamState
	needSave  bool
	// store saves the state: a journal record of what changed, or a snapshot.
	// changedStreams, changedLogs and changedExpired name the streams (committed),
	// logs (segments) and expired records changed since the last save.
	store          *stateStore
	changedStreams map[uint64]struct{}
	changedLogs    map[string]struct{}
	changedExpired map[uint64]struct{}
	// dirty lists the streams whose committed spans changed since the last progress
	// report was prepared (dirtySet: the same, as a set).
	dirty    []uint64
	dirtySet map[uint64]bool
	ready    []*openWriter // flushCycle: writers whose Prepare succeeded
	intent   []FrameIntent // flushCycle: the frames about to be written

	out    []byte  // lines of the message being written
	cur    Written // the run of stream lines being routed, if curOK
	curOK  bool
	chunks []chunk // writes of that message not yet accepted, in order

	reopenPending bool // a reopen request failed on some writer and is retried
	lastBadWarn   time.Time

	sinceFlush   int                  // bytes accepted since the last flush cycle
	flushFailing bool                 // the last flush cycle failed
	reason       envelope.StallReason // the current stall reason (StallNone: writing)
	stopBy       time.Time            // after ctx is done: when to give up writing
	// unwrittenLines and unwrittenBytes count the lines given up when writes kept
	// failing after the stop began, besides those still held by writers and chunks.
	unwrittenLines, unwrittenBytes int
	scratch                        []byte // countUnwritten's output
}

// newWriterSet loads the state file (applying the intent left by a crash) and
// returns a writerSet ready to write. It takes over cfg.closeFS: release calls it.
func newWriterSet(cfg writerSetConfig) (*writerSet, error) {
	w := &writerSet{
		writerSetConfig: cfg,
		vhosts:          newVhostRouter(cfg.logs, cfg.cfg.DefaultVhost, cfg.cfg.MaxLogs, cfg.m, cfg.segm, cfg.log),
		writers:         make(map[wkey]*openWriter),
		segments:        make(map[string]LogState),
		lasts:           make(map[string]segment.Last),
		logUsed:         make(map[string]uint64),
		badNames:        make(map[string]bool),
		hosts:           make(map[string]bool),
	}
	for _, ls := range cfg.logs {
		w.groupLines = append(w.groupLines, cfg.m.GroupLines.WithLabelValues(ls.cfg.Group))
		w.groupBytes = append(w.groupBytes, cfg.m.GroupBytes.WithLabelValues(ls.cfg.Group))
	}
	if err := os.MkdirAll(cfg.cfg.StateDir, 0o750); err != nil {
		w.release()
		return nil, fmt.Errorf("state directory: %w", err)
	}
	store, st, err := openStateStore(w.statePath)
	if err != nil {
		w.release()
		return nil, err
	}
	w.store = store
	w.changedStreams = make(map[uint64]struct{})
	w.changedLogs = make(map[string]struct{})
	w.changedExpired = make(map[uint64]struct{})
	w.seq, err = NewSequencer(w.cfg.sequencerConfig(), w.log, w.reg)
	if err != nil {
		w.release()
		return nil, err
	}
	if len(st.Intent) > 0 {
		// The last run stopped (crashed) with frames in flight: keep the complete
		// ones, cut off torn ones, and record the outcome before anything is written.
		var rep recoveryReport
		st, rep, err = recoverIntent(w.fs, st, w.log)
		if err != nil {
			w.release()
			return nil, err
		}
		w.m.RecoveredFrames.Add(float64(rep.complete))
		w.m.TornFrames.Add(float64(rep.torn + rep.missing))
		if err := w.store.saveFull(st); err != nil {
			w.release()
			return nil, fmt.Errorf("state file after recovery: %w", err)
		}
		w.log.Info("recovered the frames in flight at the last stop", "complete", rep.complete,
			"torn", rep.torn, "missing", rep.missing, "renamed", rep.moved, "holes_to_resend", rep.holes)
	}
	st.mergeExpired()
	w.seq.Restore(st.Streams, st.Expired)
	w.restored = len(st.Streams)
	for name, ls := range st.Logs { // each log's next writer continues its segment
		if ls.Segment != "" && len(w.segments) < w.cfg.MaxLogs {
			w.segments[name] = ls
		}
	}
	w.committed = make(map[uint64]StreamState, len(st.Streams))
	w.dirtySet = make(map[uint64]bool)
	ends := make([]streamEnd, 0, len(st.Streams))
	for id, ss := range st.Streams {
		w.committed[id] = ss
		ends = append(ends, streamEnd{stream: id, front: ss.Front(), groups: ss.Groups})
	}
	if w.progress != nil {
		w.progress.update(ends)
	}
	if w.sleep == nil {
		w.sleep = sleepCtx
	}
	w.expireStreams() // a lower max_streams than the state file holds
	// A snapshot of what was loaded starts the journal of this run.
	if err := w.store.saveFull(State{Streams: w.committed, Logs: w.segments, Expired: w.seq.Expired()}); err != nil {
		w.release()
		return nil, fmt.Errorf("state file at start: %w", err)
	}
	w.noteSaved()
	return w, nil
}

// maxBusyScan bounds the streams with lines in flight expireStreams passes over in
// one call.
const maxBusyScan = 64

// now reads the clock.
func (w *writerSet) now() time.Time {
	if w.cfg.Now != nil {
		return w.cfg.Now()
	}
	return time.Now()
}

// expireStreams expires the streams idle past StreamExpiry and, beyond MaxStreams, the
// least recently active ones (Sequencer.Expire), provided every line they had is in a
// complete frame (committed): a stream with lines in flight waits for the next call.
// Their state leaves the state file's streams for its records and the progress
// reports. Called after every message and flush tick; it costs nothing while no
// stream is due.
func (w *writerSet) expireStreams() {
	before := w.now().Add(-w.cfg.StreamExpiry)
	over := w.seq.Len() - w.cfg.MaxStreams
	type due struct {
		id    uint64
		limit string
	}
	var ids []due
	busy := 0
	w.seq.Oldest(func(id uint64, seen time.Time) bool {
		idle := seen.Before(before)
		if !idle && over <= 0 {
			return false
		}
		if !slices.Equal(w.seq.Had(id), w.committed[id].Written) {
			// Lines in flight: not yet. Past a few such streams, wait for the
			// next flush rather than walk every stream at every message.
			busy++
			return busy < maxBusyScan
		}
		limit := LimitMaxStreams
		if idle {
			limit = LimitStreamExpiry
		}
		ids = append(ids, due{id, limit})
		over--
		return true
	})
	for _, d := range ids {
		w.seq.Expire(d.id, d.limit)
		delete(w.committed, d.id)
		w.changedStreams[d.id] = struct{}{}
		if w.dirtySet[d.id] {
			delete(w.dirtySet, d.id)
			w.dirty = slices.DeleteFunc(w.dirty, func(x uint64) bool { return x == d.id })
		}
		if w.progress != nil {
			w.progress.forget(d.id)
		}
		w.needSave = true
	}
	// The holes given up are gaps: nothing to store, the stream is gone.
	for _, l := range w.seq.TakeLost() {
		if _, ok := w.seq.Base(l.Stream); ok {
			w.commitSpans(l.Stream, []Span{l.Span})
		}
	}
}

// release frees what newWriterSet opened (the writers are closed by finish).
func (w *writerSet) release() {
	if w.store != nil {
		w.store.close()
	}
	if w.seq != nil {
		w.seq.Close()
	}
	if w.closeFS != nil {
		_ = w.closeFS()
	}
}

// loop takes messages from the queue in delivery order and writes them, flushing
// every FlushInterval and rotating on request, until the queue is closed and empty.
// The next timed flush comes an interval after the end of the last one: a flush cycle
// that takes longer than the interval (its state save grows with the streams kept)
// must not be followed by another before every message, as the ticks that came during
// it would make it (one frame and one state save per message).
func (w *writerSet) loop(ctx context.Context, q *msgQueue, reopen <-chan struct{}) error {
	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	var batch []*qitem
	for {
		var closed bool
		batch, closed = q.take(batch[:0])
		if len(batch) == 0 {
			if closed {
				return w.finish()
			}
			select {
			case <-q.ready:
			case <-tick.C:
				w.flushAll()
				tick.Reset(w.cfg.FlushInterval)
				w.expireStreams()
			case <-reopen:
				w.reopenAll()
			}
			continue
		}
		for i, it := range batch {
			select {
			case <-tick.C:
				w.flushAll()
				tick.Reset(w.cfg.FlushInterval)
				w.expireStreams()
			case <-reopen:
				w.reopenAll()
			default:
			}
			if err := w.handle(ctx, it); err != nil {
				q.release(it)
				for _, rest := range batch[i+1:] {
					w.countUnwritten(rest)
					q.release(rest)
				}
				return err
			}
			q.release(it)
		}
		clear(batch)
	}
}

// handle writes the lines of one queued item. It returns an error only when writes
// kept failing past DrainTimeout after ctx was done.
func (w *writerSet) handle(ctx context.Context, it *qitem) error {
	switch it.kind {
	case itemStop:
		w.stop(it)
		return nil
	case itemGap:
		w.seq.ConnectionLost()
		if w.cfg.GapMarkers {
			w.markConnectionGap()
		}
	case itemData:
		minRaw := 0
		if w.framesOK(it.logs) {
			minRaw = minVerbatim
		}
		out, err := w.seq.ProcessFrames(w.out[:0], it.messType, it.data, minRaw)
		w.out = out
		w.account(it.logs)
		if w.seq.Len() > w.cfg.MaxStreams {
			w.expireStreams()
		}
		if err != nil {
			if time.Since(w.lastBadWarn) > time.Second {
				w.lastBadWarn = time.Now()
				w.log.Warn("bad message not written", "err", err)
			}
			return nil
		}
		frame, frameOnly := w.seq.Frame(), w.seq.FrameOnly()
		if len(out) == 0 && frame == nil {
			return nil
		}
		pieces := w.seq.Pieces()
		host := ""
		for _, li := range it.logs {
			if host == "" && w.logs[li].byHost() {
				host = w.hostOf(w.seq.Host())
			}
			if frame != nil && (frameOnly || w.verbatim(li, pieces[0].Len)) {
				p := pieces[0]
				// frameOnly: every log of the item takes frames (framesOK).
				ch := chunk{key: w.keyOf(li, host), frame: frame, n: p.Len, lines: w.seq.FrameLines()}
				if !frameOnly {
					ch.b = out[p.Pos : p.Pos+p.Len]
				}
				w.cur, w.curOK = p, true
				ch.sr = w.streamOf(0, p.Len)
				w.chunks = append(w.chunks, ch)
				continue
			}
			pos := 0
			for _, p := range pieces {
				if p.Pos > pos {
					w.curOK = false
					w.route(li, out[pos:p.Pos], host)
				}
				w.cur, w.curOK = p, true
				w.route(li, out[p.Pos:p.Pos+p.Len], host)
				pos = p.Pos + p.Len
			}
			if pos < len(out) {
				w.curOK = false
				w.route(li, out[pos:], host)
			}
		}
		w.curOK = false
		// The step counts bytes held until the next cycle: lines by their size, a
		// frame taken as it is by its compressed size (a state save per 4 MiB of raw
		// lines in frames took a quarter of a collector's CPU).
		w.sinceFlush += len(out)
		if frameOnly {
			w.sinceFlush += len(frame)
		}
	}
	if err := w.writeChunks(ctx); err != nil {
		return err
	}
	if w.sinceFlush >= w.cfg.FlushBytes {
		// A size step over every log: flush, so progress keeps pace at high rates.
		w.flushAll()
	}
	return nil
}

// minVerbatim is the smallest batch whose frame a collector writes as it is: smaller
// ones (a live shipper's batches of a few milliseconds) are decoded and written in the
// writer's own frame of the flush, so the frames of a segment stay few and large
// (each at least this many raw bytes, or one per flush) and compress well.
const minVerbatim = 32 << 10

// verbatim reports whether a batch v2 frame of n raw bytes, all new, goes to log li as
// it is: a zstd log without per-line work (no {vhost} split) and a large enough frame.
func (w *writerSet) verbatim(li, n int) bool {
	return w.takesFrames(li) && n >= minVerbatim
}

// takesFrames reports whether log li can take batch frames as they are: zstd segments
// and no per-line work (no {vhost} split, no host prefix; {host} is no per-line work:
// one batch comes from one host).
func (w *writerSet) takesFrames(li int) bool {
	return w.logs[li].format == nil && !w.logs[li].cfg.HostPrefix && w.cfg.Compression == segment.CompressZstd
}

// framesOK reports whether every log of an item takes frames as they are, so that the
// sequencer need not decompress a wholly new batch v2 (Sequencer.ProcessFrames).
func (w *writerSet) framesOK(logs []int) bool {
	if len(logs) == 0 {
		return false
	}
	for _, li := range logs {
		if !w.takesFrames(li) {
			return false
		}
	}
	return true
}

// writeChunks writes the queued chunks in order. A failed write is retried with
// backoff (spreadlink.Backoff from 50ms to WriteRetryMax), from the chunk that failed
// (segment.Writer.Write accepts all or nothing), so nothing is lost or reordered.
// While it retries, the queue fills up behind it and the reader stops reading. After
// ctx is done it gives up once DrainTimeout has passed and returns the error; the
// chunks not written stay for the account of what was lost.
func (w *writerSet) writeChunks(ctx context.Context) error {
	bo := spreadlink.Backoff{Min: 50 * time.Millisecond, Max: max(w.cfg.WriteRetryMax, 50*time.Millisecond)}
	failures := 0
	for i := 0; i < len(w.chunks); {
		err := w.write(&w.chunks[i])
		if err == nil {
			i++
			continue
		}
		w.stalled(err)
		if ctx.Err() != nil && w.pastStop() {
			w.chunks = w.chunks[i:]
			return fmt.Errorf("segment writes still failing %v after the stop began: %w", w.cfg.DrainTimeout, err)
		}
		w.m.WriteRetries.Inc()
		failures++
		d := bo.Delay(failures)
		if ctx.Err() == nil {
			w.sleep(ctx, d) // a stop starts the stop clock at once
		} else {
			w.sleep(context.Background(), min(d, time.Until(w.stopBy)+time.Millisecond))
		}
	}
	w.chunks = w.chunks[:0]
	if !w.flushFailing {
		w.unstalled()
	}
	return nil
}

// pastStop starts the stop clock (DrainTimeout) if it is not running and reports
// whether it has run out.
func (w *writerSet) pastStop() bool {
	if w.stopBy.IsZero() {
		w.stopBy = time.Now().Add(w.cfg.DrainTimeout)
	}
	return !time.Now().Before(w.stopBy)
}

// stalled records a failing write or state save: the first failure, and every change
// of its reason, is logged and reported to the shippers (ProgressStalled).
func (w *writerSet) stalled(err error) {
	w.stall.Store(&err)
	r := stallReason(err)
	if r == w.reason {
		return
	}
	w.reason = r
	w.m.Stalled.Set(1)
	for _, sr := range stallReasons {
		v := 0.0
		if sr == r {
			v = 1
		}
		w.m.StalledReason.WithLabelValues(sr.String()).Set(v)
	}
	w.log.Error("stalled: cannot write; retrying without dropping lines, reading stops once the queue is full, shippers hold their lines",
		"reason", r.String(), "err", err)
	if w.progress != nil {
		w.progress.stalled(r)
	}
}

// unstalled records that writes succeed again.
func (w *writerSet) unstalled() {
	w.stall.Store(nil)
	if w.reason == envelope.StallNone {
		return
	}
	w.reason = envelope.StallNone
	w.m.Stalled.Set(0)
	w.m.StalledReason.Reset()
	for _, sr := range stallReasons {
		w.m.StalledReason.WithLabelValues(sr.String())
	}
	w.log.Info("writes succeed again: no longer stalled")
	if w.progress != nil {
		w.progress.stalled(envelope.StallNone)
	}
}

// stop handles the stop item: flush what was queued before it, send the final
// progress report if everything received so far is written, then let the reader
// leave the presence groups.
func (w *writerSet) stop(it *qitem) {
	defer it.done()
	if err := w.flushAll(); err != nil || w.reason != envelope.StallNone {
		w.log.Warn("stopping while stalled: no final progress report (shippers keep what is not written)", "err", err)
		return
	}
	if w.progress != nil && w.progress.final() {
		w.log.Info("final progress report sent", "name", w.cfg.Name)
	}
}

// countUnwritten counts the lines and bytes an item not handled would have written.
func (w *writerSet) countUnwritten(it *qitem) {
	if it.kind != itemData {
		return
	}
	// Not w.out: the chunks not written still point into it.
	out, err := w.seq.Process(w.scratch[:0], it.messType, it.data)
	w.scratch = out
	if err == nil {
		w.unwrittenLines += bytes.Count(out, []byte{'\n'})
		w.unwrittenBytes += len(out)
	}
}

// unwritten returns the lines and bytes received but not written: held by writers
// (buffered or in a frame not written), in chunks not accepted, in items given up,
// and in the items still queued (taken from q, which must be closed).
func (w *writerSet) unwritten(q *msgQueue) (lines, n int) {
	for _, ow := range w.writers {
		lines += ow.lines
		n += ow.w.Buffered()
	}
	for _, ch := range w.chunks {
		lines += ch.lineCount()
		n += ch.size()
	}
	w.chunks = w.chunks[:0]
	var rest []*qitem
	rest, _ = q.take(rest)
	for _, it := range rest {
		w.countUnwritten(it)
		q.release(it)
	}
	return lines + w.unwrittenLines, n + w.unwrittenBytes
}

// write hands one chunk to its writer, creating the writer if needed.
func (w *writerSet) write(ch *chunk) error {
	ow, err := w.writer(ch.key)
	if err != nil {
		badName := errors.Is(err, ErrBadName) || errors.Is(err, segment.ErrBadTemplate)
		if badName && ch.key.host != "" && ch.key.host != w.cfg.DefaultHost {
			// The host passed ValidateHost but the name still cannot be used (too
			// long for the file system): its lines go to the default host's log.
			w.badName(w.logName(ch.key), "host log name cannot be a file name here: its lines go to the default host's log", w.cfg.DefaultHost, err)
			ch.key.host = w.cfg.DefaultHost
			return w.write(ch)
		}
		if badName && ch.key.vhost != "" && ch.key.vhost != w.cfg.DefaultVhost {
			// The vhost passed ValidateVhost but the name still cannot be used (too
			// long for the file system): its lines go to the default vhost's log.
			w.m.RejectedVhost.Inc()
			w.m.DefaultVhost.Inc()
			w.badName(w.logName(ch.key), "vhost log name cannot be a file name here: its lines go to the default vhost log", w.cfg.DefaultVhost, err)
			ch.key.vhost = w.cfg.DefaultVhost
			return w.write(ch)
		}
		return err
	}
	w.clock++
	ow.used = w.clock
	put := func() error {
		if ch.frame != nil {
			return ow.w.WriteFrame(ch.frame, ch.n)
		}
		return ow.w.Write(ch.b)
	}
	err = put()
	if errors.Is(err, segment.ErrFlushNeeded) {
		// The writer reached its size step (or holds a frame to retry): flush every
		// writer now (intent first), so the state lags the segments as little as
		// possible, then try again.
		if ferr := w.flushAll(); ferr != nil {
			return ferr
		}
		err = put()
	}
	if err != nil {
		return err
	}
	if ow.since == 0 {
		ow.since = w.clock
	}
	lines := ch.lineCount()
	ow.lines += lines
	w.groupLines[ch.key.log].Add(float64(lines))
	w.groupBytes[ch.key.log].Add(float64(ch.size()))
	if ch.sr.ok {
		if ow.buf == nil {
			ow.buf = make(map[uint64]rangeSet)
		}
		addSpan(ow.buf, ch.sr.stream, ch.sr.r)
	}
	return nil
}

// badName logs, once per log name (remembered up to MaxLogs names), that the log name
// cannot be a file name and its lines go to the default log def.
func (w *writerSet) badName(name, msg, def string, err error) {
	if w.badNames[name] {
		return
	}
	if len(w.badNames) >= w.cfg.MaxLogs {
		clear(w.badNames)
		w.m.LimitReached.WithLabelValues(LimitMaxLogs).Inc()
	}
	w.badNames[name] = true
	w.log.Warn(msg, "log", name, "default", def, "err", err)
}

// writer returns the open writer for k, creating it (and closing the least recently
// used one when too many are open).
func (w *writerSet) writer(k wkey) (*openWriter, error) {
	if ow := w.writers[k]; ow != nil {
		return ow, nil
	}
	ls := &w.logs[k.log]
	sw, err := segment.NewWriter(w.fs, ls.tmpl, segment.Names{Group: ls.cfg.Group, Vhost: k.vhost, Host: k.host}, w.cfg.Config, w.log, w.segm)
	if err != nil {
		return nil, err
	}
	name := w.logName(k)
	if l, ok := w.lasts[name]; ok {
		sw.Continue(l)
	} else if ls, ok := w.segments[name]; ok {
		sw.Continue(segment.Last{Segment: ls.Segment}) // from the state file
	}
	ow := &openWriter{w: sw, key: k}
	w.writers[k] = ow
	w.evict(k)
	w.m.OpenWriters.Set(float64(len(w.writers)))
	return ow, nil
}

// evict closes least recently used writers (never keep) while too many are open. A
// writer whose Close fails stays open and is retried later.
func (w *writerSet) evict(keep wkey) {
	for len(w.writers) > w.cfg.MaxOpenWriters {
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
		if oldest.w.Buffered() > 0 {
			_ = w.flushAll() // its lines go out through a flush cycle (intent first)
		}
		if err := oldest.w.Close(); err != nil {
			w.m.WriteRetries.Inc()
			w.log.Warn("cannot close least recently used segment writer; keeping it open", "err", err)
			return
		}
		w.noteSegment(victim, oldest.w)
		delete(w.writers, victim)
		w.m.Evictions.Inc()
	}
}

// logName is the state file's name of a log: "group", "group/vhost" for a {vhost}
// log, with "@host" after it for a {host} log (host names hold no '@' or '/').
func (w *writerSet) logName(k wkey) string {
	n := w.logs[k.log].cfg.Group
	if w.logs[k.log].format != nil {
		n += "/" + k.vhost
	}
	if w.logs[k.log].tmpl.UsesHost() {
		n += "@" + k.host
	}
	return n
}

// noteSegment remembers the segment of k's writer: in the state file (segments) and
// for k's next writer (lasts). At maxVhostCache logs, the memory of a log without an
// open writer expires to make room (counted).
func (w *writerSet) noteSegment(k wkey, sw *segment.Writer) {
	s := sw.Segment()
	if s == "" {
		return
	}
	name := w.logName(k)
	if _, ok := w.lasts[name]; !ok && len(w.lasts) >= w.cfg.MaxLogs {
		w.expireLog()
	}
	w.lasts[name] = sw.Last()
	w.logUsed[name] = w.clock
	old, ok := w.segments[name]
	if !ok && len(w.segments) >= w.cfg.MaxLogs {
		w.expireLog()
	}
	if old.Segment != s && len(w.segments) < w.cfg.MaxLogs {
		w.segments[name] = LogState{Segment: s}
		w.changedLogs[name] = struct{}{}
		w.needSave = true
	}
}

// expireLog forgets the segment of the least recently used log that has no open
// writer (its last segment for the next writer, and its entry in the state file): if
// it writes again, its next writer starts a new segment (a collision suffix when the
// file of its name exists). So a log is forgotten only when more than MaxLogs logs
// were written since it last was.
func (w *writerSet) expireLog() {
	open := make(map[string]bool, len(w.writers))
	for k := range w.writers {
		open[w.logName(k)] = true
	}
	victim, found := "", false
	consider := func(name string) {
		if open[name] {
			return
		}
		if !found || w.logUsed[name] < w.logUsed[victim] || (w.logUsed[name] == w.logUsed[victim] && name < victim) {
			victim, found = name, true
		}
	}
	for name := range w.lasts {
		consider(name)
	}
	for name := range w.segments {
		consider(name)
	}
	if !found {
		return
	}
	delete(w.lasts, victim)
	delete(w.segments, victim)
	w.changedLogs[victim] = struct{}{}
	delete(w.logUsed, victim)
	w.needSave = true
	w.m.LogsExpired.Inc()
	w.m.LimitReached.WithLabelValues(LimitMaxLogs).Inc()
}

// flushAll flushes every open writer (one flush cycle, see flushCycle; time rotation
// is applied too) and records the outcome. It returns the first error.
func (w *writerSet) flushAll() error {
	if w.reopenPending {
		return w.reopenAll()
	}
	w.sinceFlush = 0
	err := w.flushCycle()
	w.afterFlush(err)
	return err
}

// flushCycle writes the buffered lines of every open writer with a write-ahead
// intent, so that a crash at any point leaves segments and state that agree:
//
//  1. every writer encodes its pending frame in memory and opens its segment
//     (segment.Writer.Prepare);
//  2. the state file is saved (atomically) with the committed stream offsets plus
//     the intent: per frame the segment, its size before and after, and per stream
//     the range of the lines it holds;
//  3. the frames are written (segment.Writer.Commit, fdatasync per policy), and the
//     committed offsets advance over each frame written.
//
// The next cycle's save supersedes the intent; a cycle with nothing to write saves a
// clean state (no intent) if the last save is not one. At start, recoverIntent keeps
// the frames found complete and cuts off torn ones. Nothing is written when the state
// cannot be saved: the frames stay pending and the next cycle retries. A writer whose
// Prepare or Commit fails keeps its data for the next cycle; the others go ahead.
func (w *writerSet) flushCycle() error {
	var ferr error
	w.ready, w.intent = w.ready[:0], w.intent[:0]
	for _, ow := range w.writers {
		pf, ok, err := ow.w.Prepare()
		if err != nil {
			ferr = cmp.Or(ferr, err)
			continue
		}
		w.ready = append(w.ready, ow)
		if !ok {
			continue
		}
		if !ow.framed {
			// The new frame holds every line accepted so far (a writer accepts
			// nothing while it holds a frame); ow.frame is empty here.
			ow.frame, ow.buf = ow.buf, ow.frame
			if ow.frame == nil {
				ow.frame = make(map[uint64]rangeSet)
			}
			ow.framed = true
		}
		ow.pf = pf
	}
	// Write the frames in the delivery order of their first lines: a crash in the
	// middle then tears frames of later lines, which a resend writes again, rather
	// than earlier lines below a kept frame, which would be lost.
	// (since-1 sorts the writers with nothing pending, since 0, last.)
	slices.SortFunc(w.ready, func(a, b *openWriter) int { return cmp.Compare(a.since-1, b.since-1) })
	for _, ow := range w.ready {
		if ow.framed {
			// The state saved with the intent names the segment as its log's
			// current one, so a restart after a crash continues it.
			w.noteSegment(ow.key, ow.w)
			fi := FrameIntent{Segment: ow.pf.Segment, ID: ow.pf.ID, Before: ow.pf.Before, After: ow.pf.After}
			if len(ow.frame) > 0 {
				fi.Streams = make(map[uint64]FrameSpans, len(ow.frame))
				for id, r := range ow.frame {
					exact, rest := limitSpans(r, maxIntentSpans)
					fi.Streams[id] = FrameSpans{Spans: exact, Rest: rest}
				}
			}
			w.intent = append(w.intent, fi)
		}
	}
	writing := len(w.intent) > 0
	if writing {
		err := w.saveState(w.intent)
		clear(w.intent) // drop the references to the writers' maps
		if err != nil {
			clear(w.ready)
			return err
		}
	}
	for _, ow := range w.ready {
		err := ow.w.Commit()
		if ow.framed && !ow.w.Pending() {
			// The frame is on disk: its lines are committed.
			for id, r := range ow.frame {
				w.commitSpans(id, r)
			}
			clear(ow.frame)
			ow.framed, ow.since, ow.lines = false, 0, 0
			w.needSave = true
		}
		if err != nil {
			ferr = cmp.Or(ferr, err)
			continue
		}
		w.noteSegment(ow.key, ow.w)
	}
	clear(w.ready)
	if !writing && ferr == nil && w.needSave {
		// Nothing was written: replace the last intent by a clean state, so an idle
		// collector's state file names no frame in flight.
		if err := w.saveState(nil); err != nil {
			return err
		}
	}
	return ferr
}

// afterFlush records the outcome of a flush cycle. After a cycle that succeeded
// (state saved, frames written and, with FsyncFlush, synced) the streams whose written
// end moved are reported to the shippers.
func (w *writerSet) afterFlush(ferr error) {
	w.flushFailing = ferr != nil
	if ferr != nil {
		w.m.WriteRetries.Inc()
		w.stalled(ferr)
		return
	}
	w.unstalled()
	w.publish()
}

// publish sends the ends of the streams whose committed spans changed.
func (w *writerSet) publish() {
	if len(w.dirty) == 0 {
		return
	}
	ends := make([]streamEnd, 0, len(w.dirty))
	for _, id := range w.dirty {
		ss := w.committed[id]
		ends = append(ends, streamEnd{stream: id, front: ss.Front(), groups: ss.Groups})
		delete(w.dirtySet, id)
	}
	w.dirty = w.dirty[:0]
	if w.progress != nil {
		w.progress.publish(ends)
	}
}

// reopenAll reopens every open writer (SIGHUP): one flush cycle, then every segment
// is closed cleanly (segment.Writer.Reopen); the next lines of each log reopen its
// segment by name. Writers whose reopen fails are retried at the next flush tick.
func (w *writerSet) reopenAll() error {
	if !w.reopenPending {
		w.m.ReopenRequests.Inc()
		w.log.Info("reopening all segments on request", "open", len(w.writers))
	}
	ferr := w.flushCycle()
	for k, ow := range w.writers {
		w.noteSegment(k, ow.w)
		if err := ow.w.Reopen(); err != nil {
			ferr = cmp.Or(ferr, err)
		}
	}
	w.reopenPending = ferr != nil
	w.afterFlush(ferr)
	return ferr
}

// saveState saves the committed stream offsets and, if not empty, the intent of the
// frames about to be written: as a journal record of the streams, logs and expired
// records changed since the last save, or, when the journal has outgrown the snapshot,
// as a new snapshot (see stateStore).
func (w *writerSet) saveState(intent []FrameIntent) error {
	for _, id := range w.seq.TakeExpiredChanged() {
		w.changedExpired[id] = struct{}{}
	}
	var err error
	if w.store.wantsFull() {
		err = w.store.saveFull(State{Streams: w.committed, Logs: w.segments, Intent: intent, Expired: w.seq.Expired()})
	} else {
		err = w.store.saveDelta(w.delta(intent))
	}
	if err != nil {
		w.m.StateErrors.Inc()
		w.log.Error("cannot save state file; segment frames wait for it (retrying at the next flush)", "err", err)
		return err
	}
	w.noteSaved()
	w.m.StateSaves.Inc()
	w.needSave = len(intent) > 0
	return nil
}

// changedIn returns, for each key in changed, a copy of its value in cur, or nil where cur
// no longer holds it (deleted); nil when nothing changed.
func changedIn[K comparable, V any](changed map[K]struct{}, cur map[K]V) map[K]*V {
	if len(changed) == 0 {
		return nil
	}
	out := make(map[K]*V, len(changed))
	for k := range changed {
		if v, ok := cur[k]; ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

// delta returns the journal record of what changed since the last save.
func (w *writerSet) delta(intent []FrameIntent) stateDelta {
	d := stateDelta{Intent: intent}
	d.Streams = changedIn(w.changedStreams, w.committed)
	d.Logs = changedIn(w.changedLogs, w.segments)
	if len(w.changedExpired) > 0 {
		d.Expired = changedIn(w.changedExpired, w.seq.Expired())
	}
	return d
}

// noteSaved forgets the changes a save has made durable.
func (w *writerSet) noteSaved() {
	clear(w.changedStreams)
	clear(w.changedLogs)
	clear(w.changedExpired)
	w.seq.TakeExpiredChanged()
}

// finish closes every writer cleanly and saves the state, retrying failed closes
// until the stop clock (DrainTimeout) runs out; then it returns the error and leaves
// the writers to Run (which counts what they hold, then abandons them).
func (w *writerSet) finish() error {
	bo := spreadlink.Backoff{Min: 50 * time.Millisecond, Max: max(w.cfg.WriteRetryMax, 50*time.Millisecond)}
	for failures := 1; ; failures++ {
		cerr := w.flushCycle()
		for k, ow := range w.writers {
			w.noteSegment(k, ow.w)
			if err := ow.w.Close(); err != nil {
				cerr = cmp.Or(cerr, err)
				continue
			}
			w.noteSegment(k, ow.w)
			delete(w.writers, k)
		}
		w.m.OpenWriters.Set(float64(len(w.writers)))
		if cerr == nil {
			break
		}
		w.stalled(cerr)
		if w.pastStop() {
			return fmt.Errorf("closing segments: writes still failing %v after the stop began: %w", w.cfg.DrainTimeout, cerr)
		}
		w.m.WriteRetries.Inc()
		w.sleep(context.Background(), min(bo.Delay(failures), time.Until(w.stopBy)+time.Millisecond))
	}
	w.unstalled()
	if w.needSave {
		if err := w.saveState(nil); err != nil {
			return fmt.Errorf("collector: state file not saved at shutdown: %w", err)
		}
	}
	st := w.seq.Stats()
	// What this run wrote: every line received was written (or dropped as written
	// before, or is in a counted gap) once the final flush succeeded.
	w.log.Info("collector stopped; every line received was written", "lines", st.Lines, "bytes", st.Bytes,
		"duplicates_dropped", st.Duplicates, "gaps", st.Gaps, "gap_bytes", st.GapBytes,
		"bad_messages", st.BadMessages, "streams", len(w.committed))
	return nil
}

// abandon drops the writers without saving the state (their data could not be
// written), releasing their files.
func (w *writerSet) abandon() {
	for k, ow := range w.writers {
		_ = ow.w.Abandon()
		delete(w.writers, k)
	}
	w.m.OpenWriters.Set(0)
}

// account records what the last Process call changed besides the lines: spans
// declared lost are committed at once (they need no frame), new streams get their base
// and every touched stream the groups (logs) of the message.
func (w *writerSet) account(logs []int) {
	for _, l := range w.seq.TakeLost() {
		w.commitSpans(l.Stream, []Span{l.Span})
	}
	for _, id := range w.seq.TakeTouched() {
		if _, ok := w.seq.Base(id); !ok {
			continue // expired since
		}
		ss, ok := w.committed[id]
		if !ok {
			ss.Base, _ = w.seq.Base(id)
			w.needSave = true
			w.changedStreams[id] = struct{}{}
		}
		for _, li := range logs {
			if g := w.logs[li].cfg.Group; !slices.Contains(ss.Groups, g) {
				ss.Groups = append(ss.Groups, g)
				slices.Sort(ss.Groups)
				w.needSave = true
				w.changedStreams[id] = struct{}{}
				w.markDirty(id)
			}
		}
		w.committed[id] = ss
	}
}

// commitSpans adds spans to the committed spans of stream id.
func (w *writerSet) commitSpans(id uint64, spans []Span) {
	ss, ok := w.committed[id]
	if !ok {
		ss.Base, _ = w.seq.Base(id)
	}
	r := rangeSet(ss.Written)
	r.addAll(spans)
	ss.Written = r
	w.committed[id] = ss
	w.changedStreams[id] = struct{}{}
	w.needSave = true
	w.markDirty(id)
}

func (w *writerSet) markDirty(id uint64) {
	if !w.dirtySet[id] {
		w.dirtySet[id] = true
		w.dirty = append(w.dirty, id)
	}
}
