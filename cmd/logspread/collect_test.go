package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "100M", want: 100 << 20},
		{in: "1G", want: 1 << 30},
		{in: "64K", want: 64 << 10},
		{in: "2m", want: 2 << 20},
		{in: "3T", want: 3 << 40},
		{in: "64KiB", bad: true}, // one syntax: no IEC or SI spellings
		{in: "2MB", bad: true},
		{in: "3 T", bad: true},
		{in: "12b", bad: true},
		{in: "+5", bad: true},
		{in: "", bad: true},
		{in: "-1M", bad: true},
		{in: "1.5G", bad: true},
		{in: "100Q", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseByteSize(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseByteSize(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
	b := byteSize(100 << 20)
	if b.String() != "100M" {
		t.Errorf("String = %q", b.String())
	}
}

// TestCollectConfig checks the YAML file, flag override and --check-config.
func TestCollectConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "collect.yaml")
	yamlText := `spread: "4803@localhost"
dir: /var/log/logspread
logs:
  - group: www
    path: "{group}/%Y/{group}-%Y%m%d.log.zst"
  - group: sites
    path: "sites/{vhost}.log.zst"
    format: vhost_combined
compress: zstd
rotate_size: 1G
rotate_interval: 24h
flush_interval: 2s
gap_markers: true
`
	if err := os.WriteFile(file, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "file ok", args: []string{"collect", "--config", file, "--check-config"}, code: 0, out: "configuration ok"},
		{name: "flag override", args: []string{"collect", "--config", file, "--compress", "lz4", "--check-config"}, code: 2, out: `--compress "lz4"`},
		{name: "log flags replace file", args: []string{"collect", "--config", file, "--log", "www=../x", "--check-config"}, code: 2, out: `".."`},
		{name: "no logs", args: []string{"collect", "--check-config"}, code: 2, out: "name at least one log"},
		{name: "bad log", args: []string{"collect", "--log", "www", "--check-config"}, code: 2, out: "want GROUP=PATH_TEMPLATE"},
		{name: "hostile group", args: []string{"collect", "--log", "../etc=x.log", "--check-config"}, code: 2, out: "invalid log name"},
		{name: "serve non-loopback", args: []string{"collect", "--log", "www=x.log", "--serve", "10.1.2.3:4803", "--check-config"}, code: 2, out: "--serve"},
		{name: "size suffix", args: []string{"collect", "--log", "www=x.log", "--rotate-size", "100M", "--check-config"}, code: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(t.Context(), tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.out) {
				t.Fatalf("exit %d, want %d; output %q, want %q", code, tc.code, out.String()+errOut.String(), tc.out)
			}
			if lines := strings.Count(errOut.String(), "\n"); tc.code != 0 && lines != 1 {
				t.Errorf("error is %d lines: %q", lines, errOut.String())
			}
		})
	}

	// The file's values reach the options, and flags override them.
	opts := &CollectOptions{}
	if err := decodeConfigFile(file, opts); err != nil {
		t.Fatal(err)
	}
	if opts.RotateSize != 1<<30 || opts.RotateInterval != 24*time.Hour || len(opts.Logs) != 2 || opts.Logs[1].Format != "vhost_combined" {
		t.Fatalf("decoded %+v", opts)
	}
}

// collectProc is a `logspread collect --serve` child process.
type collectProc struct {
	*testsupport.Process
	addr string
}

func startCollectProc(t *testing.T, sock, out, state string, extra ...string) *collectProc {
	t.Helper()
	p := &collectProc{addr: "unix:" + sock}
	args := []string{"collect", "--serve", p.addr, "--dir", out, "--state-dir", state, "--flush-interval", "10ms", "--log-level", "debug"}
	if !slices.Contains(extra, "--log") {
		args = append(args, "--log", "www={group}.log.zst")
	}
	p.Process = testsupport.StartProcess(t, append(args, extra...)...)
	// Wait until the collector's join of "www" is delivered: a watcher sees two members.
	testsupport.Eventually(t, func() bool {
		conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: p.addr, Membership: true})
		if err != nil {
			return false
		}
		defer conn.Close()
		if conn.Join("www") != nil {
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m spreadlink.Message
		for conn.Receive(&m) == nil {
			if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Group == "www" {
				return len(m.Membership.Members) >= 2
			}
		}
		return false
	}, "collector joined")
	return p
}

// collectSend multicasts lines as batches of stream 42 starting at offset 0, n lines
// per batch, calling between after each batch; it stops when between returns false.
func collectSend(t *testing.T, addr string, lines []byte, n int, between func(i int) bool) {
	t.Helper()
	conn, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	off, i := 0, 0
	for off < len(lines) {
		end, k := off, 0
		for end < len(lines) && k < n {
			end += bytes.IndexByte(lines[end:], '\n') + 1
			k++
		}
		body := lines[off:end]
		msg := envelope.AppendBatch(nil, envelope.BatchHeader{Stream: 42, Offset: uint64(off), Lines: uint32(k)}, body)
		if err := conn.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, msg); err != nil {
			t.Fatal(err)
		}
		off = end
		if !between(i) {
			return
		}
		i++
	}
}

// catAll decompresses the segments below dir in write order ("www.log.zst",
// "www.log.1.zst", ...). torn reports segments with a torn last frame.
func catAll(t *testing.T, dir string) (out []byte, segments int, torn int) {
	t.Helper()
	var buf bytes.Buffer
	// Segment names sort in write order (a shell glob's order), as `cat *.zst` reads them.
	names, err := filepath.Glob(filepath.Join(dir, "*.zst"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range names {
		name := filepath.Base(path)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // moved meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		segments++
		err = segment.Cat(f, &buf)
		f.Close()
		switch {
		case errors.Is(err, segment.ErrTornFrame):
			torn++
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		}
	}
	return buf.Bytes(), segments, torn
}

// TestCollectProcessKill runs `logspread collect --serve` as a process, kills it with
// SIGKILL mid-stream, checks the segment (complete frames decode and end on a line
// boundary), restarts it, resends the whole stream, moves the segment away and sends
// SIGHUP under load (logrotate),
// stops it with SIGTERM, and checks the concatenated segments.
func TestCollectProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	tmp := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "s")
	out, state := filepath.Join(tmp, "out"), filepath.Join(tmp, "state")

	var lines []byte
	for i := range 30000 {
		lines = fmt.Appendf(lines, "10.%d.%d.%d - - [01/Jan/2026:00:00:00 +0000] \"GET /k/%06d HTTP/1.1\" 200 %d\n", i%7, i%250, i%200, i, 100+i%900)
	}

	// Run 1: killed mid-stream.
	p := startCollectProc(t, sock, out, state)
	seg := filepath.Join(out, "www.log.zst")
	killed := false
	collectSend(t, p.addr, lines[:len(lines)/2], 50, func(i int) bool {
		switch {
		case i < 100:
			return true
		case i == 100:
			// A complete frame, not only a size: the frame's write may still be under
			// way when the size first shows.
			testsupport.Eventually(t, func() bool {
				got, _, _ := catAll(t, out)
				return len(got) > 0
			}, "first frame")
			return true
		case i < 110:
			return true // the kill lands while batches stream in
		}
		p.Kill(t)
		killed = true
		return false
	})
	if !killed {
		t.Fatal("no segment written before the end of the first half")
	}
	// The killed run may leave a torn last frame; complete frames decode to a
	// line-aligned prefix of what was sent.
	got1, _, _ := catAll(t, out)
	if len(got1) == 0 || got1[len(got1)-1] != '\n' || !bytes.HasPrefix(lines, got1) {
		t.Fatalf("after SIGKILL: %d bytes, not a line-aligned prefix of what was sent", len(got1))
	}
	// The state never claims lines beyond the complete frames; the frames in flight
	// are named by its intent, which the restart resolves.
	st, err := collector.LoadState(filepath.Join(state, collector.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if next := st.Streams[42].End(); next > uint64(len(got1)) {
		t.Fatalf("state claims %d bytes, complete frames hold %d: lines would be lost", next, len(got1))
	}
	// Run 2: restart, resend everything from offset 0 (cut differently). The restart
	// appends to run 1's segment, still the current one (the state names it; its torn
	// frame, if any, was cut off first). Midway, logrotate moves the segment away and
	// sends SIGHUP: the next frames go to a new segment under the name.
	p = startCollectProc(t, sock, out, state)
	for l := range strings.Lines(p.Stderr.String()) {
		if strings.Contains(l, "recovered the frames in flight") {
			t.Logf("restart: %s", strings.TrimSpace(l))
		}
	}
	hupped := false
	collectSend(t, p.addr, lines, 77, func(i int) bool {
		if hupped || i < 250 {
			return true
		}
		p.WaitLog(t, "segment reopened to append")
		if _, n, _ := catAll(t, out); n != 1 {
			t.Errorf("%d segments after the restart, want 1 (run 1's, continued)", n)
		}
		// The rotated name sorts before the live one, as logrotate's dateext does.
		if err := os.Rename(seg, filepath.Join(out, "www.log.0.zst")); err != nil {
			t.Fatal(err)
		}
		p.Signal(t, syscall.SIGHUP)
		hupped = true
		// The move may be noticed (and the segment closed) before the signal arrives.
		p.WaitLog(t, "reopening all segments on request")
		return true
	})
	if !hupped {
		t.Fatal("never sent SIGHUP")
	}
	// Wait until the last line is in a segment, then stop cleanly.
	last := lines[bytes.LastIndexByte(lines[:len(lines)-1], '\n')+1:]
	testsupport.Eventually(t, func() bool {
		got, _, _ := catAll(t, out)
		return bytes.HasSuffix(got, last)
	}, "last line written")
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("collect after SIGTERM: exit code %d\n%s", code, p.Stderr.String())
	}
	// The restart rolled the frames in flight forward or cut them off, so with the
	// whole stream resent every line is there exactly once, and no segment is torn.
	got, segments, torn := catAll(t, out)
	if !bytes.Equal(got, lines) {
		t.Fatalf("final output: %d bytes, want %d (every line exactly once)%s", len(got), len(lines), describeDiff(got, lines))
	}
	st, err = collector.LoadState(filepath.Join(state, collector.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if next := st.Streams[42].End(); next != uint64(len(lines)) || len(st.Intent) != 0 {
		t.Errorf("state after SIGTERM: next %d (want %d), %d frames in flight (want a clean state)", next, len(lines), len(st.Intent))
	}
	// Runs 1 and 2 until the move (www.log.0.zst), then www.log.zst again (opened at
	// the next flush once the move is noticed, or after the SIGHUP, and reopened to
	// append to if the SIGHUP closed it after that): never a suffixed one.
	if segments != 2 || torn > 0 {
		t.Fatalf("%d segments (want 2: runs 1 and 2 until the move, then the new one), %d torn (want 0: the restart cuts a torn frame off)", segments, torn)
	}
}

// describeDiff says where got departs from want, in lines, for a failure message.
func describeDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := bytes.Count(want[:i], []byte{'\n'}) + 1
	ctx := func(b []byte) string {
		s := b[bytes.LastIndexByte(b[:i], '\n')+1:]
		if e := bytes.IndexByte(s, '\n'); e >= 0 {
			s = s[:e]
		}
		return string(s)
	}
	return fmt.Sprintf("; first difference at byte %d (line %d): got %q, want %q", i, line, ctx(got), ctx(want))
}
