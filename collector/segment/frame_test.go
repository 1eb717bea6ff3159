package segment

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// shipperFrame compresses lines as a shipper does (one single-segment frame).
func shipperFrame(t *testing.T, lines string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll([]byte(lines), nil)
}

// TestSegmentWriteFrame: frames accepted as they are go between the lines written
// before and after them, in order, byte for byte in the file; the segment reads back
// with Cat and with zstd -d; a cut inside a verbatim frame is a torn tail.
func TestSegmentWriteFrame(t *testing.T) {
	dir, root := testsupport.TempRoot(t)
	cfg := testSegmentConfig(t, CompressZstd, newClock())
	cfg.FlushBytes = 64 << 10
	w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	var frames [][]byte
	writeFrame := func(lines string) {
		t.Helper()
		f := shipperFrame(t, lines)
		frames = append(frames, f)
		err := w.WriteFrame(f, len(lines))
		if errors.Is(err, ErrFlushNeeded) {
			if err = flush(w); err == nil {
				err = w.WriteFrame(f, len(lines))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		want.WriteString(lines)
	}
	writeLines := func(lines string) {
		t.Helper()
		if err := write(w, []byte(lines)); err != nil {
			t.Fatal(err)
		}
		want.WriteString(lines)
	}
	writeLines(genLines(0, 10))
	writeFrame(genLines(10, 100)) // after buffered lines: they are sealed into a frame first
	writeFrame(genLines(110, 100))
	writeLines(genLines(210, 5)) // after frames
	if err := flush(w); err != nil {
		t.Fatal(err)
	}
	writeFrame(genLines(215, 1000)) // large: flushes what is buffered first
	writeFrame(genLines(1215, 1000))
	writeLines(genLines(2215, 3))
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(w.m.VerbatimFrames); n != 4 {
		t.Errorf("verbatim frames metric = %v, want 4", n)
	}
	path := filepath.Join(dir, w.Segment())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if !bytes.Contains(data, f) {
			t.Errorf("frame %d is not in the segment as it was given", i)
		}
	}
	got, err := catFile(t, path)
	if err != nil || got != want.String() {
		t.Fatalf("cat: %v; %d bytes, want %d", err, len(got), want.Len())
	}
	if zstdBin, err := exec.LookPath("zstd"); err == nil {
		out, err := exec.Command(zstdBin, "-d", "-c", path).Output()
		if err != nil || !bytes.Equal(out, want.Bytes()) {
			t.Errorf("zstd -d: %v; %d bytes, want %d", err, len(out), want.Len())
		}
	}
	// A crash in the middle of the last verbatim frame: Cat prints every line before
	// it and reports the torn tail.
	last := frames[len(frames)-1]
	at := bytes.LastIndex(data, last)
	torn := filepath.Join(t.TempDir(), "torn.log.zst")
	if err := os.WriteFile(torn, data[:at+len(last)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = catFile(t, torn)
	var te *TornError
	if !errors.As(err, &te) {
		t.Fatalf("cat of a torn verbatim frame: %v, want a TornError", err)
	}
	if wantBefore := genLines(0, 1215); got != wantBefore {
		t.Errorf("cat of a torn segment printed %d bytes, want the %d before the torn frame", len(got), len(wantBefore))
	}
}

// TestSegmentWriteFrameStep: the size step bounds the bytes held, so frames accepted
// as they are count their compressed size, not their raw one: a writer with a 64 KiB
// step takes many frames of 16 KiB of lines (each a few KiB compressed) before it
// asks for a flush, and the lines written around them count by their size.
func TestSegmentWriteFrameStep(t *testing.T) {
	_, root := testsupport.TempRoot(t)
	cfg := testSegmentConfig(t, CompressZstd, newClock())
	cfg.FlushBytes = 64 << 10
	w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abandon()
	held, raw, frames := 0, 0, 0
	for i := 0; ; i++ {
		lines := genLines(i*200, 200)
		f := shipperFrame(t, lines)
		if len(f) >= len(lines)/2 {
			t.Fatalf("frame of %d bytes for %d bytes of lines: the test needs compressible lines", len(f), len(lines))
		}
		err := w.WriteFrame(f, len(lines))
		if errors.Is(err, ErrFlushNeeded) {
			if held+len(f) <= cfg.FlushBytes {
				t.Fatalf("frame %d refused with %d compressed bytes held + %d, within the step %d", i, held, len(f), cfg.FlushBytes)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held, raw, frames = held+len(f), raw+len(lines), frames+1
	}
	if raw <= 2*cfg.FlushBytes || w.Buffered() != raw {
		t.Errorf("%d frames taken, %d raw bytes (Buffered %d), want more than twice the step %d", frames, raw, w.Buffered(), cfg.FlushBytes)
	}
	// Lines count by their size: with the step nearly full of frames, a write of lines
	// larger than what is left is refused.
	if err := w.Write([]byte(genLines(0, 1000))); !errors.Is(err, ErrFlushNeeded) {
		t.Errorf("Write of %d bytes of lines with %d of %d held = %v, want ErrFlushNeeded", len(genLines(0, 1000)), held, cfg.FlushBytes, err)
	}
}

func TestSegmentWriteFrameRefused(t *testing.T) {
	for _, c := range []Compression{CompressGzip, CompressNone} {
		_, root := testsupport.TempRoot(t)
		w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, testSegmentConfig(t, c, newClock()), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(shipperFrame(t, "a\n"), 2); !errors.Is(err, ErrNotZstd) {
			t.Errorf("%s: WriteFrame = %v, want ErrNotZstd", c, err)
		}
		w.Close()
	}
	// While a prepared frame waits, nothing is accepted; Abandon drops frames too.
	_, root := testsupport.TempRoot(t)
	w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, testSegmentConfig(t, CompressZstd, newClock()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(shipperFrame(t, "a\n"), 2); err != nil {
		t.Fatal(err)
	}
	if w.Buffered() != 2 {
		t.Errorf("Buffered = %d, want 2", w.Buffered())
	}
	if err := w.Close(); !errors.Is(err, ErrFlushNeeded) {
		t.Errorf("Close with a frame accepted = %v, want ErrFlushNeeded", err)
	}
	if _, _, err := w.Prepare(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(shipperFrame(t, "b\n"), 2); !errors.Is(err, ErrFlushNeeded) {
		t.Errorf("WriteFrame with a prepared frame = %v, want ErrFlushNeeded", err)
	}
	if err := w.Abandon(); err != nil || w.Buffered() != 0 {
		t.Errorf("Abandon = %v, Buffered %d", err, w.Buffered())
	}
}

// TestSegmentWriteFramePeriod: a frame accepted as it is belongs to the period of the
// name when it was accepted, like lines: one that arrives in the next period is
// refused (ErrFlushNeeded) until what is buffered was written, and then goes to the
// next period's segment.
func TestSegmentWriteFramePeriod(t *testing.T) {
	dir, root := testsupport.TempRoot(t)
	clk := newClock()
	w, err := NewWriter(RootFS(root), mustTemplate(t, "www-%H%M.log.zst"), Names{Group: "www"}, testSegmentConfig(t, CompressZstd, clk), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := genLines(0, 10), genLines(10, 10)
	if err := w.Write([]byte(first[:len(first)/2])); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(shipperFrame(t, first[len(first)/2:]), len(first)-len(first)/2); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	f2 := shipperFrame(t, second)
	if err := w.WriteFrame(f2, len(second)); !errors.Is(err, ErrFlushNeeded) {
		t.Fatalf("WriteFrame in the next period = %v, want ErrFlushNeeded", err)
	}
	if err := flush(w); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(f2, len(second)); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"www-0304.log.zst": first, "www-0305.log.zst": second} {
		got, err := catFile(t, filepath.Join(dir, name))
		if err != nil || got != want {
			t.Errorf("%s: %v; %q, want %q", name, err, got, want)
		}
	}
}
