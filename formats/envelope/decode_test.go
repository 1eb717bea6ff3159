package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// upperCodec is a stand-in compression for tests: "compressed" bodies are the raw
// bytes upper-cased with a '!' prefix; DecodeAll lower-cases them back.
type upperCodec struct{ calls int }

func (u *upperCodec) DecodeAll(src, dst []byte) ([]byte, error) {
	u.calls++
	if len(src) == 0 || src[0] != '!' {
		return dst, errors.New("not compressed")
	}
	return append(dst, bytes.ToLower(src[1:])...), nil
}

// compressedBatch builds a FlagZstd batch whose body upperCodec decodes to raw.
func compressedBatch(h BatchHeader, raw string) []byte {
	h.Flags |= FlagZstd
	h.RawLen = uint32(len(raw))
	h.CRC = Checksum([]byte(raw))
	if h.Span == 0 {
		h.Span = uint64(len(raw))
	}
	return append(AppendBatchHeader(nil, &h), "!"+string(bytes.ToUpper([]byte(raw)))...)
}

func TestDecode(t *testing.T) {
	whole := BatchHeader{Lines: 2, Stream: 7, Offset: 100}
	edit := func(msg []byte, fn func(b []byte)) []byte {
		b := append([]byte(nil), msg...)
		fn(b)
		return b
	}
	good := AppendBatch(nil, whole, []byte("a\nb\n"))
	tests := []struct {
		name   string
		msg    []byte
		dec    Decoder
		want   error  // nil: decodes to body
		body   string // the raw body
		header bool   // on error: the header is returned
	}{
		{name: "whole lines", msg: good, body: "a\nb\n"},
		{name: "empty", msg: AppendBatch(nil, BatchHeader{Stream: 1}, nil), body: ""},
		{name: "first fragment", msg: AppendBatch(nil, BatchHeader{Flags: FlagFragment | FlagFirst, Stream: 1}, []byte("abc")), body: "abc"},
		{name: "last fragment", msg: AppendBatch(nil, BatchHeader{Flags: FlagFragment | FlagLast, Lines: 1, Stream: 1}, []byte("z\n")), body: "z\n"},
		{name: "compressed", msg: compressedBatch(whole, "x\ny\n"), dec: Decoder{Decompressor: &upperCodec{}}, body: "x\ny\n"},

		{name: "short", msg: good[:10], want: ErrShortBatch},
		{name: "bad checksum", msg: edit(good, func(b []byte) { b[len(b)-2] = 'c' }), want: ErrBatchCRC, header: true},
		{name: "checksum of the header", msg: edit(good, func(b []byte) { binary.LittleEndian.PutUint32(b[36:], 0) }), want: ErrBatchCRC, header: true},
		{name: "no line end", msg: AppendBatch(nil, BatchHeader{Lines: 1, Stream: 1}, []byte("a")), want: ErrBatchHeader, header: true},
		{name: "line count", msg: AppendBatch(nil, BatchHeader{Lines: 3, Stream: 1}, []byte("a\nb\n")), want: ErrBatchHeader, header: true},
		{name: "fragment with a line", msg: AppendBatch(nil, BatchHeader{Flags: FlagFragment | FlagFirst, Lines: 1, Stream: 1}, []byte("abc")), want: ErrBatchHeader, header: true},
		{name: "compressed without decompressor", msg: compressedBatch(whole, "x\ny\n"), want: ErrBatchBody, header: true},
		{name: "does not decompress", msg: edit(compressedBatch(whole, "x\ny\n"), func(b []byte) { b[BatchHeaderLen] = '?' }),
			dec: Decoder{Decompressor: &upperCodec{}}, want: ErrBatchBody, header: true},
		{name: "raw length above the bound", msg: compressedBatch(whole, "x\ny\n"),
			dec: Decoder{Decompressor: &upperCodec{}, MaxRawLen: 3}, want: ErrBatchBody, header: true},
		{name: "compressed body, checksum", msg: edit(compressedBatch(whole, "x\ny\n"), func(b []byte) { b[BatchHeaderLen+1] = 'Z' }),
			dec: Decoder{Decompressor: &upperCodec{}}, want: ErrBatchCRC, header: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.dec.Decode(tc.msg)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if string(b.Body) != tc.body || b.Header.RawLen != uint32(len(tc.body)) {
					t.Errorf("Decode = %+v %q, want body %q", b.Header, b.Body, tc.body)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode error %v, want %v", err, tc.want)
			}
			if b.Body != nil {
				t.Errorf("a bad batch came with a body %q", b.Body)
			}
			if tc.header && (b.Header.Stream == 0 || b.Header.RawLen == 0 && b.Header.Lines == 0) {
				t.Errorf("header %+v not returned with a body error", b.Header)
			}
		})
	}
	// The package-level Decode is a zero Decoder.
	if b, err := Decode(good); err != nil || string(b.Body) != "a\nb\n" {
		t.Errorf("Decode(good) = %q, %v", b.Body, err)
	}
	if _, err := Decode(compressedBatch(whole, "x\n")); !errors.Is(err, ErrBatchBody) {
		t.Errorf("Decode(compressed) = %v, want ErrBatchBody", err)
	}
}

// TestDecoderReusesBuffer checks that decompressed bodies share one buffer, and
// uncompressed bodies alias the message.
func TestDecoderReusesBuffer(t *testing.T) {
	d := Decoder{Decompressor: &upperCodec{}}
	msg := compressedBatch(BatchHeader{Lines: 1, Stream: 1}, "first line\n")
	b1, err := d.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	p := &b1.Body[0]
	b2, err := d.Decode(compressedBatch(BatchHeader{Lines: 1, Stream: 1}, "second\n"))
	if err != nil {
		t.Fatal(err)
	}
	if &b2.Body[0] != p {
		t.Error("the second decompressed body does not reuse the buffer")
	}
	plain := AppendBatch(nil, BatchHeader{Lines: 1, Stream: 1}, []byte("p\n"))
	b3, err := d.Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	if &b3.Body[0] != &plain[BatchHeaderLen] {
		t.Error("an uncompressed body was copied")
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range batchVectors {
		f.Add(AppendBatch(nil, tc.h, []byte(tc.body)))
	}
	f.Add(compressedBatch(BatchHeader{Lines: 2, Stream: 3}, "x\ny\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := Decoder{Decompressor: &upperCodec{}, MaxRawLen: 1 << 16}
		b, err := d.Decode(msg)
		if err != nil {
			return
		}
		// What Decode accepts is verified: length, checksum, line count.
		h := b.Header
		if len(b.Body) != int(h.RawLen) || Checksum(b.Body) != h.CRC {
			t.Fatalf("accepted %+v with a body of %d bytes, crc %#x", h, len(b.Body), Checksum(b.Body))
		}
		n := bytes.Count(b.Body, []byte{'\n'})
		if h.Flags&FlagFragment == 0 && n != int(h.Lines) || h.Flags&FlagFragment != 0 && n > 1 {
			t.Fatalf("accepted %+v with %d line ends", h, n)
		}
	})
}
