package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MessTypeProgress marks a collector's progress report ("LP"), multicast to the presence
// group (PresenceGroup) of the log group it collects.
const MessTypeProgress int16 = 0x4C50

// ProgressVersion is the progress report version written by AppendProgress. Version 1
// (entries of stream and end only) is refused: its end counted from the offset at
// which the collector first had the stream, which a shipper cannot tell from the start
// of the stream (a collector that joined mid-stream seemed to have what it lacked).
const ProgressVersion = 2

// ProgressHeaderLen is the length of the fixed part of a progress report, before the
// collector's name.
const ProgressHeaderLen = 12

// ProgressEntryLen is the length of one stream entry of a progress report.
const ProgressEntryLen = 24

// MaxProgressEntries bounds the stream entries of one progress report: 4,096 entries
// make 98,304 bytes, inside Spread's largest message. A collector with more streams
// that moved sends several reports.
const MaxProgressEntries = 4096

// MaxCollectorName is the longest collector name, in bytes.
const MaxCollectorName = 64

// ProgressFlags describe the collector that sent a progress report.
type ProgressFlags uint8

const (
	// ProgressStalled says the collector cannot write (Reason says why): it received lines
	// it holds but has not written, and will not report progress until it can write again.
	// Shippers hold their windows for it.
	ProgressStalled ProgressFlags = 1 << 0
	// ProgressFinal says the collector is stopping cleanly: every line it received is
	// written and reported in this report. A shipper may stop waiting for it unless the
	// shipper requires it by name.
	ProgressFinal ProgressFlags = 1 << 1

	knownProgressFlags = ProgressStalled | ProgressFinal
)

// StallReason says why a collector cannot write.
type StallReason uint8

// The stall reasons. They follow the errno classes an operator acts on differently.
const (
	StallNone       StallReason = 0 // not stalled
	StallPermission StallReason = 1 // EACCES, EPERM, EROFS: fix the output directory's permissions
	StallNoSpace    StallReason = 2 // ENOSPC, EDQUOT: free space
	StallIO         StallReason = 3 // EIO: the device failed
	StallOther      StallReason = 4 // any other error

	maxStallReason = StallOther
)

// String returns the reason as it appears in logs and metric labels.
func (r StallReason) String() string {
	switch r {
	case StallNone:
		return "none"
	case StallPermission:
		return "permission"
	case StallNoSpace:
		return "no_space"
	case StallIO:
		return "io"
	case StallOther:
		return "other"
	}
	return fmt.Sprintf("reason_%d", uint8(r))
}

// StreamProgress is what a collector has written of one stream.
type StreamProgress struct {
	// Stream is the stream id (BatchHeader.Stream).
	Stream uint64
	// From and End bound the lowest range of the stream the collector has without a
	// hole: every byte of [From, End) is written to a segment (and fsynced where the
	// collector is configured to), or was counted as a gap, and it has nothing below
	// From. From is above the stream's start when the collector first had the stream
	// in its middle (it joined while the stream flowed, or the shipper started there):
	// only the shipper knows whether it owes the collector the bytes below From.
	// From <= End.
	From, End uint64
}

// Progress is a collector's progress report.
//
// The wire layout, all integers little-endian:
//
//	off  size field
//	  0     1 version (2)
//	  1     1 flags (ProgressFlags)
//	  2     1 stall reason (StallReason; 0 unless ProgressStalled)
//	  3     1 name length N, 1..64
//	  4     4 number of stream entries K, 0..4096
//	  8     4 CRC-32C (Castagnoli) of the bytes from offset 12 to the end
//	 12     N collector name: bytes of [A-Za-z0-9._-]
//	 12+N 24K K entries: stream id (8), written range: from offset (8), end offset (8)
//
// A report covers the streams that moved since the collector's previous report (all of
// them in the first report after it joins the presence group); a stream not mentioned
// keeps its last reported end.
type Progress struct {
	Flags   ProgressFlags
	Reason  StallReason
	Name    string
	Streams []StreamProgress
}

// Errors returned by the progress codec.
var (
	ErrProgress        = errors.New("malformed progress report")
	ErrCollectorName   = errors.New("invalid collector name")
	ErrProgressVersion = errors.New("unsupported progress report version")
)

// ValidCollectorName reports whether name can name a collector: 1 to 64 bytes of ASCII
// letters, digits, '.', '_' and '-'.
func ValidCollectorName(name string) bool {
	if len(name) == 0 || len(name) > MaxCollectorName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// AppendProgress appends the encoding of p to dst. It returns ErrCollectorName for a name
// that ValidCollectorName refuses and ErrProgress for more than MaxProgressEntries
// entries, unknown flags or an entry whose From is above its End.
func AppendProgress(dst []byte, p *Progress) ([]byte, error) {
	if !ValidCollectorName(p.Name) {
		return dst, fmt.Errorf("%w: %q: want 1 to %d bytes of letters, digits, '.', '_' or '-'", ErrCollectorName, p.Name, MaxCollectorName)
	}
	if len(p.Streams) > MaxProgressEntries {
		return dst, fmt.Errorf("%w: %d stream entries, at most %d", ErrProgress, len(p.Streams), MaxProgressEntries)
	}
	if p.Flags&^knownProgressFlags != 0 || p.Reason > maxStallReason {
		return dst, fmt.Errorf("%w: flags %#x, reason %d", ErrProgress, uint8(p.Flags), uint8(p.Reason))
	}
	for _, e := range p.Streams {
		if e.From > e.End {
			return dst, fmt.Errorf("%w: stream %d written from %d to %d", ErrProgress, e.Stream, e.From, e.End)
		}
	}
	start := len(dst)
	dst = append(dst, ProgressVersion, byte(p.Flags), byte(p.Reason), byte(len(p.Name)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p.Streams)))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = append(dst, p.Name...)
	for _, s := range p.Streams {
		dst = binary.LittleEndian.AppendUint64(dst, s.Stream)
		dst = binary.LittleEndian.AppendUint64(dst, s.From)
		dst = binary.LittleEndian.AppendUint64(dst, s.End)
	}
	binary.LittleEndian.PutUint32(dst[start+8:], Checksum(dst[start+ProgressHeaderLen:]))
	return dst, nil
}

// ParseProgress decodes msg into p, reusing p.Streams' storage. It checks the version,
// the lengths, the name and the checksum.
func ParseProgress(msg []byte, p *Progress) error {
	if len(msg) < ProgressHeaderLen {
		return fmt.Errorf("%w: %d bytes, shorter than its header", ErrProgress, len(msg))
	}
	if msg[0] != ProgressVersion {
		return fmt.Errorf("%w: %d", ErrProgressVersion, msg[0])
	}
	flags, reason, n := ProgressFlags(msg[1]), StallReason(msg[2]), int(msg[3])
	k := binary.LittleEndian.Uint32(msg[4:])
	if flags&^knownProgressFlags != 0 || reason > maxStallReason {
		return fmt.Errorf("%w: flags %#x, reason %d", ErrProgress, uint8(flags), uint8(reason))
	}
	if k > MaxProgressEntries || len(msg) != ProgressHeaderLen+n+int(k)*ProgressEntryLen {
		return fmt.Errorf("%w: %d bytes for a name of %d bytes and %d entries", ErrProgress, len(msg), n, k)
	}
	if Checksum(msg[ProgressHeaderLen:]) != binary.LittleEndian.Uint32(msg[8:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrProgress)
	}
	name := string(msg[ProgressHeaderLen : ProgressHeaderLen+n])
	if !ValidCollectorName(name) {
		return fmt.Errorf("%w: %q", ErrCollectorName, name)
	}
	p.Flags, p.Reason, p.Name = flags, reason, name
	p.Streams = p.Streams[:0]
	for e := msg[ProgressHeaderLen+n:]; len(e) > 0; e = e[ProgressEntryLen:] {
		sp := StreamProgress{
			Stream: binary.LittleEndian.Uint64(e),
			From:   binary.LittleEndian.Uint64(e[8:]),
			End:    binary.LittleEndian.Uint64(e[16:]),
		}
		if sp.From > sp.End {
			return fmt.Errorf("%w: stream %d written from %d to %d", ErrProgress, sp.Stream, sp.From, sp.End)
		}
		p.Streams = append(p.Streams, sp)
	}
	return nil
}
