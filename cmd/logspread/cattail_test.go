package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// writeZstdFrames writes one zstd frame per chunk, as the collector does at each flush.
func writeZstdFrames(t *testing.T, path string, chunks ...string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var b []byte
	for _, c := range chunks {
		b = enc.EncodeAll([]byte(c), b)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCat(t *testing.T) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.log.zst")
	writeZstdFrames(t, whole, "a 1\na 2\n", "a 3\n")
	plain := filepath.Join(dir, "plain.log")
	if err := os.WriteFile(plain, []byte("p 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.log.zst")
	b := writeZstdFrames(t, torn, "t 1\nt 2\n", strings.Repeat("lost line\n", 50))
	first := len(writeZstdFrames(t, filepath.Join(dir, "first.zst"), "t 1\nt 2\n"))
	if err := os.WriteFile(torn, b[:first+(len(b)-first)/2], 0o644); err != nil { // kill -9 mid-frame
		t.Fatal(err)
	}

	t.Run("segments in order", func(t *testing.T) {
		code, out, stderr := runMain(t, "", "cat", whole, plain)
		if code != exitOK || out != "a 1\na 2\na 3\np 1\n" || stderr != "" {
			t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
		}
	})
	t.Run("torn last frame", func(t *testing.T) {
		code, out, stderr := runMain(t, "", "cat", torn, whole)
		if code != exitData {
			t.Fatalf("exit %d, want %d", code, exitData)
		}
		if out != "t 1\nt 2\na 1\na 2\na 3\n" {
			t.Errorf("out %q: want the complete lines of the torn segment, then the next file", out)
		}
		if !strings.Contains(stderr, "torn.log.zst") || !strings.Contains(stderr, "torn") {
			t.Errorf("stderr %q does not warn about the torn segment", stderr)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		code, out, stderr := runMain(t, "", "cat", filepath.Join(dir, "nope.zst"), whole)
		if code != exitFailure || out != "a 1\na 2\na 3\n" {
			t.Fatalf("exit %d, out %q: want 1 and the readable file still printed", code, out)
		}
		if !strings.Contains(stderr, "nope.zst") {
			t.Errorf("stderr %q does not name the file", stderr)
		}
	})
	t.Run("no arguments", func(t *testing.T) {
		code, _, stderr := runMain(t, "", "cat")
		if code != exitUsage || !strings.Contains(stderr, "Usage:\n  logspread cat FILE...") || strings.Contains(stderr, "arg(s)") {
			t.Fatalf("exit %d, stderr %q: want %d and the usage", code, stderr, exitUsage)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		b, _ := os.ReadFile(whole)
		code, out, stderr := runMain(t, string(b), "cat", "-", plain)
		if code != exitOK || out != "a 1\na 2\na 3\np 1\n" {
			t.Fatalf("cat - < whole: exit %d, out %q, stderr %q", code, out, stderr)
		}
	})
	t.Run("not a segment", func(t *testing.T) {
		random := filepath.Join(dir, "random.bin")
		r := make([]byte, 4096)
		for i := range r {
			r[i] = byte(i*i*131 + i*7 + 3)
		}
		os.WriteFile(random, r, 0o644)
		for _, name := range []string{dir, random} {
			code, out, stderr := runMain(t, "", "cat", name)
			if code != exitFailure || out != "" || !strings.Contains(stderr, name+": not a segment") || strings.Contains(stderr, "torn") {
				t.Errorf("cat %s: exit %d, out %q, stderr %q; want 1 and \"not a segment\"", name, code, out, stderr)
			}
		}
	})
}

// TestCatSkipsDamagedFrameProcess: a frame damaged in the middle of a segment is
// skipped, counted and reported; the lines of the frames after it are printed; exit 3.
func TestCatSkipsDamagedFrameProcess(t *testing.T) {
	dir := t.TempDir()
	seg := filepath.Join(dir, "www.log.zst")
	one := len(writeZstdFrames(t, filepath.Join(dir, "one.zst"), "a 1\n"))
	two := len(writeZstdFrames(t, filepath.Join(dir, "two.zst"), "a 1\n", strings.Repeat("damaged line\n", 40)))
	b := writeZstdFrames(t, seg, "a 1\n", strings.Repeat("damaged line\n", 40), "a 3\n")
	for i := one + 8; i < two-4; i++ {
		b[i] ^= 0xa5
	}
	os.WriteFile(seg, b, 0o644)
	for _, args := range [][]string{{"cat", seg}, {"cat", "-"}} {
		cmd := testsupport.Command(t, args...)
		cmd.Stdin = strings.NewReader(string(b))
		p := testsupport.Start(t, cmd)
		if code := p.Wait(t); code != exitData {
			t.Errorf("%v: exit %d, want %d", args, code, exitData)
		}
		if out := p.Stdout.String(); out != "a 1\na 3\n" {
			t.Errorf("%v: out %q, want the lines of the intact frames", args, out)
		}
		if !regexp.MustCompile(`skipped 1 damaged frame\(s\), \d+ bytes \(the first at byte ` + regexp.QuoteMeta(fmt.Sprint(one))).MatchString(p.Stderr.String()) {
			t.Errorf("%v: stderr %q does not report the skipped frame at byte %d", args, p.Stderr, one)
		}
	}
}

// TestTailDeadDaemon checks the one-line error when no daemon listens.
func TestTailDeadDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, _, stderr := runMain(t, "", "tail", "--spread", "unix:"+sock, "www")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "logspread daemon") {
		t.Errorf("stderr %q: want one line that says how to start a daemon", stderr)
	}
	if code, _, _ := runMain(t, "", "tail", "--spread", "unix:"+sock, "bad#group"); code != exitUsage {
		t.Errorf("hostile group name: exit %d, want %d", code, exitUsage)
	}
}

// TestTailLive runs `logspread tail` as a process and sends it raw (mod_log_spread)
// and batch messages: it prints their lines as delivered, and membership with --membership.
func TestTailLive(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "spread.sock")
	startTestDaemon(t, sock)
	// Output and log to one buffer, in the order written.
	cmd := testsupport.Command(t, "tail", "--spread", "unix:"+sock, "--membership", "www")
	var out testsupport.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	testsupport.Start(t, cmd)
	out.WaitMatch(t, "CAUSED_BY_JOIN")
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: "unix:" + sock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Multicast(spreadlink.Agreed, "www", envelope.MessTypeRaw, []byte("raw line\n")); err != nil {
		t.Fatal(err)
	}
	batch := envelope.AppendBatch(nil, envelope.BatchHeader{Lines: 2, Stream: 9}, []byte("batch 1\nbatch 2\n"))
	if err := c.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, batch); err != nil {
		t.Fatal(err)
	}
	out.WaitMatch(t, regexp.QuoteMeta("raw line\nbatch 1\nbatch 2\n"))
}
