package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrFrame is wrapped by the errors of CheckFrame: a compressed body that is not
// exactly one complete zstd frame of the batch's raw length.
var ErrFrame = errors.New("batch body is not one zstd frame")

// zstdMagic is the magic number that starts every zstd frame (RFC 8878 3.1.1).
const zstdMagic = 0xFD2FB528

// maxBlock is the largest block size of a zstd frame (RFC 8878 3.1.1.2.3).
const maxBlock = 128 << 10

// Frame describes a compressed batch body that CheckFrame accepted.
type Frame struct {
	// ContentSize is the frame's declared decompressed size (equal to the RawLen it
	// was checked against).
	ContentSize uint64
	// Checksum tells whether the frame ends with a content checksum (XXH64).
	Checksum bool
}

// CheckFrame reports whether body is a batch v2 body of rawLen raw bytes: exactly one
// complete zstd frame (RFC 8878) and nothing else, that declares its content size in
// its header, equal to rawLen, and uses no dictionary. It walks the frame header and
// the block headers without decompressing; that the blocks decode to the lines the
// CRC describes is checked by decompressing (Decoder).
//
// A body that passes can be copied as it is after other complete frames: concatenated
// zstd frames are a valid zstd stream, which is how collectors append a batch to a
// segment without decoding it.
func CheckFrame(body []byte, rawLen uint32) (Frame, error) {
	var fr Frame
	bad := func(format string, args ...any) (Frame, error) {
		return Frame{}, fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
	}
	if len(body) < 6 {
		return bad("%d bytes", len(body))
	}
	if binary.LittleEndian.Uint32(body) != zstdMagic {
		return bad("magic %#x", binary.LittleEndian.Uint32(body))
	}
	fhd := body[4]
	fcsFlag := fhd >> 6
	single := fhd&(1<<5) != 0
	if fhd&(1<<3) != 0 {
		return bad("reserved bit set in the frame header descriptor %#x", fhd)
	}
	fr.Checksum = fhd&(1<<2) != 0
	if fhd&3 != 0 {
		return bad("dictionary id present")
	}
	p := 5
	if !single {
		p++ // window descriptor
	}
	var fcsLen int
	switch fcsFlag {
	case 0:
		if single {
			fcsLen = 1
		}
	case 1:
		fcsLen = 2
	case 2:
		fcsLen = 4
	case 3:
		fcsLen = 8
	}
	if fcsLen == 0 {
		return bad("no content size in the frame header")
	}
	if len(body) < p+fcsLen {
		return bad("frame header cut at %d bytes", len(body))
	}
	switch fcsLen {
	case 1:
		fr.ContentSize = uint64(body[p])
	case 2:
		fr.ContentSize = uint64(binary.LittleEndian.Uint16(body[p:])) + 256
	case 4:
		fr.ContentSize = uint64(binary.LittleEndian.Uint32(body[p:]))
	case 8:
		fr.ContentSize = binary.LittleEndian.Uint64(body[p:])
	}
	p += fcsLen
	if fr.ContentSize != uint64(rawLen) {
		return bad("content size %d, raw length %d", fr.ContentSize, rawLen)
	}
	var regen uint64 // an upper bound of the decompressed size (compressed blocks count their size)
	for {
		if len(body)-p < 3 {
			return bad("block header cut at offset %d", p)
		}
		bh := uint32(body[p]) | uint32(body[p+1])<<8 | uint32(body[p+2])<<16
		p += 3
		last := bh&1 != 0
		size := int(bh >> 3)
		if size > maxBlock {
			return bad("block of %d bytes at offset %d", size, p-3)
		}
		switch (bh >> 1) & 3 {
		case 0: // raw
			regen += uint64(size)
		case 1: // RLE: one byte repeated size times
			regen += uint64(size)
			size = 1
		case 2: // compressed
			regen += maxBlock
		default:
			return bad("reserved block type at offset %d", p-3)
		}
		if len(body)-p < size {
			return bad("block at offset %d cut", p-3)
		}
		p += size
		if last {
			break
		}
	}
	if fr.Checksum {
		p += 4
	}
	switch {
	case p > len(body):
		return bad("checksum cut")
	case p < len(body):
		return bad("%d bytes after the frame", len(body)-p)
	case regen < fr.ContentSize:
		return bad("blocks hold at most %d bytes, content size %d", regen, fr.ContentSize)
	}
	return fr, nil
}
