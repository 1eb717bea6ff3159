package harness

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestZstdFrameLen(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var frames [][]byte
	for _, plain := range [][]byte{
		[]byte("h1 0 a line\n"),
		bytes.Repeat([]byte("x"), 300000),                         // RLE blocks
		bytes.Repeat([]byte("h2 1 another line, longer\n"), 9000), // several compressed blocks
		nil,
	} {
		frames = append(frames, enc.EncodeAll(plain, nil))
	}
	skip := binary.LittleEndian.AppendUint32(nil, zstdSkippableMagic|3)
	skip = binary.LittleEndian.AppendUint32(skip, 5)
	frames = append(frames, append(skip, "12345"...))
	var stream []byte
	for _, f := range frames {
		stream = append(stream, f...)
	}
	for _, f := range frames {
		for cut := 0; cut < len(f); cut += max(1, len(f)/97) {
			if n, err := zstdFrameLen(stream[:cut]); n != 0 || err != nil {
				t.Fatalf("prefix of %d of a %d-byte frame: got %d, %v; want 0, nil", cut, len(f), n, err)
			}
		}
		n, err := zstdFrameLen(stream)
		if n != len(f) || err != nil {
			t.Fatalf("frame of %d bytes: got %d, %v", len(f), n, err)
		}
		stream = stream[n:]
	}
	if _, err := zstdFrameLen([]byte("plain text")); err == nil {
		t.Fatal("plain text: want an error")
	}
}
