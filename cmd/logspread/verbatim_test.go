package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// collectSendZstd multicasts lines as batch v2 (one zstd frame each, as `ship`
// compresses) of stream 42 from offset 0, n lines per batch, calling between after
// each; it stops when between returns false. It returns the frames sent.
func collectSendZstd(t *testing.T, addr string, lines []byte, n int, between func(i int) bool) [][]byte {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var frames [][]byte
	for off, i := 0, 0; off < len(lines); i++ {
		end, k := off, 0
		for end < len(lines) && k < n {
			end += bytes.IndexByte(lines[end:], '\n') + 1
			k++
		}
		body := lines[off:end]
		frame := enc.EncodeAll(body, nil)
		frames = append(frames, frame)
		msg := envelope.AppendZstdBatch(nil, envelope.BatchHeader{Stream: 42, Offset: uint64(off), Lines: uint32(k)}, body, frame)
		if err := conn.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, msg); err != nil {
			t.Fatal(err)
		}
		off = end
		if !between(i) {
			break
		}
	}
	return frames
}

// TestCollectProcessKillVerbatim: `logspread collect` appends batch v2 frames as they
// are; killed with SIGKILL while they stream in, it restarts, recovers the frames in
// flight (cut off a torn one), and with the whole stream resent (cut differently:
// overlapping batches are decoded, wholly new ones appended as they are) every line
// is in the segments exactly once and no segment is torn.
func TestCollectProcessKillVerbatim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	tmp := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "s")
	out, state := filepath.Join(tmp, "out"), filepath.Join(tmp, "state")
	var lines []byte
	for i := range 60000 {
		lines = fmt.Appendf(lines, "10.%d.%d.%d - - [01/Jan/2026:00:00:00 +0000] \"GET /v/%06d HTTP/1.1\" 200 %d\n", i%7, i%250, i%200, i, 100+i%900)
	}

	p := startCollectProc(t, sock, out, state)
	seg := filepath.Join(out, "www.log.zst")
	killed := false
	frames1 := collectSendZstd(t, p.addr, lines[:len(lines)/2], 500, func(i int) bool {
		switch {
		case i < 10:
			return true
		case i == 10:
			testsupport.Eventually(t, func() bool {
				st, err := os.Stat(seg)
				return err == nil && st.Size() > 0
			}, "first frame")
			return true
		case i < 20:
			return true // the kill lands while frames stream in
		}
		p.Kill(t)
		killed = true
		return false
	})
	if !killed {
		t.Fatal("not killed before the end of the first half")
	}
	got1, _, _ := catAll(t, out)
	if len(got1) == 0 || got1[len(got1)-1] != '\n' || !bytes.HasPrefix(lines, got1) {
		t.Fatalf("after SIGKILL: %d bytes, not a line-aligned prefix of what was sent", len(got1))
	}
	first, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(first, frames1[0]) {
		t.Error("the first frame sent is not the start of the segment: not appended as it was")
	}

	p = startCollectProc(t, sock, out, state)
	frames2 := collectSendZstd(t, p.addr, lines, 700, func(int) bool { return true })
	last := lines[bytes.LastIndexByte(lines[:len(lines)-1], '\n')+1:]
	testsupport.Eventually(t, func() bool {
		got, _, _ := catAll(t, out)
		return bytes.HasSuffix(got, last)
	}, "last line written")
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("collect after SIGTERM: exit code %d\n%s", code, p.Stderr.String())
	}
	got, segments, torn := catAll(t, out)
	if !bytes.Equal(got, lines) {
		t.Fatalf("final output: %d bytes, want %d (every line exactly once)%s", len(got), len(lines), describeDiff(got, lines))
	}
	if torn > 0 {
		t.Fatalf("%d of %d segments torn, want none (the restart cuts a torn frame off)", torn, segments)
	}
	// The restart appends to the segment it was writing (or a new one, by the naming
	// rules): read every segment of the log.
	names, err := filepath.Glob(filepath.Join(out, "www.log*.zst"))
	if err != nil || len(names) == 0 {
		t.Fatalf("segments: %v, %v", names, err)
	}
	var all []byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, frames2[len(frames2)-1]) {
		t.Error("the last frame of the resend (wholly new) is not in the segments as it was sent")
	}
}
