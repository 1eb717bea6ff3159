package collector

import (
	"bytes"
	"container/list"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus"
)

// SequencerConfig configures a Sequencer.
type SequencerConfig struct {
	// MaxLine bounds a reassembled fragmented line, '\n' included; longer lines are
	// cut, counted as truncated and written. Default 1 MiB + 4 KiB (the shipper's
	// hard maximum plus a margin).
	MaxLine int
	// MaxBatch bounds the decompressed body of one batch (RawLen); larger batches are
	// bad messages. Default 4 MiB (Spread's maximum message is far smaller).
	MaxBatch int
	// GapMarker, when true, writes a line
	//
	//	# logspread gap stream=<16 hex digits> bytes=<n>
	//
	// before the first line after a gap (bytes=unknown for a gap of unknown size: an
	// unused notice, envelope.FlagUnused).
	GapMarker bool
	// MaxHoles bounds the holes kept per stream (ranges of offsets not had between
	// ranges had, which a resend may still fill). Beyond it the lowest hole becomes a
	// counted, logged gap. Default 64.
	MaxHoles int
	// MaxStreams bounds the streams whose state is kept in full. Beyond it the least
	// recently active stream is expired (see Expire). Default DefaultMaxStreams.
	MaxStreams int
	// ReassemblyBytes bounds the bytes of fragmented lines being reassembled over
	// every stream; at least MaxLine. Beyond it the pending line of the least recently
	// active other stream is dropped (counted). Default DefaultReassemblyBytes.
	ReassemblyBytes int
	// Now is the clock streams are stamped with at each batch (for idle expiry); nil
	// means time.Now.
	Now func() time.Time
}

// Defaults of the per-stream bounds.
const (
	// DefaultMaxHoles is the default bound of holes per stream.
	DefaultMaxHoles = 64
	// DefaultMaxStreams is the default bound of streams kept in full, and of the
	// records of expired streams.
	DefaultMaxStreams = 10000
	// DefaultReassemblyBytes is the default bound of the bytes of fragmented lines
	// being reassembled.
	DefaultReassemblyBytes = 64 << 20
	// DefaultStreamExpiry is the default idle time after which a stream's state is
	// expired.
	DefaultStreamExpiry = 7 * 24 * time.Hour
)

// DefaultSequencerConfig returns the defaults: 1 MiB + 4 KiB lines, 4 MiB batches, no
// gap marker, 64 holes per stream, 10,000 streams, 64 MiB of lines in reassembly.
func DefaultSequencerConfig() SequencerConfig {
	return SequencerConfig{MaxLine: 1<<20 + 4<<10, MaxBatch: 4 << 20, MaxHoles: DefaultMaxHoles,
		MaxStreams: DefaultMaxStreams, ReassemblyBytes: DefaultReassemblyBytes}
}

// Validate checks c and returns an error wrapping ErrBadConfig.
func (c *SequencerConfig) Validate() error {
	if c.MaxLine < 2 {
		return fmt.Errorf("%w: max line %d below 2", ErrBadConfig, c.MaxLine)
	}
	if c.MaxBatch < 1 || c.MaxBatch > 1<<30 {
		return fmt.Errorf("%w: max batch %d outside 1..1GiB", ErrBadConfig, c.MaxBatch)
	}
	if c.MaxHoles < 0 || c.MaxHoles > 1<<20 {
		return fmt.Errorf("%w: max holes %d outside 0..1048576", ErrBadConfig, c.MaxHoles)
	}
	if c.MaxStreams < 1 {
		return fmt.Errorf("%w: max streams %d below 1", ErrBadConfig, c.MaxStreams)
	}
	if c.ReassemblyBytes < c.MaxLine {
		return fmt.Errorf("%w: reassembly bound %d below the line bound %d", ErrBadConfig, c.ReassemblyBytes, c.MaxLine)
	}
	return nil
}

// SequencerStats are the Sequencer's counters (also exported as SequencerMetrics).
type SequencerStats struct {
	Lines            uint64 // lines returned for writing (gap markers excluded)
	Bytes            uint64 // bytes returned for writing (gap markers excluded)
	Duplicates       uint64 // lines dropped as already had
	Gaps             uint64 // gaps counted: loss and settled notices, holes beyond the limit
	GapBytes         uint64 // logical bytes missing in those gaps
	LossGapBytes     uint64 // of GapBytes: declared lost by a loss notice
	HoleGapBytes     uint64 // of GapBytes: holes given up beyond MaxHoles
	MissedGapBytes   uint64 // of GapBytes: missed, and settled by a shipper with --ack ordered
	Streams          uint64 // streams first seen (their base logged)
	ConnectionGaps   uint64 // ConnectionLost calls
	Truncated        uint64 // lines cut at a maximum size
	Unterminated     uint64 // raw messages given a '\n'
	BadMessages      uint64 // messages rejected with ErrBadMessage
	DroppedFragments uint64 // fragments (or pending partial lines) thrown away
	ExpiredStreams   uint64 // streams expired (idle, or beyond MaxStreams): kept as a record
	ReturnedStreams  uint64 // expired streams that came back (restored from their record)
	ForgottenStreams uint64 // records of expired streams dropped beyond MaxStreams
	ExpiredGapBytes  uint64 // of GapBytes: holes given up when their stream expired
	// UnknownGaps: unused notices (envelope.FlagUnused) covering offsets not had: gaps
	// of unknown size, not in Gaps nor GapBytes.
	UnknownGaps uint64
}

// Gap causes, the values of the cause label of the gap counters.
const (
	GapCauseLoss   = "loss_notice"    // a shipper declared bytes lost
	GapCauseHoles  = "hole_limit"     // a stream had more than MaxHoles holes
	GapCauseExpiry = "stream_expired" // a stream expired with holes
	// GapCauseMissed: a shipper that acknowledges on order (--ack ordered) settled bytes
	// this collector never had (envelope.FlagSettled): batches it missed while its
	// session was lost, lines of a frame a crash tore. They are never resent.
	GapCauseMissed = "missed"
)

// Names of the bounds, the values of the limit label of
// logspread_collector_limit_reached_total: the YAML keys of collect that set them.
const (
	LimitMaxStreams     = "max_streams"     // a stream expired to make room for another
	LimitStreamExpiry   = "stream_expiry"   // a stream expired after being idle
	LimitReassemblySize = "reassembly_size" // a pending fragmented line dropped
	LimitMaxHoles       = "max_holes"       // a hole given up as a gap
	LimitMaxLogs        = "max_logs"        // a log's memory (segment, vhost names) forgotten
)

// streamSeq is the per-stream de-duplication and reassembly state.
type streamSeq struct {
	base uint64   // the offset at which the stream was first had
	had  rangeSet // offsets returned for writing or declared lost

	// The fragmented line being reassembled, if pendActive.
	pendActive bool
	pendDup    bool   // the line starts in a range had: a duplicate, not buffered
	pendTrunc  bool   // cut at MaxLine or flagged truncated by the shipper
	pendStart  uint64 // logical offset of the line
	pendNext   uint64 // logical offset the next piece must start at
	pend       []byte // the line so far, without '\n'

	seen time.Time     // the last batch of the stream
	elem *list.Element // in Sequencer.lru (Value: the stream id)
}

// Sequencer decides which lines of the delivered messages get written: it decodes raw
// messages and batch v1 envelopes, de-duplicates per stream by logical offset ranges at
// line granularity, counts gaps, and reassembles fragmented lines. It does no I/O.
//
// Rules, per stream, with had the set of offsets already returned for writing or
// declared lost: a line is a duplicate if its first offset is in had; otherwise it is
// returned for writing and its range joins had. So a resend that fills a hole (offsets
// not had, between offsets had) is written, whatever order lines arrive in. A stream
// never seen starts at its first line, its base (logged and counted). Holes are not
// gaps: only a loss notice (envelope.FlagLost) turns exactly the part of its range not
// had into a counted, logged gap (optionally marked), as does a settled notice
// (envelope.FlagSettled, from a shipper with --ack ordered, which never resends what it
// acknowledged) for the part from the stream's base on, and a stream with more than
// MaxHoles holes gives up its lowest one as a gap. Raw messages (no stream) are always
// written.
//
// A Sequencer is not safe for concurrent use; one goroutine feeds it in delivery order.
type Sequencer struct {
	cfg     SequencerConfig
	log     *slog.Logger
	m       *SequencerMetrics
	zstd    *zstd.Decoder
	dec     envelope.Decoder
	streams map[uint64]*streamSeq
	// lru orders the streams from the most recently active (front) to the least.
	lru *list.List
	// expired holds the records of expired streams: the one span they had (their
	// holes given up as gaps) and their base. expiredOrder lists them oldest first
	// (ids whose record is gone are skipped). Both are bounded by MaxStreams.
	expired      map[uint64]StreamState
	expiredOrder []uint64
	// expiredChanged lists the records added, changed or removed since the last
	// TakeExpiredChanged (the state journal saves only those).
	expiredChanged []uint64
	pendBytes      int // bytes of pending fragmented lines over every stream
	stats          SequencerStats
	holes          int // open holes over every stream
	pieces         []Written
	frame          []byte // see Frame
	frameLines     int    // lines in frame
	frameRaw       bool   // frame was taken without decompressing it (see ProcessFrames)
	host           string // see Host
	framesTaken    uint64 // batches ProcessFrames considered taking, for verifyFrameEvery
	lost           []LostSpan
	touched        []uint64 // streams whose had changed since TakeTouched
}

// Host returns the host name the batch of the last Process call carried (the header's
// ExtHost extension, not checked: it comes from the network), or "" (a raw message, a
// batch without one). Every line of one message comes from that host.
func (s *Sequencer) Host() string { return s.host }

// Written describes one run of stream lines returned by a Process call.
type Written struct {
	// Stream is the stream id.
	Stream uint64
	// Pos is the index, in the slice Process returned, where the run starts; Len its
	// length in bytes.
	Pos, Len int
	// First is the logical offset of the first line, End the offset just past the
	// last. For lines copied whole, the line ending at index q of the run ends at
	// offset End-(Len-q). A reassembled fragmented line is always a run of its own
	// (possibly truncated), ending at End.
	First, End uint64
}

// LostSpan is a span of a stream counted as had without a frame: declared lost (a
// loss notice, a hole beyond the hole limit or of an expired stream), or the record
// of an expired stream that came back. It must be stored as had.
type LostSpan struct {
	Stream uint64
	Span
}

// Pieces returns the runs of stream lines the last Process call returned, in order;
// the bytes between them (gap markers, raw messages) belong to no stream. The slice is
// reused by the next call.
func (s *Sequencer) Pieces() []Written { return s.pieces }

// Frame returns the zstd frame of the batch the last Process call decoded when that
// call's output is exactly the batch's lines: a batch v2 (envelope.Batch.Frame) all of
// whose lines are new (no offset had), with no fragment pending in its stream and
// nothing else returned (no gap marker). Such a frame may be written as it is in place
// of the lines. Otherwise nil. It aliases the message given to Process.
//
// After ProcessFrames the frame may also have been taken without decompressing it:
// then the lines are not in the returned slice; Pieces still describes them (one run
// of FrameLines lines, Len raw bytes, at the end of the returned slice, which does
// not hold it). FrameOnly tells which.
func (s *Sequencer) Frame() []byte { return s.frame }

// FrameLines returns the number of lines of Frame (0 when Frame is nil).
func (s *Sequencer) FrameLines() int { return s.frameLines }

// FrameOnly reports whether the lines of Frame are only in the frame: ProcessFrames
// took it without decompressing it.
func (s *Sequencer) FrameOnly() bool { return s.frameRaw }

// TakeLost returns the spans counted as had without a frame since the last call
// (see LostSpan) and forgets them.
func (s *Sequencer) TakeLost() []LostSpan {
	l := s.lost
	s.lost = s.lost[:0]
	return l
}

// NewSequencer returns a Sequencer with no stream state (see Restore).
func NewSequencer(cfg SequencerConfig, logger *slog.Logger, reg prometheus.Registerer) (*Sequencer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewSequencerMetrics(reg)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(cfg.MaxBatch)))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sequencer{
		cfg:     cfg,
		log:     logger.With("component", "sequencer"),
		m:       m,
		zstd:    dec,
		dec:     envelope.Decoder{Decompressor: dec, MaxRawLen: cfg.MaxBatch},
		streams: make(map[uint64]*streamSeq),
		lru:     list.New(),
		expired: make(map[uint64]StreamState),
	}, nil
}

// Close releases the decoder. The Sequencer must not be used afterwards.
func (s *Sequencer) Close() { s.zstd.Close() }

// Stats returns the counters so far.
func (s *Sequencer) Stats() SequencerStats { return s.stats }

// Holes returns the number of open holes over every stream.
func (s *Sequencer) Holes() int { return s.holes }

// Base returns the base of a stream and whether the stream is known.
func (s *Sequencer) Base(stream uint64) (uint64, bool) {
	st := s.streams[stream]
	if st == nil {
		return 0, false
	}
	return st.base, true
}

// Snapshot returns, per stream, its base and the spans had so far: returned for
// writing (not necessarily written yet) or declared lost. Pending fragments are not
// included. Groups are left empty.
func (s *Sequencer) Snapshot() map[uint64]StreamState {
	out := make(map[uint64]StreamState, len(s.streams))
	for id, st := range s.streams {
		out[id] = StreamState{Base: st.base, Written: slices.Clone([]Span(st.had))}
	}
	return out
}

// Restore replaces the stream state with the one loaded from the state file: per
// stream its base and written spans, and the records of expired streams. Every
// restored stream counts as active now (the state file keeps no times).
func (s *Sequencer) Restore(streams, expired map[uint64]StreamState) {
	s.streams = make(map[uint64]*streamSeq, len(streams))
	s.lru.Init()
	s.pendBytes = 0
	s.holes = 0
	now := s.cfg.Now()
	ids := slices.Sorted(maps.Keys(streams))
	for _, id := range ids {
		st := streams[id]
		ss := &streamSeq{base: st.Base, had: slices.Clone(rangeSet(st.Written)), seen: now}
		ss.elem = s.lru.PushFront(id)
		s.streams[id] = ss
		s.holes += rangeSet(st.Written).holes()
	}
	s.expired = make(map[uint64]StreamState, len(expired))
	s.expiredOrder = s.expiredOrder[:0]
	s.expiredChanged = s.expiredChanged[:0]
	for _, id := range slices.Sorted(maps.Keys(expired)) {
		s.expired[id] = expired[id]
		s.expiredOrder = append(s.expiredOrder, id)
	}
	s.m.Holes.Set(float64(s.holes))
	s.m.StreamsKept.Set(float64(len(s.streams)))
	s.m.ExpiredRecords.Set(float64(len(s.expired)))
}

// Len returns the number of streams kept in full.
func (s *Sequencer) Len() int { return len(s.streams) }

// Expired returns the records of the expired streams (see Expire): per stream its
// base and the one span it had. The map is the Sequencer's: do not change it.
func (s *Sequencer) Expired() map[uint64]StreamState { return s.expired }

// TakeExpiredChanged returns the streams whose expired record was added, changed or
// removed since the last call (an id may repeat), and forgets them.
func (s *Sequencer) TakeExpiredChanged() []uint64 {
	ids := s.expiredChanged
	s.expiredChanged = nil
	return ids
}

// Oldest calls f for the streams kept in full, least recently active first, with the
// time of their last batch, until f returns false. f must not change the Sequencer.
func (s *Sequencer) Oldest(f func(stream uint64, seen time.Time) bool) {
	for e := s.lru.Back(); e != nil; e = e.Prev() {
		id := e.Value.(uint64)
		if !f(id, s.streams[id].seen) {
			return
		}
	}
}

// Had returns the spans of a stream had so far (nil for a stream not kept in full).
// The slice is the Sequencer's: do not change it.
func (s *Sequencer) Had(stream uint64) []Span {
	if st := s.streams[stream]; st != nil {
		return st.had
	}
	return nil
}

// Expire drops the full state of a stream and keeps a record of it: its holes are
// given up as counted, logged gaps (GapCauseExpiry; TakeLost returns them), a
// fragmented line pending is dropped (counted), and the record holds its base and
// the one span from the lowest offset it had to the highest. A batch of the stream
// that comes back later starts from the record: every line below the record's end is
// a duplicate (it was written, or is in a counted gap), so expiry never writes a line
// twice. limit (LimitStreamExpiry or LimitMaxStreams) says why, for the counters.
// Records are bounded by MaxStreams too: beyond it the oldest is dropped, counted and
// logged with its end (see Forgotten). The caller must expire only a stream whose
// lines are all in complete frames (or it loses them on a crash).
func (s *Sequencer) Expire(id uint64, limit string) {
	st := s.streams[id]
	if st == nil {
		return
	}
	if st.pendActive {
		s.dropPending(id, st, "its stream expired ("+limit+")")
	}
	before := st.had.holes()
	for len(st.had) > 1 {
		h := Span{st.had[0].To, st.had[1].From}
		st.had.add(h.From, h.To)
		s.lost = append(s.lost, LostSpan{Stream: id, Span: h})
		n := h.To - h.From
		s.countGap(n, GapCauseExpiry)
		s.log.Warn("gap in stream: its state expired with a hole a resend had not filled", "stream", fmt.Sprintf("%016x", id),
			"from", h.From, "to", h.To, "bytes", n, "limit", limit)
	}
	s.holes -= before
	s.m.Holes.Set(float64(s.holes))
	rec := StreamState{Base: st.base}
	if len(st.had) == 1 {
		rec.Written = []Span{st.had[0]}
	}
	s.lru.Remove(st.elem)
	delete(s.streams, id)
	if _, ok := s.expired[id]; !ok {
		s.expiredOrder = append(s.expiredOrder, id)
	}
	s.expired[id] = rec
	s.expiredChanged = append(s.expiredChanged, id)
	s.stats.ExpiredStreams++
	s.m.ExpiredStreams.Inc()
	s.m.LimitReached.WithLabelValues(limit).Inc()
	s.log.Info("stream state expired: kept as a record of what it had; a batch of it below the record's end is a duplicate",
		"stream", fmt.Sprintf("%016x", id), "limit", limit, "end", rec.End(), "idle", s.cfg.Now().Sub(st.seen).Round(time.Second))
	for len(s.expired) > s.cfg.MaxStreams {
		old := s.expiredOrder[0]
		s.expiredOrder = s.expiredOrder[1:]
		r, ok := s.expired[old]
		if !ok {
			continue
		}
		delete(s.expired, old)
		s.expiredChanged = append(s.expiredChanged, old)
		s.stats.ForgottenStreams++
		s.m.ForgottenStreams.Inc()
		s.log.Warn("record of an expired stream forgotten (max_streams): if its shipper ever resends offsets below its end, they are written again",
			"stream", fmt.Sprintf("%016x", old), "end", r.End())
	}
	if len(s.expiredOrder) > 2*s.cfg.MaxStreams {
		s.expiredOrder = slices.DeleteFunc(s.expiredOrder, func(id uint64) bool { _, ok := s.expired[id]; return !ok })
	}
	s.m.StreamsKept.Set(float64(len(s.streams)))
	s.m.ExpiredRecords.Set(float64(len(s.expired)))
}

// ConnectionLost records that the Spread connection was lost, so messages may have been
// missed: it counts one connection gap event. Stream state (and pending fragments) are
// kept: after the reconnect, offsets tell duplicates, hole fills and continuations apart.
func (s *Sequencer) ConnectionLost() {
	s.stats.ConnectionGaps++
	s.m.ConnectionGaps.Inc()
	s.log.Warn("connection gap: messages may have been missed (holes wait for a resend)")
}

// Process decodes one delivered message of Spread type messType and appends the lines
// to write to dst, returning the extended slice. Raw messages (envelope.MessTypeRaw)
// are appended as they are, with a '\n' added if missing; batches
// (envelope.MessTypeBatch) are verified, decompressed and de-duplicated; loss notices
// count their missing part as a gap. Ack markers and progress reports are ignored. On
// error (wrapping ErrBadMessage) the message is counted and dst is returned unchanged.
// Pieces and TakeLost say what the stream lines are. Process does not allocate in the
// steady state when dst has room.
func (s *Sequencer) Process(dst []byte, messType int16, msg []byte) ([]byte, error) {
	return s.ProcessFrames(dst, messType, msg, 0)
}

// ProcessFrames is Process, except that a batch v2 of at least minRaw raw bytes
// (minRaw > 0) that is wholly new for its stream is taken as it is, without
// decompressing it: Frame returns its body and FrameOnly reports true; the lines are
// not appended to dst. The caller must write the frame as it is (to zstd logs that
// need no per-line work). Taken means: whole lines (no fragment, no loss notice), no
// fragment pending in the stream, no offset of it had, and no new hole opened by it
// (it starts where written lines end, or its stream is new), and its body passes
// envelope.CheckFrame (one complete zstd frame declaring the raw length). What is not
// checked then is what only decompressing can check: the CRC-32C of the lines and
// their count. The zstd frame's own content checksum (XXH64, which shippers write)
// still guards them wherever the segment is read (zstd -d, logspread cat). So that a
// shipper that gets either wrong is still found out, the first batch of every stream
// and one in verifyFrameEvery of the others are decoded and checked all the same (a
// failure is a bad message, counted and logged, and nothing of it is written). Any
// other batch is decoded as Process does.
func (s *Sequencer) ProcessFrames(dst []byte, messType int16, msg []byte, minRaw int) ([]byte, error) {
	s.pieces = s.pieces[:0]
	s.host = ""
	s.frame, s.frameLines, s.frameRaw = nil, 0, false
	if minRaw > 0 && messType == envelope.MessTypeBatch && s.takeFrame(len(dst), msg, minRaw) {
		return dst, nil
	}
	switch messType {
	case envelope.MessTypeRaw:
		return s.processRaw(dst, msg), nil
	case envelope.MessTypeBatch:
		return s.processBatch(dst, msg)
	case envelope.MessTypeAck, envelope.MessTypeProgress:
		return dst, nil
	}
	return dst, s.bad(fmt.Errorf("%w: unknown message type %#x", ErrBadMessage, uint16(messType)))
}

func (s *Sequencer) bad(err error) error {
	s.stats.BadMessages++
	s.m.BadMessages.Inc()
	return err
}

func (s *Sequencer) wrote(lines, n int) {
	s.stats.Lines += uint64(lines)
	s.stats.Bytes += uint64(n)
	s.m.Lines.Add(float64(lines))
	s.m.Bytes.Add(float64(n))
}

func (s *Sequencer) dups(lines int) {
	if lines == 0 {
		return
	}
	s.stats.Duplicates += uint64(lines)
	s.m.DuplicateLines.Add(float64(lines))
}

func (s *Sequencer) dropFragment(stream uint64, why string) {
	s.stats.DroppedFragments++
	s.m.DroppedFragment.Inc()
	s.log.Warn("dropped fragment", "stream", fmt.Sprintf("%016x", stream), "reason", why)
}

func (s *Sequencer) processRaw(dst, msg []byte) []byte {
	if len(msg) == 0 {
		return dst
	}
	lines := bytes.Count(msg, []byte{'\n'})
	dst = append(dst, msg...)
	n := len(msg)
	if msg[len(msg)-1] != '\n' {
		dst = append(dst, '\n')
		lines++
		n++
		s.stats.Unterminated++
		s.m.Unterminated.Inc()
	}
	s.wrote(lines, n)
	return dst
}

// newStream starts the state of a stream first had at base, or of an expired stream
// from its record.
func (s *Sequencer) newStream(id, base uint64) *streamSeq {
	st := &streamSeq{base: base}
	if rec, ok := s.expired[id]; ok {
		st.base = rec.Base
		st.had = slices.Clone(rangeSet(rec.Written))
		delete(s.expired, id)
		s.expiredChanged = append(s.expiredChanged, id)
		for _, sp := range rec.Written {
			// Had again: stored with the stream's committed spans.
			s.lost = append(s.lost, LostSpan{Stream: id, Span: sp})
		}
		s.stats.ReturnedStreams++
		s.m.ReturnedStreams.Inc()
		s.m.ExpiredRecords.Set(float64(len(s.expired)))
		s.log.Info("expired stream came back: lines below the end of its record are duplicates",
			"stream", fmt.Sprintf("%016x", id), "end", rec.End(), "from", base)
	} else {
		s.stats.Streams++
		s.m.Streams.Inc()
		s.m.StreamBaseBytes.Add(float64(base))
		s.log.Info("new stream: written from this offset on", "stream", fmt.Sprintf("%016x", id), "from", base)
	}
	st.elem = s.lru.PushFront(id)
	s.streams[id] = st
	s.m.StreamsKept.Set(float64(len(s.streams)))
	return st
}

func (s *Sequencer) processBatch(dst, msg []byte) ([]byte, error) {
	b, err := s.dec.Decode(msg)
	if err != nil {
		if b.Header == (envelope.BatchHeader{}) {
			return dst, s.bad(fmt.Errorf("%w: %w", ErrBadMessage, err))
		}
		return dst, s.badBatch(&b.Header, err)
	}
	h, raw := b.Header, b.Body
	s.host = h.Host
	frag := h.Flags&envelope.FlagFragment != 0
	st := s.streams[h.Stream]
	if h.IsSettled() {
		if st == nil {
			return dst, nil // nothing had, nothing missed: the stream starts at its first line
		}
		return s.settled(dst, st, &h), nil
	}
	if h.IsUnused() {
		if st == nil {
			return dst, nil // nothing had, nothing missed: the stream starts at its first line
		}
		return s.unused(dst, st, &h), nil
	}
	if st == nil {
		if frag && h.Flags&envelope.FlagFirst == 0 {
			// A stream must start at a line start: an orphan piece is dropped and the
			// stream stays unknown until a line starts.
			s.dropFragment(h.Stream, "continuation of a line never seen")
			return dst, nil
		}
		st = s.newStream(h.Stream, h.Offset)
	}
	st.seen = s.cfg.Now()
	s.lru.MoveToFront(st.elem)
	switch {
	case h.IsLoss():
		return s.loss(dst, st, &h), nil
	case frag:
		return s.fragment(dst, st, &h, raw), nil
	}
	if st.pendActive {
		s.dropPending(h.Stream, st, "interrupted by a whole-line batch")
		b.Frame = nil
	}
	pos := len(dst)
	dst = s.lines(dst, st, &h, raw)
	if b.Frame != nil && len(s.pieces) == 1 && s.pieces[0].Pos == pos && s.pieces[0].Len == len(raw) && len(dst) == pos+len(raw) {
		s.frame, s.frameLines = b.Frame, int(h.Lines)
	}
	return dst, nil
}

// verifyFrameEvery: ProcessFrames decodes and checks one in this many of the batches
// it could take as they are.
const verifyFrameEvery = 32

// takeFrame takes the batch v2 msg as it is when ProcessFrames allows it (see there),
// recording its lines as written at pos. It reports false, having changed nothing,
// for any other message.
func (s *Sequencer) takeFrame(pos int, msg []byte, minRaw int) bool {
	h, body, err := envelope.ParseBatch(msg)
	if err != nil || h.Flags != envelope.FlagZstd || int64(h.RawLen) < int64(minRaw) || h.Lines == 0 {
		return false
	}
	if limit := s.dec.MaxRawLen; int64(h.RawLen) > int64(limit) && limit > 0 {
		return false // Decode reports it
	}
	off, end := h.Offset, h.End()
	st := s.streams[h.Stream]
	if st == nil || st.pendActive || st.had.overlaps(off, end) || !st.had.adjoins(off, end) {
		return false // a new stream's first batch is verified, see ProcessFrames
	}
	if s.framesTaken++; s.framesTaken%verifyFrameEvery == 0 {
		return false
	}
	if _, err := envelope.CheckFrame(body, h.RawLen); err != nil {
		return false
	}
	st.seen = s.cfg.Now()
	s.lru.MoveToFront(st.elem)
	s.wrote(int(h.Lines), int(h.RawLen))
	s.pieces = append(s.pieces, Written{Stream: h.Stream, Pos: pos, Len: int(h.RawLen), First: off, End: end})
	// adjoins: no new hole opens (it may close one), so have appends no gap marker.
	_ = s.have(nil, h.Stream, st, off, end)
	s.frame, s.frameLines, s.frameRaw = body, int(h.Lines), true
	s.host = h.Host
	return true
}

func (s *Sequencer) badBatch(h *envelope.BatchHeader, err error) error {
	return s.bad(fmt.Errorf("%w: stream %016x offset %d: %w", ErrBadMessage, h.Stream, h.Offset, err))
}

// have adds [a, b) to the stream's had set, then gives up holes beyond the limit.
func (s *Sequencer) have(dst []byte, id uint64, st *streamSeq, a, b uint64) []byte {
	before := st.had.holes()
	st.had.add(a, b)
	// Only a new hole past the limit gives one up: a restored state may hold more
	// (the lines of a torn frame split by vhost), which the resend is about to fill.
	for st.had.holes() > max(s.cfg.MaxHoles, before) {
		h := Span{st.had[0].To, st.had[1].From}
		st.had.add(h.From, h.To)
		s.lost = append(s.lost, LostSpan{Stream: id, Span: h})
		dst = s.gap(dst, id, h, GapCauseHoles)
		s.m.LimitReached.WithLabelValues(LimitMaxHoles).Inc()
	}
	if n := st.had.holes(); n > before {
		// A hole opened: lines arrived beyond offsets not had (a lost session, batches
		// resent out of order). Not a gap: a resend fills it, or a loss notice counts it.
		s.log.Info("hole in stream: offsets missing below these lines, waiting for a resend (not counted as a gap yet)",
			"stream", fmt.Sprintf("%016x", id), "lines_from", a, "lowest_hole_from", st.had[0].To, "holes", n)
	}
	s.touch(id)
	s.holes += st.had.holes() - before
	s.m.Holes.Set(float64(s.holes))
	return dst
}

func (s *Sequencer) touch(id uint64) {
	if n := len(s.touched); n == 0 || s.touched[n-1] != id {
		s.touched = append(s.touched, id)
	}
}

// TakeTouched returns the streams whose had set changed since the last call (possibly
// repeated) and forgets them.
func (s *Sequencer) TakeTouched() []uint64 {
	t := s.touched
	s.touched = s.touched[:0]
	return t
}

// lines applies the de-duplication rules to a whole-line batch body.
func (s *Sequencer) lines(dst []byte, st *streamSeq, h *envelope.BatchHeader, raw []byte) []byte {
	off, end := h.Offset, h.End()
	switch {
	case len(raw) == 0:
		return dst
	case st.had.covers(off, end) || (h.Lines == 1 && st.had.has(off)): // all had
		s.dups(int(h.Lines))
		return dst
	case !st.had.overlaps(off, end): // all new
		pos := len(dst)
		dst = append(dst, raw...)
		s.wrote(int(h.Lines), len(raw))
		s.pieces = append(s.pieces, Written{Stream: h.Stream, Pos: pos, Len: len(raw), First: off, End: end})
		return s.have(dst, h.Stream, st, off, end)
	}
	// Line by line: a line whose first offset is had is a duplicate, the others are
	// written. Consecutive written lines make one run. The last line ends at end (a
	// truncated line spans more than its bytes).
	var runs [8]Span // logical ranges of the runs, for have once dst is complete
	rs := runs[:0]
	o, run, skipped := off, -1, 0
	for p := raw; len(p) > 0; {
		i := bytes.IndexByte(p, '\n')
		line := p[:i+1]
		p = p[i+1:]
		e := o + uint64(len(line))
		if len(p) == 0 {
			e = end
		}
		if st.had.has(o) {
			skipped++
			run = -1
		} else {
			if run < 0 {
				run = len(s.pieces)
				s.pieces = append(s.pieces, Written{Stream: h.Stream, Pos: len(dst), First: o})
				rs = append(rs, Span{From: o})
			}
			dst = append(dst, line...)
			s.pieces[run].Len += len(line)
			s.pieces[run].End = e
			rs[len(rs)-1].To = e
		}
		o = e
	}
	s.dups(skipped)
	written := 0
	for _, pc := range s.pieces {
		written += pc.Len
	}
	s.wrote(int(h.Lines)-skipped, written)
	for _, r := range rs {
		dst = s.have(dst, h.Stream, st, r.From, r.To)
	}
	return dst
}

// loss handles a loss notice: the part of [Offset, End) not had is a gap.
func (s *Sequencer) loss(dst []byte, st *streamSeq, h *envelope.BatchHeader) []byte {
	off, end := h.Offset, h.End()
	if st.pendActive && end > st.pendStart && off < st.pendNext+1 {
		s.dropPending(h.Stream, st, "its bytes were declared lost")
	}
	var miss [4]Span
	ms := miss[:0]
	n := st.had.missing(off, end, func(a, b uint64) { ms = append(ms, Span{a, b}) })
	if n == 0 {
		return dst
	}
	s.countGap(n, GapCauseLoss)
	s.log.Warn("gap in stream: the shipper declared bytes lost that this collector does not have",
		"stream", fmt.Sprintf("%016x", h.Stream), "from", off, "to", end, "missing_bytes", n, "missing_ranges", len(ms))
	if s.cfg.GapMarker {
		dst = AppendGapMarker(dst, h.Stream, n)
	}
	for _, m := range ms {
		s.lost = append(s.lost, LostSpan{Stream: h.Stream, Span: m})
	}
	return s.have(dst, h.Stream, st, off, end)
}

// unused handles an unused notice: the shipper jumped past [Offset, End), every
// offset a run of it may have used, without knowing which it used. The part not had is
// taken as had (no hole waits for it) and counted as one gap of unknown size
// (UnknownGaps), never as that many bytes: most of it never held a byte.
func (s *Sequencer) unused(dst []byte, st *streamSeq, h *envelope.BatchHeader) []byte {
	off, end := max(h.Offset, st.base), h.End()
	if st.pendActive && end > st.pendStart && off < st.pendNext+1 {
		s.dropPending(h.Stream, st, "its bytes were declared unused")
	}
	if end <= off {
		return dst
	}
	n := st.had.missing(off, end, func(a, b uint64) { s.lost = append(s.lost, LostSpan{Stream: h.Stream, Span: Span{a, b}}) })
	if n == 0 {
		return dst
	}
	s.stats.UnknownGaps++
	s.m.UnknownGaps.Inc()
	s.log.Warn("gap of unknown size in stream: the shipper skipped offsets past every offset it may have used (a restart after a crash that could not resume exactly); bytes it sent there before the crash, if any, that this collector lacks are lost, how many cannot be told (not counted in gap_bytes)",
		"stream", fmt.Sprintf("%016x", h.Stream), "from", off, "to", end)
	if s.cfg.GapMarker {
		dst = AppendUnknownGapMarker(dst, h.Stream)
	}
	return s.have(dst, h.Stream, st, off, end)
}

// settled handles a settled notice: the shipper will not send again the bytes below
// h.End(). What this collector lacks of them from the stream's base on is a gap; a
// fragmented line still being reassembled is left to the next notice.
func (s *Sequencer) settled(dst []byte, st *streamSeq, h *envelope.BatchHeader) []byte {
	off, end := max(h.Offset, st.base), h.End()
	if st.pendActive {
		end = min(end, st.pendStart)
	}
	if end <= off {
		return dst
	}
	var miss [4]Span
	ms := miss[:0]
	n := st.had.missing(off, end, func(a, b uint64) {
		if len(ms) < cap(miss) {
			ms = append(ms, Span{a, b})
		}
	})
	if n == 0 {
		return dst
	}
	lowest := ms[0].From
	s.countGap(n, GapCauseMissed)
	s.log.Warn("gap in stream: bytes this collector missed (session lost, or a frame torn by a crash) were settled by a shipper that acknowledges on order (--ack ordered) and will not be resent",
		"stream", fmt.Sprintf("%016x", h.Stream), "from", lowest, "to", end, "missing_bytes", n, "missing_ranges", st.had.countMissing(off, end))
	if s.cfg.GapMarker {
		dst = AppendGapMarker(dst, h.Stream, n)
	}
	st.had.missing(off, end, func(a, b uint64) { s.lost = append(s.lost, LostSpan{Stream: h.Stream, Span: Span{a, b}}) })
	return s.have(dst, h.Stream, st, off, end)
}

func (s *Sequencer) countGap(n uint64, cause string) {
	s.stats.Gaps++
	s.stats.GapBytes += n
	s.m.Gaps.Inc()
	s.m.GapBytes.Add(float64(n))
	s.m.GapsByCause.WithLabelValues(cause).Inc()
	s.m.GapBytesByCause.WithLabelValues(cause).Add(float64(n))
	switch cause {
	case GapCauseLoss:
		s.stats.LossGapBytes += n
	case GapCauseHoles:
		s.stats.HoleGapBytes += n
	case GapCauseExpiry:
		s.stats.ExpiredGapBytes += n
	case GapCauseMissed:
		s.stats.MissedGapBytes += n
	}
}

// gap records the hole h of stream given up beyond the hole limit, and appends the
// marker line if configured.
func (s *Sequencer) gap(dst []byte, stream uint64, h Span, cause string) []byte {
	n := h.To - h.From
	s.countGap(n, cause)
	s.log.Warn("gap in stream: too many holes, the lowest is given up", "stream", fmt.Sprintf("%016x", stream),
		"from", h.From, "to", h.To, "bytes", n, "max_holes", s.cfg.MaxHoles)
	if s.cfg.GapMarker {
		dst = AppendGapMarker(dst, stream, n)
	}
	return dst
}

// AppendUnknownGapMarker appends the marker line of a gap of unknown size
// "# logspread gap stream=%016x bytes=unknown\n".
func AppendUnknownGapMarker(dst []byte, stream uint64) []byte {
	dst = AppendGapMarker(dst, stream, 0)
	return append(dst[:len(dst)-len("0\n")], "unknown\n"...)
}

// AppendGapMarker appends the gap marker line "# logspread gap stream=%016x bytes=%d\n".
func AppendGapMarker(dst []byte, stream, n uint64) []byte {
	dst = append(dst, "# logspread gap stream="...)
	var hex [16]byte
	for i := 15; i >= 0; i-- {
		hex[i] = "0123456789abcdef"[stream&0xf]
		stream >>= 4
	}
	dst = append(dst, hex[:]...)
	dst = append(dst, " bytes="...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, '\n')
}

func (s *Sequencer) dropPending(stream uint64, st *streamSeq, why string) {
	s.dropFragment(stream, why)
	s.clearPending(st)
}

func (s *Sequencer) clearPending(st *streamSeq) {
	st.pendActive, st.pendDup, st.pendTrunc = false, false, false
	s.pendBytes -= len(st.pend)
	if cap(st.pend) > 64<<10 {
		st.pend = nil // do not keep a large line's buffer per stream
	}
	st.pend = st.pend[:0]
}

// fragment handles one piece of an over-long line.
func (s *Sequencer) fragment(dst []byte, st *streamSeq, h *envelope.BatchHeader, raw []byte) []byte {
	off, end := h.Offset, h.End()
	if h.Flags&envelope.FlagFirst != 0 {
		if st.pendActive && st.pendStart != off {
			s.dropPending(h.Stream, st, "new line started")
		}
		s.clearPending(st) // a resent first piece restarts the line
		st.pendActive = true
		st.pendStart, st.pendNext = off, off
		st.pendDup = st.had.has(off)
	} else if !st.pendActive || off != st.pendNext {
		switch {
		case st.pendActive && off >= st.pendStart && end <= st.pendNext:
			return dst // a resent piece we already hold
		case !st.pendActive && st.had.has(off):
			if h.Flags&envelope.FlagLast != 0 {
				s.dups(1) // a resent piece of a line already had
			}
			return dst
		}
		if st.pendActive {
			s.dropPending(h.Stream, st, "piece does not continue the pending line")
		}
		s.dropFragment(h.Stream, "continuation without its first piece")
		return dst
	}
	last := h.Flags&envelope.FlagLast != 0
	if last {
		raw = raw[:len(raw)-1] // VerifyBody checked the '\n'
	}
	if !st.pendDup {
		room := s.cfg.MaxLine - 1 - len(st.pend)
		if len(raw) > room {
			raw = raw[:max(room, 0)]
			st.pendTrunc = true
		}
		s.reassemblyRoom(h.Stream, len(raw))
		st.pend = append(st.pend, raw...)
		s.pendBytes += len(raw)
	}
	if h.Flags&envelope.FlagTruncated != 0 {
		st.pendTrunc = true
	}
	st.pendNext = end
	if !last {
		return dst
	}
	if st.pendDup || st.had.has(st.pendStart) {
		s.dups(1)
	} else {
		pos := len(dst)
		dst = append(dst, st.pend...)
		dst = append(dst, '\n')
		s.pieces = append(s.pieces, Written{Stream: h.Stream, Pos: pos, Len: len(dst) - pos, First: st.pendStart, End: end})
		s.wrote(1, len(st.pend)+1)
		if st.pendTrunc {
			s.stats.Truncated++
			s.m.TruncatedLines.Inc()
		}
		dst = s.have(dst, h.Stream, st, st.pendStart, end)
	}
	s.clearPending(st)
	return dst
}

// reassemblyRoom drops the pending lines of the least recently active other streams
// until n more bytes fit in ReassemblyBytes (a line alone never exceeds MaxLine, which
// is at most ReassemblyBytes). A dropped line is counted; its offsets are not had, so
// a resend writes it, or a loss notice or the hole limit counts it as a gap.
func (s *Sequencer) reassemblyRoom(stream uint64, n int) {
	for e := s.lru.Back(); e != nil && s.pendBytes+n > s.cfg.ReassemblyBytes; {
		id := e.Value.(uint64)
		e = e.Prev()
		if st := s.streams[id]; id != stream && st.pendActive {
			s.m.LimitReached.WithLabelValues(LimitReassemblySize).Inc()
			s.dropPending(id, st, "reassembly memory bound reached (reassembly_size)")
		}
	}
}
