package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// zstd frame boundaries (RFC 8878, section 3.1), to follow a segment while it grows:
// a reader that decoded whatever bytes were there could meet a frame half written.

const (
	zstdMagic          = 0xFD2FB528
	zstdSkippableMagic = 0x184D2A50 // low 4 bits are free
)

var errBadFrame = errors.New("not a zstd frame")

// zstdFrameLen returns the length of the complete frame (zstd or skippable) at the
// start of b, or 0 when b holds only part of it.
func zstdFrameLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	magic := binary.LittleEndian.Uint32(b)
	if magic&^0xF == zstdSkippableMagic {
		if len(b) < 8 {
			return 0, nil
		}
		n := 8 + int(binary.LittleEndian.Uint32(b[4:]))
		if len(b) < n {
			return 0, nil
		}
		return n, nil
	}
	if magic != zstdMagic {
		return 0, fmt.Errorf("%w: magic %#x", errBadFrame, magic)
	}
	if len(b) < 5 {
		return 0, nil
	}
	fhd := b[4]
	singleSegment := fhd&0x20 != 0
	checksum := fhd&0x04 != 0
	n := 5
	if !singleSegment {
		n++ // window descriptor
	}
	n += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
	switch fhd >> 6 {              // frame content size
	case 0:
		if singleSegment {
			n++
		}
	case 1:
		n += 2
	case 2:
		n += 4
	case 3:
		n += 8
	}
	for {
		if len(b) < n+3 {
			return 0, nil
		}
		h := uint32(b[n]) | uint32(b[n+1])<<8 | uint32(b[n+2])<<16
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		n += 3
		switch typ {
		case 0, 2: // raw, compressed
			n += size
		case 1: // RLE: one byte repeated size times
			n++
		default:
			return 0, fmt.Errorf("%w: reserved block type", errBadFrame)
		}
		if last {
			break
		}
	}
	if checksum {
		n += 4
	}
	if len(b) < n {
		return 0, nil
	}
	return n, nil
}
