package envelope

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrBatchBody is wrapped by the errors of a body that cannot be decoded: a compressed
// body without a Decompressor, one that does not decompress, or one whose raw length
// is above the Decoder's bound.
var ErrBatchBody = errors.New("undecodable batch body")

// DefaultMaxRawLen is the bound on a compressed batch's raw length of a Decoder whose
// MaxRawLen is zero: 4 MiB, far above what one Spread message decompresses to.
const DefaultMaxRawLen = 4 << 20

// Decompressor decompresses a FlagZstd batch body: DecodeAll appends the decoded
// bytes of src to dst. A *zstd.Decoder of github.com/klauspost/compress satisfies
// it; this package does not depend on one.
type Decompressor interface {
	DecodeAll(src, dst []byte) ([]byte, error)
}

// Batch is a decoded, verified batch envelope.
type Batch struct {
	Header BatchHeader
	// Body is the raw body: whole '\n'-terminated lines, or one fragment of a line
	// (FlagFragment). It aliases the message, or for a compressed batch the
	// Decoder's buffer, and is valid until the next Decode.
	Body []byte
	// Frame is the compressed body of a batch v2 (FlagZstd, one complete zstd frame
	// that declares its content size: CheckFrame), which decompressed to Body; nil
	// otherwise. It aliases the message. A receiver may copy it after other zstd
	// frames as it is.
	Frame []byte
}

// Decoder decodes batch envelopes, the one decoder of every receiver: it parses the
// header (ParseBatch), decompresses a FlagZstd body, checks it against the header
// (VerifyBody: length, CRC-32C, line end), and checks the line count (Lines is the
// number of '\n' in the body; a fragment has none, or one when it is the last piece).
//
// The zero Decoder decodes uncompressed batches. A Decoder is not safe for concurrent
// use; it reuses one buffer for decompressed bodies.
type Decoder struct {
	// Decompressor decodes FlagZstd bodies; nil rejects them (ErrBatchBody).
	Decompressor Decompressor
	// MaxRawLen bounds the raw length of a compressed batch; zero means
	// DefaultMaxRawLen. (An uncompressed body is bounded by the message.)
	MaxRawLen int

	buf  []byte
	host string // the last host decoded, reused while it repeats
}

// Decode decodes and verifies an uncompressed batch with a zero Decoder: a compressed
// one gives ErrBatchBody. See Decoder.Decode.
func Decode(msg []byte) (Batch, error) {
	var d Decoder
	return d.Decode(msg)
}

// Decode decodes and verifies msg, the body of a MessTypeBatch message. Errors wrap
// ErrShortBatch, ErrBatchVersion, ErrBatchHeader, ErrBatchCRC or ErrBatchBody. When
// the header was read but the batch is bad, the returned Batch still holds the header
// (with a nil Body), so that callers can name the stream and offset.
func (d *Decoder) Decode(msg []byte) (Batch, error) {
	h, body, err := parseBatch(msg, d.host)
	if err != nil {
		return Batch{Header: h}, err
	}
	if h.Host != "" {
		d.host = h.Host
	}
	raw := body
	var frame []byte
	if h.Flags&FlagZstd != 0 {
		if raw, err = d.decompress(&h, body); err != nil {
			return Batch{Header: h}, err
		}
		if _, err := CheckFrame(body, h.RawLen); err == nil {
			frame = body
		}
	}
	if err := h.VerifyBody(raw); err != nil {
		return Batch{Header: h}, err
	}
	want := h.Lines
	if h.Flags&FlagFragment != 0 {
		want = 0
		if h.Flags&FlagLast != 0 {
			want = 1
		}
		if h.Lines != want {
			return Batch{Header: h}, fmt.Errorf("%w: fragment with %d lines", ErrBatchHeader, h.Lines)
		}
	}
	if n := bytes.Count(raw, []byte{'\n'}); uint64(n) != uint64(want) {
		return Batch{Header: h}, fmt.Errorf("%w: header says %d lines, body has %d", ErrBatchHeader, want, n)
	}
	return Batch{Header: h, Body: raw, Frame: frame}, nil
}

func (d *Decoder) decompress(h *BatchHeader, body []byte) ([]byte, error) {
	if d.Decompressor == nil {
		return nil, fmt.Errorf("%w: compressed, and no decompressor", ErrBatchBody)
	}
	limit := d.MaxRawLen
	if limit <= 0 {
		limit = DefaultMaxRawLen
	}
	if int64(h.RawLen) > int64(limit) {
		return nil, fmt.Errorf("%w: raw length %d above %d", ErrBatchBody, h.RawLen, limit)
	}
	out, err := d.Decompressor.DecodeAll(body, d.buf[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %w", ErrBatchBody, err)
	}
	d.buf = out
	return out, nil
}
