package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// writeFrames writes the chunks as one flushed frame each and returns the segment
// bytes and the file offset where each frame ends.
func writeFrames(t testing.TB, c Compression, chunks []string) ([]byte, []int64) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	cfg := DefaultConfig()
	cfg.Compression = c
	w, err := NewWriter(RootFS(root), mustTemplate(t, "seg"), Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for _, ch := range chunks {
		if err := write(w, []byte(ch)); err != nil {
			t.Fatal(err)
		}
		if err := flush(w); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, w.good)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "seg"))
	if err != nil {
		t.Fatal(err)
	}
	return b, ends
}

// TestCatSegmentCrash simulates kill -9 in the middle of writing the last frame: the
// segment is cut at every byte position of that frame. Cat must print every
// line of the complete frames, end on a line boundary, and report ErrTornFrame.
func TestCatSegmentCrash(t *testing.T) {
	chunks := []string{genLines(0, 30), genLines(30, 1), genLines(31, 40), genLines(71, 60)}
	for _, c := range []Compression{CompressZstd, CompressGzip, CompressNone} {
		t.Run(string(c), func(t *testing.T) {
			seg, ends := writeFrames(t, c, chunks)
			all := strings.Join(chunks, "")
			complete := strings.Join(chunks[:len(chunks)-1], "")
			lastStart := ends[len(ends)-2]
			// The whole segment reads back cleanly.
			var out bytes.Buffer
			if err := Cat(bytes.NewReader(seg), &out); err != nil || out.String() != all {
				t.Fatalf("intact segment: err %v, %d bytes", err, out.Len())
			}
			for cut := lastStart; cut < int64(len(seg)); cut++ {
				out.Reset()
				err := Cat(bytes.NewReader(seg[:cut]), &out)
				got := out.String()
				if !strings.HasPrefix(got, complete) {
					t.Fatalf("cut at %d: lines of complete frames missing (%d of %d bytes)", cut, len(got), len(complete))
				}
				if !strings.HasPrefix(all, got) || (got != "" && !strings.HasSuffix(got, "\n")) {
					t.Fatalf("cut at %d: output is not a line-aligned prefix of the input", cut)
				}
				if cut == lastStart {
					if err != nil || got != complete {
						t.Fatalf("cut at a frame boundary: err %v, %d bytes", err, len(got))
					}
					continue
				}
				if c == CompressNone && strings.HasSuffix(string(seg[:cut]), "\n") {
					// A plain segment cut at a line end is indistinguishable from a whole one.
					if err != nil {
						t.Fatalf("cut at %d (line end): %v", cut, err)
					}
					continue
				}
				if !errors.Is(err, ErrTornFrame) {
					t.Fatalf("cut at %d: err = %v, want ErrTornFrame", cut, err)
				}
				te, ok := errors.AsType[*TornError](err)
				if !ok || te.InputOffset != cut || te.OutputOffset != int64(len(got)) {
					t.Fatalf("cut at %d: torn error %+v, output %d bytes", cut, te, len(got))
				}
			}
		})
	}
}

func TestCatSegmentFormats(t *testing.T) {
	const text = "a b c\nd e f\n"
	var gz bytes.Buffer
	for range 2 { // two members
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(text))
		zw.Close()
	}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zs := enc.EncodeAll([]byte(text), nil)
	zs = enc.EncodeAll([]byte(text), zs)
	enc.Close()
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{name: "empty", in: nil, want: ""},
		{name: "plain", in: []byte(text + text), want: text + text},
		{name: "plain torn", in: []byte(text + "partial"), want: text, wantErr: ErrTornFrame},
		{name: "gzip members", in: gz.Bytes(), want: text + text},
		{name: "zstd frames", in: zs, want: text + text},
		{name: "zstd garbage after frames", in: append(bytes.Clone(zs), "garbage!"...), want: text + text, wantErr: ErrCorruptSegment},
		{name: "gzip corrupt", in: append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xff}, 20)...), wantErr: ErrCorruptSegment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Cat(bytes.NewReader(tc.in), &out)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil || tc.want != "" {
				if out.String() != tc.want {
					t.Errorf("out = %q, want %q", out.String(), tc.want)
				}
			}
		})
	}
}

func TestCatSegmentProgress(t *testing.T) {
	seg, _ := writeFrames(t, CompressZstd, []string{genLines(0, 2000), genLines(2000, 2000)})
	var last int64
	calls := 0
	err := CatWith(bytes.NewReader(seg), &bytes.Buffer{}, CatOptions{Progress: func(n int64) {
		if n < last {
			t.Errorf("progress went back from %d to %d", last, n)
		}
		last = n
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != int64(len(seg)) {
		t.Errorf("progress: %d calls, last %d, segment %d bytes", calls, last, len(seg))
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestCatSegmentOutputError(t *testing.T) {
	seg, _ := writeFrames(t, CompressZstd, []string{genLines(0, 10)})
	if err := Cat(bytes.NewReader(seg), errWriter{}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func FuzzCatSegment(f *testing.F) {
	for _, c := range []Compression{CompressZstd, CompressGzip, CompressNone} {
		seg, ends := writeFrames(f, c, []string{"a\nb\n", genLines(0, 3), "c\n"})
		f.Add(seg)
		f.Add(seg[:ends[1]+3])
	}
	f.Add([]byte{0x28, 0xB5, 0x2F, 0xFD})
	f.Add([]byte{0x1F, 0x8B})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		err := Cat(bytes.NewReader(in), &out)
		if err == nil {
			return
		}
		if errors.Is(err, ErrNotSegment) && out.Len() == 0 {
			return
		}
		if !errors.Is(err, ErrTornFrame) && !errors.Is(err, ErrCorruptSegment) {
			t.Fatalf("unexpected error class: %v", err)
		}
		// Lines longer than maxHeldLine are streamed in pieces and may end mid-line.
		if errors.Is(err, ErrTornFrame) && out.Len() > 0 && out.Len() < maxHeldLine && out.Bytes()[out.Len()-1] != '\n' {
			t.Fatalf("torn output does not end on a line boundary")
		}
	})
}

// TestCatSkipsDamagedFrame damages one frame in the middle of a segment (its bytes
// overwritten, or cut out): Cat writes every line of the other frames, nothing of the
// damaged one, and reports one skipped frame; a torn tail after it is still torn.
func TestCatSkipsDamagedFrame(t *testing.T) {
	chunks := []string{genLines(0, 30), genLines(30, 50), genLines(80, 40), genLines(120, 20)}
	for _, c := range []Compression{CompressZstd, CompressGzip} {
		seg, ends := writeFrames(t, c, chunks)
		starts := append([]int64{0}, ends[:len(ends)-1]...)
		want := chunks[0] + chunks[2] + chunks[3]
		for _, tc := range []struct {
			name string
			in   []byte
		}{
			{"overwritten", func() []byte {
				b := bytes.Clone(seg)
				for i := starts[1] + 12; i < ends[1]-6; i++ {
					b[i] ^= 0x5a
				}
				return b
			}()},
			{"header overwritten", func() []byte {
				b := bytes.Clone(seg)
				for i := starts[1] + 4; i < starts[1]+12; i++ {
					b[i] = 0xff
				}
				return b
			}()},
			{"half cut out", append(bytes.Clone(seg[:starts[1]+(ends[1]-starts[1])/2]), seg[ends[1]:]...)},
		} {
			t.Run(string(c)+" "+tc.name, func(t *testing.T) {
				var out bytes.Buffer
				err := Cat(bytes.NewReader(tc.in), &out)
				if out.String() != want {
					t.Errorf("output %d bytes, want %d (every line but the damaged frame's)", out.Len(), len(want))
				}
				se, ok := errors.AsType[*SkippedError](err)
				if !ok || se.Frames != 1 || se.First != starts[1] || !errors.Is(err, ErrCorruptSegment) || errors.Is(err, ErrTornFrame) {
					t.Errorf("err %v, want one skipped frame at %d", err, starts[1])
				}
				// And torn after the damage: both are reported.
				out.Reset()
				err = Cat(bytes.NewReader(tc.in[:len(tc.in)-3]), &out)
				if out.String() != chunks[0]+chunks[2] || !errors.Is(err, ErrTornFrame) || !errors.Is(err, ErrCorruptSegment) {
					t.Errorf("torn after damage: err %v, %d bytes", err, out.Len())
				}
			})
		}
	}
}

// TestCatNotSegment: random bytes are not a segment, and nothing is written.
func TestCatNotSegment(t *testing.T) {
	b := make([]byte, 10000)
	for i := range b {
		b[i] = byte(i*7919 + i*i*31 + 17)
	}
	var out bytes.Buffer
	if err := Cat(bytes.NewReader(b), &out); !errors.Is(err, ErrNotSegment) || out.Len() != 0 {
		t.Errorf("random bytes: err %v, %d bytes written", err, out.Len())
	}
	// Log text with an odd NUL or escape is text.
	text := strings.Repeat("203.0.113.9 - - [28/Nov/2026:10:00:00 +0000] \"GET /\x00 HTTP/1.1\" 200 512 \x1b\n", 50)
	out.Reset()
	if err := Cat(strings.NewReader(text), &out); err != nil || out.String() != text {
		t.Errorf("text: err %v", err)
	}
}
