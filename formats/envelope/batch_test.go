package envelope

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// batchLayout names the header fields in wire order, for the annotated golden files.
var batchLayout = []struct {
	name string
	size int
}{
	{"version", 1}, {"flags", 1}, {"header length", 2}, {"lines", 4}, {"stream id", 8},
	{"logical offset", 8}, {"span", 8}, {"raw length", 4}, {"crc32c", 4},
}

// annotate writes msg as hex, one header field per line with its name, then the body in
// lines of 16 bytes.
func annotate(msg []byte) []byte {
	var b bytes.Buffer
	off := 0
	for _, f := range batchLayout {
		if off+f.size > len(msg) {
			break
		}
		fmt.Fprintf(&b, "%-24s # %2d %s\n", hex.EncodeToString(msg[off:off+f.size]), off, f.name)
		off += f.size
	}
	if len(msg) >= BatchHeaderLen {
		hl := int(binary.LittleEndian.Uint16(msg[2:]))
		for off+2 <= hl {
			n := int(msg[off+1])
			fmt.Fprintf(&b, "%-24s # %2d extension tag %d, length %d\n", hex.EncodeToString(msg[off:off+2]), off, msg[off], n)
			fmt.Fprintf(&b, "%-48s # %2d value %q\n", hex.EncodeToString(msg[off+2:off+2+n]), off+2, msg[off+2:off+2+n])
			off += 2 + n
		}
	}
	for i := off; i < len(msg); i += 16 {
		j := min(i+16, len(msg))
		fmt.Fprintf(&b, "%-48s # body %q\n", hex.EncodeToString(msg[i:j]), msg[i:j])
	}
	return b.Bytes()
}

// unannotate decodes the hex of an annotated golden file.
func unannotate(t *testing.T, golden []byte) []byte {
	t.Helper()
	var out []byte
	for _, line := range strings.Split(string(golden), "\n") {
		h, _, _ := strings.Cut(line, "#")
		b, err := hex.DecodeString(strings.TrimSpace(h))
		if err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		out = append(out, b...)
	}
	return out
}

var batchVectors = []struct {
	name string
	h    BatchHeader
	body string
}{
	{name: "two_lines", h: BatchHeader{Lines: 2, Stream: 0x0102030405060708, Offset: 0x1000}, body: "a\nbc\n"},
	{name: "empty", h: BatchHeader{}, body: ""},
	{name: "fragment_first", h: BatchHeader{Flags: FlagFragment | FlagFirst, Stream: 7, Offset: 1 << 32}, body: "0123456789abcdefXYZ"},
	{name: "loss", h: BatchHeader{Flags: FlagLost, Stream: 7, Offset: 1 << 32, Span: 5625}, body: ""},
	{name: "settled", h: BatchHeader{Flags: FlagSettled, Stream: 7, Offset: 0, Span: 1<<32 + 5625}, body: ""},
	{name: "truncated_last", h: BatchHeader{Flags: FlagFragment | FlagLast | FlagTruncated, Lines: 1, Stream: 7, Offset: 1<<32 + 19, Span: 1000}, body: "end\n"},
	{name: "host", h: BatchHeader{Lines: 2, Stream: 0x0102030405060708, Offset: 0x1000, Host: "web1.example.com"}, body: "a\nbc\n"},
}

func TestBatchGolden(t *testing.T) {
	for _, tc := range batchVectors {
		t.Run(tc.name, func(t *testing.T) {
			msg := AppendBatch(nil, tc.h, []byte(tc.body))
			path := filepath.Join("testdata", "batch", tc.name+".golden")
			checkGolden(t, path, annotate(msg))
			if *update {
				return
			}
			wire := unannotate(t, readGolden(t, path))
			h, body, err := ParseBatch(wire)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.VerifyBody(body); err != nil {
				t.Fatal(err)
			}
			want := tc.h
			want.RawLen = uint32(len(tc.body))
			want.CRC = Checksum([]byte(tc.body))
			if want.Span == 0 {
				want.Span = uint64(len(tc.body))
			}
			if h != want || string(body) != tc.body {
				t.Errorf("ParseBatch = %+v %q, want %+v %q", h, body, want, tc.body)
			}
		})
	}
}

// TestBatchBytes pins one vector byte by byte, independently of the golden files.
func TestBatchBytes(t *testing.T) {
	got := AppendBatch([]byte{0xEE}, BatchHeader{Lines: 2, Stream: 0x0102030405060708, Offset: 0x1000}, []byte("a\nbc\n"))
	want := []byte{0xEE, // existing dst content is kept
		0x01, 0x00, 0x28, 0x00, // version 1, no flags, header length 40
		0x02, 0x00, 0x00, 0x00, // 2 lines
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // stream id, little-endian
		0x00, 0x10, 0, 0, 0, 0, 0, 0, // offset 0x1000
		0x05, 0, 0, 0, 0, 0, 0, 0, // span 5
		0x05, 0, 0, 0, // raw length 5
	}
	crc := binary.LittleEndian.AppendUint32(nil, Checksum([]byte("a\nbc\n")))
	want = append(append(want, crc...), "a\nbc\n"...)
	if !bytes.Equal(got, want) {
		t.Errorf("AppendBatch =\n% x\nwant\n% x", got, want)
	}
	// CRC-32C check value from RFC 3720 B.4: 32 bytes of zeros.
	if c := Checksum(make([]byte, 32)); c != 0x8a9136aa {
		t.Errorf("Checksum(32 zero bytes) = %#x, want 0x8a9136aa", c)
	}
}

// TestBatchHostBytes pins the host extension byte by byte: the header length grows by
// 2 and the name, the fixed fields stay, and a reader that knows no extension (one
// that starts the body at the header length, as every reader of batch v1 does) gets
// the same body.
func TestBatchHostBytes(t *testing.T) {
	h := BatchHeader{Lines: 2, Stream: 0x0102030405060708, Offset: 0x1000}
	plain := AppendBatch(nil, h, []byte("a\nbc\n"))
	h.Host = "web1"
	got := AppendBatch(nil, h, []byte("a\nbc\n"))
	want := append([]byte{0x01, 0x00, 0x2e, 0x00}, plain[4:BatchHeaderLen]...) // header length 46
	want = append(want, 0x01, 0x04, 'w', 'e', 'b', '1')                        // tag 1, length 4, "web1"
	want = append(want, "a\nbc\n"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendBatch with host =\n% x\nwant\n% x", got, want)
	}
	if hl := int(binary.LittleEndian.Uint16(got[2:])); string(got[hl:]) != "a\nbc\n" || hl != h.Len() {
		t.Errorf("body after the header length %d: %q (Len %d)", hl, got[hl:], h.Len())
	}
	ph, body, err := ParseBatch(got)
	if err != nil || ph.Host != "web1" || string(body) != "a\nbc\n" {
		t.Errorf("ParseBatch = %+v %q %v", ph, body, err)
	}
	// An unknown extension before the host is skipped.
	unknown := append([]byte{}, got[:BatchHeaderLen]...)
	unknown = append(unknown, 0x09, 0x03, 'x', 'y', 'z', 0x01, 0x04, 'w', 'e', 'b', '2')
	binary.LittleEndian.PutUint16(unknown[2:], uint16(len(unknown)))
	unknown = append(unknown, "a\nbc\n"...)
	if ph, body, err := ParseBatch(unknown); err != nil || ph.Host != "web2" || string(body) != "a\nbc\n" {
		t.Errorf("ParseBatch with an unknown extension = %+v %q %v", ph, body, err)
	}
	// A batch v2 and a loss notice carry it as well.
	z := AppendZstdBatch(nil, h, []byte("a\nbc\n"), []byte("frame"))
	if ph, _, err := ParseBatch(z); err != nil || ph.Host != "web1" || ph.Flags != FlagZstd {
		t.Errorf("ParseBatch(batch v2 with host) = %+v %v", ph, err)
	}
}

func TestValidHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"web1", true}, {"web-1.example.com", true}, {"WEB_1", true}, {strings.Repeat("a", MaxHostLen), true},
		{"", false}, {strings.Repeat("a", MaxHostLen+1), false}, {".", false}, {"..", false}, {".hidden", false},
		{"a..b", false}, {"../etc", false}, {"a/b", false}, {"-x", false}, {"a b", false}, {"a\nb", false},
		{"a:80", false}, {"a\x00", false}, {"h\xc3\xa9", false},
	} {
		if got := ValidHost(tc.name); got != tc.ok {
			t.Errorf("ValidHost(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestParseBatchErrors(t *testing.T) {
	good := AppendBatch(nil, BatchHeader{Lines: 1, Stream: 1}, []byte("x\n"))
	edit := func(fn func(b []byte) []byte) []byte {
		return fn(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{name: "empty", msg: nil, want: ErrShortBatch},
		{name: "header cut", msg: good[:20], want: ErrShortBatch},
		{name: "version 2", msg: edit(func(b []byte) []byte { b[0] = 2; return b }), want: ErrBatchVersion},
		{name: "header length 39", msg: edit(func(b []byte) []byte { b[2] = 39; return b }), want: ErrBatchHeader},
		{name: "unused flag on a batch of lines", msg: edit(func(b []byte) []byte { b[1] = 0x80; return b }), want: ErrBatchHeader},
		{name: "body longer than raw length", msg: append(good[:len(good):len(good)], 'y'), want: ErrBatchHeader},
		{name: "fragment bit alone", msg: edit(func(b []byte) []byte { b[1] = byte(FlagLast); return b }), want: ErrBatchHeader},
		{name: "loss notice with a body", msg: AppendBatch(nil, BatchHeader{Flags: FlagLost, Stream: 1, Span: 2}, []byte("x\n")), want: ErrBatchHeader},
		{name: "loss notice with lines", msg: AppendBatch(nil, BatchHeader{Flags: FlagLost, Lines: 1, Stream: 1, Span: 2}, nil), want: ErrBatchHeader},
		{name: "loss notice of nothing", msg: AppendLoss(nil, 1, 0, 0), want: ErrBatchHeader},
		{name: "settled notice with a body", msg: AppendBatch(nil, BatchHeader{Flags: FlagSettled, Stream: 1, Span: 2}, []byte("x\n")), want: ErrBatchHeader},
		{name: "settled notice of nothing", msg: AppendSettled(nil, 1, 0, 0), want: ErrBatchHeader},
		{name: "settled and lost", msg: AppendBatch(nil, BatchHeader{Flags: FlagLost | FlagSettled, Stream: 1, Span: 2}, nil), want: ErrBatchHeader},
		{name: "unused notice with a body", msg: AppendBatch(nil, BatchHeader{Flags: FlagUnused, Stream: 1, Span: 2}, []byte("x\n")), want: ErrBatchHeader},
		{name: "unused notice of nothing", msg: AppendUnused(nil, 1, 0, 0), want: ErrBatchHeader},
		{name: "unused and lost", msg: AppendBatch(nil, BatchHeader{Flags: FlagLost | FlagUnused, Stream: 1, Span: 2}, nil), want: ErrBatchHeader},
		{name: "loss notice with another flag", msg: AppendBatch(nil, BatchHeader{Flags: FlagLost | FlagFragment | FlagFirst, Stream: 1, Span: 2}, nil), want: ErrBatchHeader},
		{name: "extension past the header length", msg: func() []byte {
			b := AppendBatch(nil, BatchHeader{Lines: 1, Stream: 1, Host: "web1"}, []byte("x\n"))
			b[BatchHeaderLen+1] = 5 // the name is 4 bytes long
			return b
		}(), want: ErrBatchHeader},
		{name: "extension tag without length", msg: func() []byte {
			b := AppendBatch(nil, BatchHeader{Lines: 1, Stream: 1}, []byte("x\n"))
			b[2] = BatchHeaderLen + 1
			return b
		}(), want: ErrBatchHeader},
		{name: "offset overflows", msg: edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[16:], ^uint64(0))
			return b
		}), want: ErrBatchHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseBatch(tc.msg); !errors.Is(err, tc.want) {
				t.Errorf("ParseBatch error %v, want %v", err, tc.want)
			}
		})
	}
	h, body, err := ParseBatch(edit(func(b []byte) []byte { b[len(b)-2] = 'z'; return b }))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.VerifyBody(body); !errors.Is(err, ErrBatchCRC) {
		t.Errorf("VerifyBody of a changed body: %v, want ErrBatchCRC", err)
	}
}

func TestAppendLoss(t *testing.T) {
	msg := AppendLoss(nil, 7, 1<<32, 5625)
	if want := AppendBatch(nil, BatchHeader{Flags: FlagLost, Stream: 7, Offset: 1 << 32, Span: 5625}, nil); !bytes.Equal(msg, want) {
		t.Fatalf("AppendLoss =\n% x\nwant\n% x", msg, want)
	}
	b, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Header.IsLoss() || b.Header.Offset != 1<<32 || b.Header.End() != 1<<32+5625 || len(b.Body) != 0 {
		t.Errorf("Decode(loss notice) = %+v", b)
	}
}

func TestAppendUnused(t *testing.T) {
	msg := AppendUnused(nil, 7, 1<<32, 1<<32)
	if want := AppendBatch(nil, BatchHeader{Flags: FlagUnused, Stream: 7, Offset: 1 << 32, Span: 1 << 32}, nil); !bytes.Equal(msg, want) {
		t.Fatalf("AppendUnused =\n% x\nwant\n% x", msg, want)
	}
	b, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Header.IsUnused() || b.Header.IsLoss() || b.Header.Offset != 1<<32 || b.Header.End() != 1<<33 || len(b.Body) != 0 {
		t.Errorf("Decode(unused notice) = %+v", b)
	}
}

func TestAppendSettled(t *testing.T) {
	msg := AppendSettled(nil, 7, 0, 1<<32+5625)
	if want := AppendBatch(nil, BatchHeader{Flags: FlagSettled, Stream: 7, Span: 1<<32 + 5625}, nil); !bytes.Equal(msg, want) {
		t.Fatalf("AppendSettled =\n% x\nwant\n% x", msg, want)
	}
	b, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Header.IsSettled() || b.Header.IsLoss() || b.Header.End() != 1<<32+5625 || len(b.Body) != 0 {
		t.Errorf("Decode(settled notice) = %+v", b)
	}
}

func FuzzParseBatch(f *testing.F) {
	for _, tc := range batchVectors {
		f.Add(AppendBatch(nil, tc.h, []byte(tc.body)), uint8(tc.h.Flags), tc.h.Offset)
	}
	long := AppendBatchHeader(nil, &BatchHeader{RawLen: 2, Span: 2, CRC: Checksum([]byte("a\n"))})
	long[2] = 48
	f.Add(append(append(long, make([]byte, 8)...), "a\n"...), uint8(0), uint64(0))
	f.Fuzz(func(t *testing.T, msg []byte, flags uint8, offset uint64) {
		// Any bytes: ParseBatch never panics, and what it accepts is self-consistent.
		if h, body, err := ParseBatch(msg); err == nil {
			if h.Flags&FlagZstd == 0 && len(body) != int(h.RawLen) {
				t.Fatalf("accepted body of %d bytes with raw length %d", len(body), h.RawLen)
			}
			if h.End() < h.Offset {
				t.Fatalf("accepted a batch whose end %d is before its offset %d", h.End(), h.Offset)
			}
			_ = h.VerifyBody(body)
			// Re-encoding gives the same fields (a longer header keeps its length field).
			got := AppendBatchHeader(nil, &h)
			if !bytes.Equal(got[:2], msg[:2]) || !bytes.Equal(got[4:BatchHeaderLen], msg[4:BatchHeaderLen]) {
				t.Fatalf("re-encoded header % x differs from % x", got, msg[:BatchHeaderLen])
			}
		}
		// msg as a body: AppendBatch -> ParseBatch -> VerifyBody gives it back.
		h := BatchHeader{Flags: BatchFlags(flags) & (FlagFragment | FlagFirst | FlagLast), Lines: 3, Stream: 9, Offset: offset}
		if h.Flags&FlagFragment == 0 {
			h.Flags = 0
		}
		wire := AppendBatch(nil, h, msg)
		got, body, err := ParseBatch(wire)
		if offset+uint64(len(msg)) < offset {
			if !errors.Is(err, ErrBatchHeader) {
				t.Fatalf("offset overflow accepted: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseBatch(AppendBatch(%+v)): %v", h, err)
		}
		if !bytes.Equal(body, msg) || got.Flags != h.Flags || got.Offset != offset || got.Span != uint64(len(msg)) {
			t.Fatalf("round trip gave %+v %q", got, body)
		}
		err = got.VerifyBody(body)
		endsLine := len(msg) == 0 || msg[len(msg)-1] == '\n'
		lastPiece := h.Flags&FlagFragment == 0 || h.Flags&FlagLast != 0
		if (err == nil) != (endsLine || !lastPiece) {
			t.Fatalf("VerifyBody(%q) with flags %#x: %v", msg, h.Flags, err)
		}
	})
}

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	return bytes.Join(readLines(t, path), nil)
}
