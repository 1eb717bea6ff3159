package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Spread message types (the 16-bit mess_type) that tell logspread payloads apart.
const (
	// MessTypeRaw marks a raw message: one or more '\n'-terminated lines, as mod_log_spread sends.
	MessTypeRaw int16 = 0
	// MessTypeBatch marks a logspread batch v1 envelope ("LB").
	MessTypeBatch int16 = 0x4C42
	// MessTypeAck marks a shipper's acknowledgement marker ("LA"), sent to its own private group.
	MessTypeAck int16 = 0x4C41
)

// BatchVersion is the envelope version written by AppendBatch.
const BatchVersion = 1

// BatchHeaderLen is the length of the version 1 header without extensions. Readers
// accept longer headers (the header length field says where the body starts): the
// bytes after the fixed fields are extensions (see BatchHeader).
const BatchHeaderLen = 40

// Header extension tags (see BatchHeader).
const (
	// ExtHost carries BatchHeader.Host: the name of the web host the lines come from.
	ExtHost = 1
)

// MaxHostLen is the longest host name a batch header carries (a DNS name).
const MaxHostLen = 253

// MaxBatchHeaderLen is the longest header AppendBatchHeader writes: the fixed fields
// and a host name of MaxHostLen bytes.
const MaxBatchHeaderLen = BatchHeaderLen + 2 + MaxHostLen

// AckLen is the length of an acknowledgement marker body.
const AckLen = 8

// BatchFlags describe a batch body.
type BatchFlags uint8

const (
	// FlagZstd says the body is zstd-compressed; RawLen and CRC describe the decompressed
	// bytes. A batch v2 body (AppendZstdBatch, CheckFrame) is exactly one complete zstd
	// frame with its content size in the frame header.
	FlagZstd BatchFlags = 1 << 0
	// FlagFragment says the body is one piece of a line longer than the batch bound.
	FlagFragment BatchFlags = 1 << 1
	// FlagFirst marks the first piece of a fragmented line.
	FlagFirst BatchFlags = 1 << 2
	// FlagLast marks the last piece of a fragmented line; its body ends with '\n'.
	FlagLast BatchFlags = 1 << 3
	// FlagTruncated marks a last piece whose line was cut at the shipper's hard maximum.
	// The shipper appended the '\n'; Span covers the bytes that were dropped.
	FlagTruncated BatchFlags = 1 << 4
	// FlagLost makes the batch a loss notice: the shipper says that the logical bytes
	// [Offset, Offset+Span) of the stream will never be sent (it no longer has them). The
	// body is empty, Lines and RawLen are 0, and no other flag is set. A receiver counts
	// as a gap exactly the part of that range it does not have (all of it, when it is
	// the first it gets of the stream: it has the stream from the notice on); from then
	// on the range cannot be filled.
	FlagLost BatchFlags = 1 << 5
	// FlagSettled makes the batch a settled notice, sent by a shipper that acknowledges
	// on order (ship --ack ordered): it will never send again the logical bytes of the
	// stream below Offset+Span (Offset is 0 in what logspread sends), because Spread
	// ordered them while a collector was present. Same shape as a loss notice: empty
	// body, Lines and RawLen 0, Span above 0, no other flag. A receiver that knows the
	// stream counts as a gap exactly the part of [max(Offset, where it first had the
	// stream), Offset+Span) it does not have (batches it missed while its session was
	// lost, lines of a frame a crash tore): those holes can no longer be filled. A
	// receiver that never had the stream ignores it.
	FlagSettled BatchFlags = 1 << 6
	// FlagUnused makes the batch an unused notice: the shipper will never send the
	// logical bytes [Offset, Offset+Span) of the stream, and, as far as it can tell,
	// they hold none: it jumped past every offset a run of it may have used (a restart
	// after a crash that could not resume exactly; the jump is 4 GiB). Bytes a run sent
	// there before its crash, if any, may have been lost for a receiver that lacks
	// them; how many cannot be told. Same shape as a loss notice: empty body, Lines and
	// RawLen 0, Span above 0, no other flag. A receiver that knows the stream takes the
	// part of the range it does not have as had (no hole waits for it) and counts it
	// as one gap of unknown size, never as that many bytes; a receiver that never had
	// the stream ignores it.
	FlagUnused BatchFlags = 1 << 7

	knownFlags = FlagZstd | FlagFragment | FlagFirst | FlagLast | FlagTruncated | FlagLost | FlagSettled | FlagUnused
	notices    = FlagLost | FlagSettled | FlagUnused
)

// BatchHeader is the fixed part of a batch envelope, v1 and v2 alike.
//
// The wire layout, all integers little-endian:
//
//	off size field
//	  0    1 version (1)
//	  1    1 flags (BatchFlags)
//	  2    2 header length in bytes (40); the body starts here
//	  4    4 number of complete lines that end in this batch
//	  8    8 stream id: one source of one shipper, stable across restarts
//	 16    8 logical offset of the body's first byte in the stream
//	 24    8 span: logical bytes this batch covers (RawLen; more when a line was truncated;
//	        the lost bytes of a loss notice, FlagLost; the settled bytes of a settled
//	        notice, FlagSettled)
//	 32    4 raw length: body bytes after decompression
//	 36    4 CRC-32C (Castagnoli) of the raw body
//	 40    - extensions, up to the header length (none: header length 40)
//	  hl   - body: whole '\n'-terminated lines, or one fragment (FlagFragment);
//	        with FlagZstd, those bytes compressed (batch v2: one zstd frame)
//
// The next batch of the same stream starts at Offset+Span.
//
// Extensions follow the fixed fields, inside the header length: each is one byte tag,
// one byte length n, then n bytes of value. A reader skips the tags it does not know
// (and readers that predate extensions skip them all: they start the body at the
// header length), so adding one changes neither the version nor the fixed fields.
// An extension that runs past the header length makes the header malformed. Tags:
//
//	tag 1 (ExtHost): the name of the web host whose lines the batch holds, 1 to
//	        MaxHostLen bytes (ship --host). Receivers must check it before they use it
//	        in a file name or a line (ValidHost): it comes from the network. A batch
//	        without it (batch v1 and v2 from shippers before it, raw messages, loss
//	        notices) has no host.
//
// For example a batch from host "web1" has header length 46, and bytes 40..45 are
// 01 04 'w' 'e' 'b' '1'.
//
// Batch v2 is this layout with FlagZstd set and a body that is exactly one complete
// zstd frame (RFC 8878): the frame header declares the content size, equal to the raw
// length; no dictionary; no bytes after the frame (a content checksum is allowed).
// CheckFrame checks these rules without decompressing. The version byte stays 1, so
// every receiver that decompresses FlagZstd bodies reads v2; a receiver that does not
// gets uncompressed batches (ship --batch-compression none).
type BatchHeader struct {
	Flags  BatchFlags
	Lines  uint32
	Stream uint64
	Offset uint64
	Span   uint64
	RawLen uint32
	CRC    uint32
	// Host is the ExtHost extension ("" when absent); not checked by ParseBatch.
	Host string
}

// Len returns the length of h's encoding: BatchHeaderLen plus its extensions.
func (h *BatchHeader) Len() int {
	if h.Host == "" {
		return BatchHeaderLen
	}
	return BatchHeaderLen + 2 + len(h.Host)
}

// ValidHost reports whether name may travel as a batch's host (ship --host): 1 to
// MaxHostLen bytes of ASCII letters, digits, '-', '_' and '.', not starting with '.'
// or '-', without "..". Such a name is one safe file name component and holds no
// space or line end. Receivers check what they receive with it too.
func ValidHost(name string) bool {
	if name == "" || len(name) > MaxHostLen || name[0] == '.' || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if i > 0 && name[i-1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// End returns the logical offset just past the batch.
func (h *BatchHeader) End() uint64 { return h.Offset + h.Span }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of body, as carried in BatchHeader.CRC.
func Checksum(body []byte) uint32 { return crc32.Checksum(body, castagnoli) }

// Errors returned by the batch decoder.
var (
	ErrShortBatch   = errors.New("batch shorter than its header")
	ErrBatchVersion = errors.New("unsupported batch version")
	ErrBatchHeader  = errors.New("malformed batch header")
	ErrBatchCRC     = errors.New("batch checksum mismatch")
)

// AppendBatchHeader appends the encoding of h to dst: 40 bytes, and the host extension
// when h.Host is set (at most MaxHostLen bytes: a longer name is cut there).
func AppendBatchHeader(dst []byte, h *BatchHeader) []byte {
	host := h.Host[:min(len(h.Host), MaxHostLen)]
	hl := BatchHeaderLen
	if host != "" {
		hl += 2 + len(host)
	}
	var b [BatchHeaderLen]byte
	b[0] = BatchVersion
	b[1] = byte(h.Flags)
	binary.LittleEndian.PutUint16(b[2:], uint16(hl))
	binary.LittleEndian.PutUint32(b[4:], h.Lines)
	binary.LittleEndian.PutUint64(b[8:], h.Stream)
	binary.LittleEndian.PutUint64(b[16:], h.Offset)
	binary.LittleEndian.PutUint64(b[24:], h.Span)
	binary.LittleEndian.PutUint32(b[32:], h.RawLen)
	binary.LittleEndian.PutUint32(b[36:], h.CRC)
	dst = append(dst, b[:]...)
	if host != "" {
		dst = append(append(dst, ExtHost, byte(len(host))), host...)
	}
	return dst
}

// AppendBatch appends an uncompressed batch holding body to dst, filling in RawLen and CRC.
// If h.Span is zero it is set to len(body).
func AppendBatch(dst []byte, h BatchHeader, body []byte) []byte {
	h.Flags &^= FlagZstd
	h.RawLen = uint32(len(body))
	h.CRC = Checksum(body)
	if h.Span == 0 {
		h.Span = uint64(len(body))
	}
	dst = AppendBatchHeader(dst, &h)
	return append(dst, body...)
}

// AppendZstdBatch appends a batch v2 to dst: the header of h with FlagZstd, RawLen and
// CRC of raw (the lines), and frame, which must be raw compressed into one zstd frame
// that declares its content size (see CheckFrame). If h.Span is zero it is set to
// len(raw).
func AppendZstdBatch(dst []byte, h BatchHeader, raw, frame []byte) []byte {
	h.Flags |= FlagZstd
	h.RawLen = uint32(len(raw))
	h.CRC = Checksum(raw)
	if h.Span == 0 {
		h.Span = uint64(len(raw))
	}
	dst = AppendBatchHeader(dst, &h)
	return append(dst, frame...)
}

// ParseBatch decodes the header of msg and returns it with the body that follows
// (still compressed if FlagZstd is set). It checks the structure, not the CRC:
// call VerifyBody on the raw body.
func ParseBatch(msg []byte) (BatchHeader, []byte, error) {
	return parseBatch(msg, "")
}

// parseBatch is ParseBatch; a host equal to prev is returned as prev (no allocation).
func parseBatch(msg []byte, prev string) (BatchHeader, []byte, error) {
	var h BatchHeader
	if len(msg) < 4 {
		return h, nil, ErrShortBatch
	}
	if msg[0] != BatchVersion {
		return h, nil, fmt.Errorf("%w: %d", ErrBatchVersion, msg[0])
	}
	hl := int(binary.LittleEndian.Uint16(msg[2:]))
	if hl < BatchHeaderLen {
		return h, nil, fmt.Errorf("%w: header length %d", ErrBatchHeader, hl)
	}
	if len(msg) < hl {
		return h, nil, ErrShortBatch
	}
	h.Flags = BatchFlags(msg[1])
	h.Lines = binary.LittleEndian.Uint32(msg[4:])
	h.Stream = binary.LittleEndian.Uint64(msg[8:])
	h.Offset = binary.LittleEndian.Uint64(msg[16:])
	h.Span = binary.LittleEndian.Uint64(msg[24:])
	h.RawLen = binary.LittleEndian.Uint32(msg[32:])
	h.CRC = binary.LittleEndian.Uint32(msg[36:])
	for ext := msg[BatchHeaderLen:hl]; len(ext) > 0; {
		if len(ext) < 2 || len(ext) < 2+int(ext[1]) {
			return h, nil, fmt.Errorf("%w: extension at %d runs past the header length %d", ErrBatchHeader, hl-len(ext), hl)
		}
		tag, val := ext[0], ext[2:2+int(ext[1])]
		if tag == ExtHost {
			if h.Host = prev; string(val) != prev {
				h.Host = string(val)
			}
		}
		ext = ext[2+len(val):]
	}
	body := msg[hl:]
	if err := h.check(len(body)); err != nil {
		return h, nil, err
	}
	return h, body, nil
}

func (h *BatchHeader) check(bodyLen int) error {
	switch {
	case h.Flags&^knownFlags != 0:
		return fmt.Errorf("%w: unknown flags %#x", ErrBatchHeader, uint8(h.Flags&^knownFlags))
	case h.Flags&FlagZstd == 0 && uint64(bodyLen) != uint64(h.RawLen):
		return fmt.Errorf("%w: body %d bytes, raw length %d", ErrBatchHeader, bodyLen, h.RawLen)
	case h.Span < uint64(h.RawLen):
		return fmt.Errorf("%w: span %d below raw length %d", ErrBatchHeader, h.Span, h.RawLen)
	case h.Offset+h.Span < h.Offset:
		return fmt.Errorf("%w: offset %d + span %d overflows", ErrBatchHeader, h.Offset, h.Span)
	case h.Flags&FlagFragment == 0 && h.Flags&(FlagFirst|FlagLast|FlagTruncated) != 0:
		return fmt.Errorf("%w: fragment bits without FlagFragment", ErrBatchHeader)
	case h.Flags&FlagTruncated != 0 && h.Flags&FlagLast == 0:
		return fmt.Errorf("%w: truncated piece is not the last", ErrBatchHeader)
	case h.Flags&notices != 0 && ((h.Flags != FlagLost && h.Flags != FlagSettled && h.Flags != FlagUnused) || h.RawLen != 0 || h.Lines != 0 || h.Span == 0):
		return fmt.Errorf("%w: loss, settled or unused notice with flags %#x, %d lines, raw length %d, span %d", ErrBatchHeader, uint8(h.Flags), h.Lines, h.RawLen, h.Span)
	case h.Flags&(FlagTruncated|notices) == 0 && h.Span != uint64(h.RawLen):
		return fmt.Errorf("%w: span %d differs from raw length %d", ErrBatchHeader, h.Span, h.RawLen)
	}
	return nil
}

// VerifyBody checks a decompressed body against the header: length, checksum, and
// that whole-line batches end with '\n'.
func (h *BatchHeader) VerifyBody(raw []byte) error {
	if uint64(len(raw)) != uint64(h.RawLen) {
		return fmt.Errorf("%w: body %d bytes, raw length %d", ErrBatchHeader, len(raw), h.RawLen)
	}
	if Checksum(raw) != h.CRC {
		return ErrBatchCRC
	}
	last := h.Flags&FlagFragment == 0 || h.Flags&FlagLast != 0
	if last && len(raw) > 0 && raw[len(raw)-1] != '\n' {
		return fmt.Errorf("%w: body does not end at a line end", ErrBatchHeader)
	}
	return nil
}

// AppendLoss appends a loss notice to dst: the bytes [offset, offset+span) of stream will
// never be sent. span must be above zero.
func AppendLoss(dst []byte, stream, offset, span uint64) []byte {
	h := BatchHeader{Flags: FlagLost, Stream: stream, Offset: offset, Span: span, CRC: Checksum(nil)}
	return AppendBatchHeader(dst, &h)
}

// IsLoss reports whether h is the header of a loss notice.
func (h *BatchHeader) IsLoss() bool { return h.Flags&FlagLost != 0 }

// AppendUnused appends an unused notice to dst (FlagUnused): the bytes [offset,
// offset+span) of stream will never be sent, and hold none as far as the shipper can
// tell. span must be above zero.
func AppendUnused(dst []byte, stream, offset, span uint64) []byte {
	h := BatchHeader{Flags: FlagUnused, Stream: stream, Offset: offset, Span: span, CRC: Checksum(nil)}
	return AppendBatchHeader(dst, &h)
}

// IsUnused reports whether h is the header of an unused notice.
func (h *BatchHeader) IsUnused() bool { return h.Flags&FlagUnused != 0 }

// AppendSettled appends a settled notice to dst (FlagSettled): the shipper will never
// send again the bytes of stream below offset+span. span must be above zero.
func AppendSettled(dst []byte, stream, offset, span uint64) []byte {
	h := BatchHeader{Flags: FlagSettled, Stream: stream, Offset: offset, Span: span, CRC: Checksum(nil)}
	return AppendBatchHeader(dst, &h)
}

// IsSettled reports whether h is the header of a settled notice.
func (h *BatchHeader) IsSettled() bool { return h.Flags&FlagSettled != 0 }

// AppendAck appends an acknowledgement marker body carrying seq.
func AppendAck(dst []byte, seq uint64) []byte {
	return binary.LittleEndian.AppendUint64(dst, seq)
}

// ParseAck decodes an acknowledgement marker body.
func ParseAck(body []byte) (uint64, error) {
	if len(body) != AckLen {
		return 0, fmt.Errorf("%w: ack marker of %d bytes", ErrBatchHeader, len(body))
	}
	return binary.LittleEndian.Uint64(body), nil
}
