package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rawFrame builds, by hand, the smallest zstd frame holding raw: single segment, the
// content size in one byte (raw is below 256 bytes), one raw last block.
func rawFrame(raw string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	b = append(b, 0x20, byte(len(raw))) // single segment, FCS in 1 byte; the size
	bh := uint32(len(raw))<<3 | 1       // raw block, last
	b = append(b, byte(bh), byte(bh>>8), byte(bh>>16))
	return append(b, raw...)
}

// newEncoder returns an encoder configured as the shipper's (single segment: the content
// size is in every frame header, however small the frame).
func newEncoder(t testing.TB, crc bool) *zstd.Encoder {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(crc), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func newDecoder(t testing.TB) *zstd.Decoder {
	t.Helper()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	return dec
}

// TestZstdBatchGolden pins a batch v2 byte by byte: a hand-made frame with one raw
// block, which any zstd decoder reads.
func TestZstdBatchGolden(t *testing.T) {
	const raw = "a\nbc\n"
	msg := AppendZstdBatch(nil, BatchHeader{Lines: 2, Stream: 0x0102030405060708, Offset: 0x1000}, []byte(raw), rawFrame(raw))
	path := filepath.Join("testdata", "batch", "zstd_two_lines.golden")
	checkGolden(t, path, annotate(msg))
	if *update {
		return
	}
	wire := unannotate(t, readGolden(t, path))
	want := []byte{
		0x01, 0x01, 0x28, 0x00, // version 1, FlagZstd, header length 40
		0x02, 0x00, 0x00, 0x00, // 2 lines
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // stream id
		0x00, 0x10, 0, 0, 0, 0, 0, 0, // offset 0x1000
		0x05, 0, 0, 0, 0, 0, 0, 0, // span 5
		0x05, 0, 0, 0, // raw length 5 (decompressed)
	}
	want = binary.LittleEndian.AppendUint32(want, Checksum([]byte(raw))) // CRC-32C of the raw lines
	want = append(want,
		0x28, 0xb5, 0x2f, 0xfd, // zstd magic
		0x20, 0x05, // frame header descriptor: single segment, 1-byte content size; 5
		0x29, 0x00, 0x00, // block header: last, raw, 5 bytes
	)
	want = append(want, raw...)
	if !bytes.Equal(wire, want) {
		t.Fatalf("golden batch v2 =\n% x\nwant\n% x", wire, want)
	}
	d := Decoder{Decompressor: newDecoder(t)}
	b, err := d.Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Body) != raw || !bytes.Equal(b.Frame, wire[BatchHeaderLen:]) || b.Header.Flags != FlagZstd || b.Header.Lines != 2 {
		t.Errorf("Decode(batch v2) = %+v", b)
	}
}

// TestCheckFrameEncoder checks that every frame the shipper's encoder makes (EncodeAll,
// fastest, with and without checksum) is a batch v2 body, from a few bytes to 1 MiB.
func TestCheckFrameEncoder(t *testing.T) {
	dec := newDecoder(t)
	line := "203.0.113.9 - - [28/Nov/2026:10:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 512\n"
	for _, crc := range []bool{false, true} {
		enc := newEncoder(t, crc)
		for _, n := range []int{1, 3, 20, 300, 1000, 13000, 1 << 16, 300000, 1 << 20} {
			raw := []byte(strings.Repeat(line, n/len(line)+1)[:n])
			frame := enc.EncodeAll(raw, nil)
			fr, err := CheckFrame(frame, uint32(len(raw)))
			if err != nil {
				t.Fatalf("crc %v, %d bytes: %v", crc, n, err)
			}
			if fr.ContentSize != uint64(n) || fr.Checksum != crc {
				t.Errorf("crc %v, %d bytes: CheckFrame = %+v", crc, n, fr)
			}
			if got, err := dec.DecodeAll(frame, nil); err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("decode: %v", err)
			}
			// Concatenated frames are one valid stream: what a segment holds.
			two := append(append([]byte(nil), frame...), frame...)
			if got, err := dec.DecodeAll(two, nil); err != nil || !bytes.Equal(got, append(append([]byte(nil), raw...), raw...)) {
				t.Fatalf("decode two frames: %v", err)
			}
		}
	}
}

func TestCheckFrameRejects(t *testing.T) {
	good := rawFrame("abc\n")
	enc := newEncoder(t, true)
	var stream bytes.Buffer
	w, err := zstd.NewWriter(&stream, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc\n"))
	w.Close()
	edit := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	skippable := append(binary.LittleEndian.AppendUint32(nil, 0x184D2A50), 0, 0, 0, 0)
	tests := []struct {
		name   string
		body   []byte
		rawLen uint32
	}{
		{name: "empty", body: nil, rawLen: 0},
		{name: "not zstd", body: []byte("abc\nabc\n"), rawLen: 8},
		{name: "wrong content size", body: good, rawLen: 5},
		{name: "two frames", body: append(append([]byte(nil), good...), good...), rawLen: 8},
		{name: "byte after", body: append(append([]byte(nil), good...), 0), rawLen: 4},
		{name: "skippable frame after", body: append(append([]byte(nil), good...), skippable...), rawLen: 4},
		{name: "cut block", body: good[:len(good)-1], rawLen: 4},
		{name: "cut header", body: good[:5], rawLen: 4},
		{name: "reserved bit", body: edit(func(b []byte) []byte { b[4] |= 1 << 3; return b }), rawLen: 4},
		{name: "dictionary", body: edit(func(b []byte) []byte { b[4] |= 1; return b }), rawLen: 4},
		{name: "reserved block type", body: edit(func(b []byte) []byte { b[6] |= 3 << 1; return b }), rawLen: 4},
		{name: "checksum cut", body: func() []byte { f := enc.EncodeAll([]byte("abc\n"), nil); return f[:len(f)-1] }(), rawLen: 4},
		{name: "stream without content size", body: stream.Bytes(), rawLen: 4},
		{name: "blocks too small for the size", body: edit(func(b []byte) []byte { b[5] = 200; return b }), rawLen: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CheckFrame(tc.body, tc.rawLen); !errors.Is(err, ErrFrame) {
				t.Errorf("CheckFrame = %v, want ErrFrame", err)
			}
		})
	}
}

// TestDecodeFrame: Batch.Frame is set for a batch v2 only.
func TestDecodeFrame(t *testing.T) {
	d := Decoder{Decompressor: newDecoder(t)}
	raw := []byte("x\ny\n")
	for _, tc := range []struct {
		name  string
		msg   []byte
		frame bool
	}{
		{name: "v1", msg: AppendBatch(nil, BatchHeader{Lines: 2, Stream: 1}, raw)},
		{name: "v2", msg: AppendZstdBatch(nil, BatchHeader{Lines: 2, Stream: 1}, raw, newEncoder(t, false).EncodeAll(raw, nil)), frame: true},
		{name: "v1 zstd, two frames", msg: AppendZstdBatch(nil, BatchHeader{Lines: 2, Stream: 1}, raw, append(rawFrame("x\n"), rawFrame("y\n")...))},
	} {
		b, err := d.Decode(tc.msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(b.Body, raw) || (b.Frame != nil) != tc.frame {
			t.Errorf("%s: Decode = %q frame %x", tc.name, b.Body, b.Frame)
		}
		if tc.frame && !bytes.Equal(b.Frame, tc.msg[BatchHeaderLen:]) {
			t.Errorf("%s: Frame is not the body", tc.name)
		}
	}
}

func FuzzCheckFrame(f *testing.F) {
	enc := newEncoder(f, true)
	dec := newDecoder(f)
	f.Add(rawFrame("a\nbc\n"), []byte("a\nbc\n"))
	f.Add(enc.EncodeAll([]byte(strings.Repeat("GET / 200\n", 50)), nil), []byte("x\n"))
	f.Add(append(rawFrame("a\n"), rawFrame("b\n")...), []byte{})
	f.Fuzz(func(t *testing.T, body, raw []byte) {
		// Any bytes: CheckFrame never panics, and what it accepts is one frame that
		// declares rawLen and ends where body ends.
		for _, n := range []uint32{uint32(len(raw)), uint32(len(body))} {
			if fr, err := CheckFrame(body, n); err == nil {
				if fr.ContentSize != uint64(n) {
					t.Fatalf("accepted content size %d for raw length %d", fr.ContentSize, n)
				}
				if got, err := dec.DecodeAll(body, nil); err == nil && uint64(len(got)) != fr.ContentSize {
					t.Fatalf("accepted frame decodes to %d bytes, declares %d", len(got), fr.ContentSize)
				}
			}
		}
		// Any lines: the encoder's frame passes and decodes back.
		frame := enc.EncodeAll(raw, nil)
		if len(raw) == 0 {
			return // EncodeAll of nothing writes nothing: the shipper never sends an empty batch
		}
		if _, err := CheckFrame(frame, uint32(len(raw))); err != nil {
			t.Fatalf("encoder frame of %d bytes: %v", len(raw), err)
		}
	})
}
