package shipper

import (
	"context"
	"fmt"
	"sort"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
)

// Batch body compression (Config.Compression).
const (
	// CompressZstd sends batch v2: each body is one zstd frame of whole lines.
	CompressZstd = "zstd"
	// CompressNone sends batch v1 with uncompressed bodies.
	CompressNone = "none"
)

// MaxCompressedRaw is the largest Config.MaxBatchRaw: 4 MiB, the raw length a
// collector decompresses by default (envelope.DefaultMaxRawLen).
const MaxCompressedRaw = envelope.DefaultMaxRawLen

// maxMessage is the largest batch envelope: header and body in one Spread message.
const maxMessage = spreadlink.MaxBody

// compressionLevel returns the zstd level named by s ("fastest", "default",
// "better", "best").
func compressionLevel(s string) (zstd.EncoderLevel, error) {
	ok, lvl := zstd.EncoderLevelFromString(s)
	if !ok {
		return 0, fmt.Errorf("%w: compression level %q: want fastest, default, better or best", ErrConfig, s)
	}
	return lvl, nil
}

// piece is one chunk merged into a batch: where it ends in the batch's data and the
// batch's totals up to its end.
type piece struct {
	end   int
	span  uint64
	lines uint32
	pos   source.Checkpoint
}

// batcher is the compressing half of one pump: it turns merged chunks into batch v2
// bodies, each one zstd frame that fits into one Spread message with its header. It
// is owned by the pump's goroutine.
type batcher struct {
	enc    *zstd.Encoder
	frame  []byte  // the last frame: reused once the send loop has copied it
	pieces []piece // the chunks merged into the current batch
	merged []byte  // Shipper.merge's buffer: reused once the send loop has copied the batch
	maxRaw int     // Config.MaxBatchRaw: the capacity of merged
	done   chan struct{}
}

func newBatcher(cfg Config) (*batcher, error) {
	lvl, err := compressionLevel(cfg.CompressionLevel)
	if err != nil {
		return nil, err
	}
	// Single segment: the content size is in every frame header, however small the
	// frame (envelope.CheckFrame); the window is the frame, at most MaxBatchRaw. The
	// encoder's own window is sized to that bound: at its default (8 MiB) it keeps a
	// 16 MiB history buffer for frames of at most 1 MiB, a third of the shipper's heap.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(lvl),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encoderWindow(cfg.MaxBatchRaw)),
		zstd.WithLowerEncoderMem(true),
		zstd.WithSingleSegment(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &batcher{enc: enc, maxRaw: cfg.MaxBatchRaw, done: make(chan struct{}, 1)}, nil
}

// encoderWindow is the encoder's window for frames of at most maxRaw bytes: the
// smallest power of two that holds one, at least one zstd block (128 KiB).
func encoderWindow(maxRaw int) int {
	w := 128 << 10
	for w < maxRaw {
		w <<= 1
	}
	return w
}

func (b *batcher) close() { b.enc.Close() }

// buffer returns the batcher's buffer, empty, with room for n bytes.
func (b *batcher) buffer(n int) []byte {
	if cap(b.merged) < n {
		b.merged = make([]byte, 0, n)
	}
	return b.merged[:0]
}

// holds reports whether data starts at the start of the batcher's buffer.
func (b *batcher) holds(data []byte) bool {
	return len(data) > 0 && cap(b.merged) > 0 && &b.merged[:1][0] == &data[0]
}

// next returns the next chunk of src. With a batcher and a source.Appender the data
// is read into the spare capacity of dst, or with dst nil into the batcher's buffer
// (from its start: the last batch was sent), so that gathering a batch copies each
// chunk once; otherwise it is src.Next.
func (b *batcher) next(ctx context.Context, src source.Source, max int, dst []byte) (source.Chunk, error) {
	app, ok := src.(source.Appender)
	if b == nil || !ok {
		return src.Next(ctx, max)
	}
	if dst == nil {
		dst = b.buffer(b.maxRaw)
	}
	return app.NextAppend(ctx, max, dst)
}

// reset starts a batch with the chunk c.
func (b *batcher) reset(c *source.Chunk) {
	b.pieces = append(b.pieces[:0], piece{end: len(c.Data), span: c.Span, lines: c.Lines, pos: c.Pos})
}

// add records the chunk nx appended to cur (cur already includes it).
func (b *batcher) add(cur *source.Chunk) {
	b.pieces = append(b.pieces, piece{end: len(cur.Data), span: cur.Span, lines: cur.Lines, pos: cur.Pos})
}

// emit posts cur, made of b.pieces, as batches: one zstd frame when it fits into one
// Spread message; cut at the end of a merged chunk when it does not (each part a frame
// that fits); uncompressed (batch v1, which always fits: a chunk is at most
// BatchBytes) when even one chunk's frame is too large. Each post waits until the
// send loop has copied the frame, so the buffer is reused. It returns false when ctx
// ended.
func (b *batcher) emit(ctx context.Context, cur source.Chunk, post func(pumpItem) bool, idx int, m *Metrics) bool {
	pieces := b.pieces
	for len(pieces) > 0 {
		n := len(pieces)
		var frame []byte
		for {
			end := pieces[n-1].end
			b.frame = b.enc.EncodeAll(cur.Data[:end], b.frame[:0])
			frame = b.frame
			if envelope.MaxBatchHeaderLen+len(frame) <= maxMessage {
				break
			}
			if n == 1 {
				frame = nil // incompressible: send it as it is
				m.BatchesUncompressed.Inc()
				break
			}
			// Cut at the chunk end nearest below 90% of what fits at this ratio.
			target := int(float64(end) * 0.9 * float64(maxMessage-envelope.MaxBatchHeaderLen) / float64(len(frame)))
			k := sort.Search(n, func(i int) bool { return pieces[i].end > target })
			n = max(1, min(k, n-1))
			m.BatchesCut.Inc()
		}
		p := pieces[n-1]
		part := source.Chunk{Stream: cur.Stream, Offset: cur.Offset, Span: p.span, Lines: p.lines,
			Flags: cur.Flags, Data: cur.Data[:p.end], Pos: p.pos, Lost: cur.Lost, Unused: cur.Unused, Epoch: cur.Epoch}
		if !post(pumpItem{src: idx, ch: part, frame: frame, done: b.done}) {
			return false
		}
		select { // the send loop copied frame and data: both may be reused
		case <-b.done:
		case <-ctx.Done():
			return false
		}
		rest := pieces[n:]
		for i := range rest {
			rest[i].end -= p.end
			rest[i].span -= p.span
			rest[i].lines -= p.lines
		}
		cur.Offset += p.span
		cur.Lost, cur.Unused = 0, nil // announced with the first part
		cur.Span -= p.span
		cur.Lines -= p.lines
		cur.Data = cur.Data[p.end:]
		pieces = rest
	}
	return true
}
