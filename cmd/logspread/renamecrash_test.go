package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// sendRange multicasts lines[from:to] (line-aligned) as batches of stream 42, n lines
// per batch, each at its offset in lines: a shipper's first send or its resend.
func sendRange(t *testing.T, addr string, lines []byte, from, to, n int) {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for off := from; off < to; {
		end, k := off, 0
		for end < to && k < n {
			end += bytes.IndexByte(lines[end:], '\n') + 1
			k++
		}
		msg := envelope.AppendBatch(nil, envelope.BatchHeader{Stream: 42, Offset: uint64(off), Lines: uint32(k)}, lines[off:end])
		if err := conn.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, msg); err != nil {
			t.Fatal(err)
		}
		off = end
	}
}

// TestCollectRenameThenKill: logrotate renames the collector's segment right after a
// flush wrote a frame to it, and the collector is killed with SIGKILL before its next
// state save (whose intent still names the frame under the old name). The restart
// finds the segment under its new name by its identity, so the frame's lines count as
// written: a resend of the whole stream writes every line exactly once over the
// renamed segment and the new one. With and without logrotate's `create` (a new empty
// file under the name, which the restart must leave alone and append to).
func TestCollectRenameThenKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, create := range []bool{false, true} {
		t.Run(fmt.Sprintf("create=%v", create), func(t *testing.T) { testRenameThenKill(t, create) })
	}
}

func testRenameThenKill(t *testing.T, create bool) {
	tmp := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "s")
	out, state := filepath.Join(tmp, "out"), filepath.Join(tmp, "state")
	var lines []byte
	for i := range 3000 {
		lines = fmt.Appendf(lines, "192.0.2.%d - - [30/Nov/2026:10:00:00 +0000] \"GET /rename/%06d HTTP/1.1\" 200 %d\n", i%250, i, 100+i%900)
	}
	lineEnd := func(n int) int { // the offset after the first n lines
		off := 0
		for range n {
			off += bytes.IndexByte(lines[off:], '\n') + 1
		}
		return off
	}
	first, second := lineEnd(1000), lineEnd(2000)

	// Frames are written only on SIGHUP: the flush interval outlasts the test, so
	// nothing saves the state after the frame but before the kill.
	args := []string{"--flush-interval", "1h", "--metrics-addr", "127.0.0.1:0"}
	p := startCollectProc(t, sock, out, state, args...)
	metrics := p.MetricsAddr(t)
	flush := func(upTo, round int) {
		t.Helper()
		testsupport.WaitMetric(t, metrics, `logspread_collector_group_lines_total{group="www"}`, func(v float64) bool { return v >= float64(bytes.Count(lines[:upTo], []byte("\n"))) })
		p.Signal(t, syscall.SIGHUP)
		testsupport.WaitMetric(t, metrics, "logspread_collector_reopen_requests_total", func(v float64) bool { return v >= float64(round) })
		testsupport.EventuallyErr(t, func() error {
			got, _, _ := catAll(t, out)
			if !bytes.Equal(got, lines[:upTo]) {
				return fmt.Errorf("segments hold %d bytes, want %d", len(got), upTo)
			}
			return nil
		})
	}
	sendRange(t, p.addr, lines, 0, first, 50)
	flush(first, 1)
	sendRange(t, p.addr, lines, first, second, 50)
	flush(second, 2)
	// The crash window: the second frame is on disk, and the state file's intent still
	// names it (segment, sizes, identity).
	st, err := collector.LoadState(filepath.Join(state, collector.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Intent) != 1 || st.Intent[0].Segment != "www.log.zst" || st.Intent[0].Before == 0 {
		t.Fatalf("state file after the second flush: intent %+v, want the second frame of www.log.zst", st.Intent)
	}

	// logrotate renames the segment (www.log.zst -> www.log.1.zst).
	conf := filepath.Join(tmp, "logrotate.conf")
	createLine := "nocreate"
	if create {
		createLine = "create 0640"
	}
	text := fmt.Sprintf("%s {\n\trotate 5\n\tnocompress\n\tmissingok\n\textension .zst\n\t%s\n}\n", filepath.Join(out, "www.log.zst"), createLine)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if bin, err := exec.LookPath("logrotate"); err == nil {
		if b, err := exec.Command(bin, "-f", "-v", "-s", filepath.Join(tmp, "logrotate.state"), conf).CombinedOutput(); err != nil || bytes.Contains(b, []byte("error:")) {
			t.Fatalf("logrotate: %v\n%s", err, b)
		}
	} else { // what logrotate does, by hand
		if err := os.Rename(filepath.Join(out, "www.log.zst"), filepath.Join(out, "www.log.1.zst")); err != nil {
			t.Fatal(err)
		}
		if create {
			if err := os.WriteFile(filepath.Join(out, "www.log.zst"), nil, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "www.log.1.zst")); err != nil {
		t.Fatalf("logrotate did not rename the segment: %v", err)
	}
	p.Kill(t)

	// The restart recovers the frame from www.log.1.zst; the shipper's resend (the
	// whole stream from its start, as after its own restart) adds only the new lines.
	p = startCollectProc(t, sock, out, state, args...)
	sendRange(t, p.addr, lines, 0, len(lines), 70)
	metrics = p.MetricsAddr(t)
	testsupport.WaitMetric(t, metrics, `logspread_collector_group_lines_total{group="www"}`, func(v float64) bool { return v >= float64(bytes.Count(lines[second:], []byte("\n"))) })
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("collect after SIGTERM: exit code %d\n%s", code, p.Stderr.String())
	}
	got, segments, torn := catAll(t, out)
	if !bytes.Equal(got, lines) {
		t.Fatalf("segments hold %d bytes, want %d: every line exactly once%s", len(got), len(lines), describeDiff(got, lines))
	}
	if !strings.Contains(p.Stderr.String(), "recovering it under its new name") {
		t.Errorf("the restart did not log finding the renamed segment:\n%s", p.Stderr.String())
	}
	if segments != 2 || torn != 0 {
		t.Errorf("%d segments (want 2: www.log.1.zst, www.log.zst), %d torn", segments, torn)
	}
	f, err := os.Open(filepath.Join(out, "www.log.1.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var renamed bytes.Buffer
	if err := segment.Cat(f, &renamed); err != nil || !bytes.Equal(renamed.Bytes(), lines[:second]) {
		t.Errorf("the renamed segment holds %d bytes, want the first %d (err %v)", renamed.Len(), second, err)
	}
}
