package collector

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"

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
	// before the first line after a gap.
	GapMarker bool
}

// DefaultSequencerConfig returns the defaults: 1 MiB + 4 KiB lines, 4 MiB batches, no
// gap marker.
func DefaultSequencerConfig() SequencerConfig {
	return SequencerConfig{MaxLine: 1<<20 + 4<<10, MaxBatch: 4 << 20}
}

// Validate checks c and returns an error wrapping ErrBadConfig.
func (c *SequencerConfig) Validate() error {
	if c.MaxLine < 2 {
		return fmt.Errorf("%w: max line %d below 2", ErrBadConfig, c.MaxLine)
	}
	if c.MaxBatch < 1 || c.MaxBatch > 1<<30 {
		return fmt.Errorf("%w: max batch %d outside 1..1GiB", ErrBadConfig, c.MaxBatch)
	}
	return nil
}

// SequencerStats are the Sequencer's counters (also exported as SequencerMetrics).
type SequencerStats struct {
	Lines            uint64 // lines returned for writing (gap markers excluded)
	Bytes            uint64 // bytes returned for writing (gap markers excluded)
	Duplicates       uint64 // lines dropped as already written
	Gaps             uint64 // forward jumps of a stream's offset
	GapBytes         uint64 // logical bytes missing in those jumps
	ConnectionGaps   uint64 // ConnectionLost calls
	Truncated        uint64 // lines cut at a maximum size
	Unterminated     uint64 // raw messages given a '\n'
	BadMessages      uint64 // messages rejected with ErrBadMessage
	DroppedFragments uint64 // fragments (or pending partial lines) thrown away
}

// streamSeq is the per-stream de-duplication and reassembly state.
type streamSeq struct {
	next uint64 // logical offset just past the last line written

	// The fragmented line being reassembled, if pendActive.
	pendActive bool
	pendDup    bool   // the line started before next: a duplicate, not buffered
	pendTrunc  bool   // cut at MaxLine or flagged truncated by the shipper
	pendStart  uint64 // logical offset of the line
	pendNext   uint64 // logical offset the next piece must start at
	pend       []byte // the line so far, without '\n'
}

// Sequencer decides which lines of the delivered messages get written: it decodes raw
// messages and batch v1 envelopes, de-duplicates per stream by logical offset at line
// granularity, detects gaps, and reassembles fragmented lines. It does no I/O.
//
// Rules, per stream, with next the offset just past the last line written:
// a line [o, o+l) with o+l <= next is a duplicate; one with o < next < o+l (straddling
// next) is a duplicate too; o > next is a gap of o-next bytes (counted, logged,
// optionally marked), then the line is written. A stream never seen starts at its
// first line without a gap. Raw messages (no stream) are always written.
//
// A Sequencer is not safe for concurrent use; one goroutine feeds it in delivery order.
type Sequencer struct {
	cfg     SequencerConfig
	log     *slog.Logger
	m       *SequencerMetrics
	zstd    *zstd.Decoder
	dec     envelope.Decoder
	streams map[uint64]*streamSeq
	stats   SequencerStats
	last    Written
}

// Written describes the stream lines returned by the last Process call.
type Written struct {
	// OK is false when the call returned no line of a stream (raw messages, ack
	// markers, duplicates, fragments still pending, errors).
	OK bool
	// Stream is the stream id.
	Stream uint64
	// Pos is the index, in the slice Process returned, where the stream's lines
	// start (after a gap marker, if any); they run to its end.
	Pos int
	// First is the logical offset of the first line, End the offset just past the
	// last. For lines copied whole, the line ending at index q of the returned slice
	// ends at offset End-(len-q). A reassembled fragmented line is always one line
	// (possibly truncated), ending at End.
	First, End uint64
}

// LastWritten returns what the last Process call returned of a stream.
func (s *Sequencer) LastWritten() Written { return s.last }

// RecordLostLines counts, as a gap of stream, lines known to be lost outside the
// sequencer: at start, lines that were in a frame torn by a crash while later lines
// of the same stream are in a complete frame. n is the logical bytes lost.
func (s *Sequencer) RecordLostLines(stream, from, n uint64) {
	s.stats.Gaps++
	s.stats.GapBytes += n
	s.m.Gaps.Inc()
	s.m.GapBytes.Add(float64(n))
	s.log.Warn("gap in stream: lines of a frame torn by a crash are lost", "stream", fmt.Sprintf("%016x", stream), "from", from, "bytes", n)
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
	return &Sequencer{
		cfg:     cfg,
		log:     logger.With("component", "sequencer"),
		m:       m,
		zstd:    dec,
		dec:     envelope.Decoder{Decompressor: dec, MaxRawLen: cfg.MaxBatch},
		streams: make(map[uint64]*streamSeq),
	}, nil
}

// Close releases the decoder. The Sequencer must not be used afterwards.
func (s *Sequencer) Close() { s.zstd.Close() }

// Stats returns the counters so far.
func (s *Sequencer) Stats() SequencerStats { return s.stats }

// Snapshot returns the state the state file stores: per stream the offset just past
// the last line returned by Process. Take it after the returned lines were written
// and flushed durably. Pending fragments are not included: after a restart the
// shipper resends them.
func (s *Sequencer) Snapshot() map[uint64]StreamState {
	out := make(map[uint64]StreamState, len(s.streams))
	for id, st := range s.streams {
		out[id] = StreamState{Next: st.next}
	}
	return out
}

// Restore replaces the stream state with a snapshot loaded from the state file.
func (s *Sequencer) Restore(streams map[uint64]StreamState) {
	s.streams = make(map[uint64]*streamSeq, len(streams))
	for id, st := range streams {
		s.streams[id] = &streamSeq{next: st.Next}
	}
}

// ConnectionLost records that the Spread connection was lost, so messages may have been
// missed: it counts one connection gap event. Stream state (and pending fragments) are
// kept: after the reconnect, offsets tell duplicates, continuations and real gaps apart.
func (s *Sequencer) ConnectionLost() {
	s.stats.ConnectionGaps++
	s.m.ConnectionGaps.Inc()
	s.log.Warn("connection gap: messages may have been missed")
}

// Process decodes one delivered message of Spread type messType and appends the lines
// to write to dst, returning the extended slice. Raw messages (envelope.MessTypeRaw)
// are appended as they are, with a '\n' added if missing; batches
// (envelope.MessTypeBatch) are verified, decompressed and de-duplicated. Ack markers
// (envelope.MessTypeAck) are ignored. On error (wrapping ErrBadMessage) the message is
// counted and dst is returned unchanged. Process does not allocate in the steady state
// when dst has room.
func (s *Sequencer) Process(dst []byte, messType int16, msg []byte) ([]byte, error) {
	s.last = Written{}
	switch messType {
	case envelope.MessTypeRaw:
		return s.processRaw(dst, msg), nil
	case envelope.MessTypeBatch:
		return s.processBatch(dst, msg)
	case envelope.MessTypeAck:
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

func (s *Sequencer) processBatch(dst, msg []byte) ([]byte, error) {
	b, err := s.dec.Decode(msg)
	if err != nil {
		if b.Header == (envelope.BatchHeader{}) {
			return dst, s.bad(fmt.Errorf("%w: %w", ErrBadMessage, err))
		}
		return dst, s.badBatch(&b.Header, err)
	}
	h, raw := b.Header, b.Body
	frag := h.Flags&envelope.FlagFragment != 0
	st := s.streams[h.Stream]
	if st == nil {
		st = &streamSeq{next: h.Offset}
		if frag && h.Flags&envelope.FlagFirst == 0 {
			// A stream must start at a line start: an orphan piece is dropped and the
			// stream stays unknown until a line starts.
			s.dropFragment(h.Stream, "continuation of a line never seen")
			return dst, nil
		}
		s.streams[h.Stream] = st
	}
	if frag {
		return s.fragment(dst, st, &h, raw), nil
	}
	if st.pendActive {
		s.dropPending(h.Stream, st, "interrupted by a whole-line batch")
	}
	return s.lines(dst, st, &h, raw), nil
}

func (s *Sequencer) badBatch(h *envelope.BatchHeader, err error) error {
	return s.bad(fmt.Errorf("%w: stream %016x offset %d: %w", ErrBadMessage, h.Stream, h.Offset, err))
}

// lines applies the de-duplication rules to a whole-line batch body.
func (s *Sequencer) lines(dst []byte, st *streamSeq, h *envelope.BatchHeader, raw []byte) []byte {
	off, end := h.Offset, h.End()
	switch {
	case len(raw) == 0:
		return dst
	case end <= st.next: // all already written
		s.dups(int(h.Lines))
		return dst
	case off >= st.next: // all new
		if off > st.next {
			dst = s.gap(dst, h.Stream, st, off)
		}
		s.last = Written{OK: true, Stream: h.Stream, Pos: len(dst), First: off, End: end}
		dst = append(dst, raw...)
		s.wrote(int(h.Lines), len(raw))
		st.next = end
		return dst
	}
	// Straddles next: skip the lines that start before it (ended before it, or
	// straddling it, which counts as written).
	p, o, skipped := raw, off, 0
	for o < st.next && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		o += uint64(i + 1)
		p = p[i+1:]
		skipped++
	}
	s.dups(skipped)
	if len(p) > 0 {
		s.last = Written{OK: true, Stream: h.Stream, Pos: len(dst), First: o, End: end}
	}
	dst = append(dst, p...)
	s.wrote(int(h.Lines)-skipped, len(p))
	st.next = end
	return dst
}

// gap records the jump of st from next to off and appends the marker line if configured.
func (s *Sequencer) gap(dst []byte, stream uint64, st *streamSeq, off uint64) []byte {
	n := off - st.next
	s.stats.Gaps++
	s.stats.GapBytes += n
	s.m.Gaps.Inc()
	s.m.GapBytes.Add(float64(n))
	s.log.Warn("gap in stream", "stream", fmt.Sprintf("%016x", stream), "from", st.next, "to", off, "bytes", n)
	if s.cfg.GapMarker {
		dst = AppendGapMarker(dst, stream, n)
	}
	return dst
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
		st.pendDup = off < st.next
	} else if !st.pendActive || off != st.pendNext {
		switch {
		case st.pendActive && off >= st.pendStart && end <= st.pendNext:
			return dst // a resent piece we already hold
		case !st.pendActive && end <= st.next:
			if h.Flags&envelope.FlagLast != 0 {
				s.dups(1) // a resent piece of a line already written
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
		st.pend = append(st.pend, raw...)
	}
	if h.Flags&envelope.FlagTruncated != 0 {
		st.pendTrunc = true
	}
	st.pendNext = end
	if !last {
		return dst
	}
	if st.pendDup || end <= st.next {
		s.dups(1)
	} else {
		if st.pendStart > st.next {
			dst = s.gap(dst, h.Stream, st, st.pendStart)
		}
		s.last = Written{OK: true, Stream: h.Stream, Pos: len(dst), First: st.pendStart, End: end}
		dst = append(dst, st.pend...)
		dst = append(dst, '\n')
		s.wrote(1, len(st.pend)+1)
		if st.pendTrunc {
			s.stats.Truncated++
			s.m.TruncatedLines.Inc()
		}
		st.next = end
	}
	s.clearPending(st)
	return dst
}
