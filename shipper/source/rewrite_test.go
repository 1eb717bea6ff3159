package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// banner returns a fixed banner longer than the head fingerprint (FingerprintLen), as a
// job log, a CSV or W3C log starts every run with.
func banner() string {
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "BANNER line %d: configuration key%d = value%d ......................\n", i, i, i)
	}
	return b.String()
}

// rewriteFile truncates path in place (same inode) and writes data to it.
func rewriteFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// TestTailRewrittenSameHeadWhileDown: a file truncated and written again in place (same
// device and inode) while the tailer was closed (a stop, or a crash), starting with the
// same banner (its head fingerprint the same) and at least as long as the checkpoint, is
// not taken for the file read: the last line read before the checkpoint is not there.
// Which of its bytes were shipped cannot be told (the banner was written again), so it
// is read again from its start (Filebeat's and Fluent Bit's rule): every line of the new
// content arrives, the banner too (main: up to its first KiB was skipped silently), the
// bytes read again counted in file_reread_bytes_total; no byte of the old content is counted
// lost (all of it was acknowledged), and a crash makes the stream jump past every
// offset used.
func TestTailRewrittenSameHeadWhileDown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
	}{{"stopped", false}, {"crashed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "job.log")
			first := banner() + lines("r1", 1, 50)
			appendFile(t, path, first)
			tl := openTailer(t, s, path)
			cs := readChunks(t, w, tl, 4096)
			wantRead(t, chunkData(cs), first)
			last := cs[len(cs)-1]
			off := last.End()
			if err := tl.Ack(last.Pos); err != nil {
				t.Fatal(err)
			}
			if last.Pos.LastLen == 0 {
				t.Fatalf("checkpoint %+v names no last line read", last.Pos)
			}
			tl.noStop = tc.crash
			tl.Close()
			second := banner() + lines("r2", 1, 100)
			rewriteFile(t, path, second)
			tl = openTailer(t, s, path)
			var got string
			if tc.crash {
				cs := readChunks(t, w, tl, 4096)
				if len(cs) == 0 || cs[0].Offset < off+LossGap {
					t.Fatalf("after a crash the stream continues at %v, want past %d", cs, off+LossGap)
				}
				got = chunkData(cs)
				off = cs[len(cs)-1].End()
			} else {
				got = readOn(t, w, tl, &off)
			}
			wantRead(t, got, second)
			if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(len(first)); got != want {
				t.Errorf("reread bytes %v, want %v", got, want)
			}
			appendFile(t, path, lines("m", 1, 2))
			wantRead(t, readOn(t, w, tl, &off), lines("m", 1, 2))
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
			if got := testutil.ToFloat64(s.m.FilesTruncated); got != 1 {
				t.Errorf("truncations %v, want 1", got)
			}
		})
	}
}

// TestTailRewrittenSameHeadAfterRestart: after a restart at the checkpoint (the file
// unchanged), the file is truncated and written again with the same banner before the
// tailer read a byte of it: the last bytes before the read offset, taken at the resume,
// tell it at the first look, and it is read again from its start (the banner too).
func TestTailRewrittenSameHeadAfterRestart(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "job.log")
	first := banner() + lines("r1", 1, 50)
	appendFile(t, path, first)
	tl := openTailer(t, s, path)
	cs := readChunks(t, w, tl, 4096)
	wantRead(t, chunkData(cs), first)
	last := cs[len(cs)-1]
	off := last.End()
	if err := tl.Ack(last.Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	// Written long before the restart (a look in the same clock tick as the rewrite
	// would see the same modification time).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	tl = openTailer(t, s, path)
	if tl.start.LastLen != last.Pos.LastLen || tl.start.LastCRC != last.Pos.LastCRC {
		t.Fatalf("checkpoint at the resume names last line %d/%x, want %d/%x (the one resumed after)",
			tl.start.LastLen, tl.start.LastCRC, last.Pos.LastLen, last.Pos.LastCRC)
	}
	second := banner() + lines("r2", 1, 100)
	rewriteFile(t, path, second)
	wantRead(t, readOn(t, w, tl, &off), second)
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}

// TestTailRewrittenSameHeadWhilePaused: the same rewrite while the tailer runs but does
// not look (a SIGSTOP, a held window), longer or shorter than the read offset, or looked
// at halfway (only the banner written again so far: all of it was read before): told
// by the last lines read, or by the size, at the next look, and read again from its
// start: every line of the new content arrives, the banner too (main: the banner was
// skipped silently, taken for the lines read), the bytes read again counted.
func TestTailRewrittenSameHeadWhilePaused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int  // lines of the new content
		halfway bool // the tailer looks once only the banner is written
	}{{"longer", 100, false}, {"shorter", 10, false}, {"looked at halfway", 100, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "job.log")
			first := banner() + lines("r1", 1, 50)
			appendFile(t, path, first)
			tl := openTailer(t, s, path)
			var off uint64
			wantRead(t, readOn(t, w, tl, &off), first)
			second := banner() + lines("r2", 1, tc.n)
			var got string
			if tc.halfway {
				rewriteFile(t, path, banner())
				got = readOn(t, w, tl, &off)
				appendFile(t, path, lines("r2", 1, tc.n))
			} else {
				rewriteFile(t, path, second)
			}
			got += readOn(t, w, tl, &off)
			wantRead(t, got, second)
			want := float64(min(len(second), len(first)))
			if tc.halfway {
				want = float64(len(banner()))
			}
			if got := testutil.ToFloat64(s.m.RereadBytes); got != want {
				t.Errorf("reread bytes %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
				t.Errorf("lost bytes %v, want 0", got)
			}
		})
	}
}

// TestTailAppendedNotRewrittenResumes: the last line check does not mistake a file that
// was only appended to while down (or an old checkpoint without it) for a rewritten one.
func TestTailAppendedNotRewrittenResumes(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("old checkpoint %v", old), func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "job.log")
			first := banner() + lines("r1", 1, 50)
			appendFile(t, path, first)
			tl := openTailer(t, s, path)
			cs := readChunks(t, w, tl, 4096)
			last := cs[len(cs)-1]
			off := last.End()
			pos := last.Pos
			if old {
				pos.LastLen, pos.LastCRC = 0, 0
			}
			if err := tl.Ack(pos); err != nil {
				t.Fatal(err)
			}
			tl.Close()
			appendFile(t, path, lines("r1", 51, 60))
			tl = openTailer(t, s, path)
			wantRead(t, readOn(t, w, tl, &off), lines("r1", 51, 60))
			if got := testutil.ToFloat64(s.m.FilesTruncated); got != 0 {
				t.Errorf("truncations %v, want 0", got)
			}
		})
	}
}

// TestTailRewrittenSameHeadRecordedAfterRestart: the generation resumed after a restart
// was entered by a truncation in the run before (it is in the record of generations,
// with this head), and is rewritten in place with the same banner while followed: read
// again from its start at the next offsets. Its own record is not a generation of the
// run before to walk again (before enteredAgain, the stream jumped by LossGap: a false
// loss notice to collectors).
func TestTailRewrittenSameHeadRecordedAfterRestart(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "job.log")
	appendFile(t, path, lines("x", 1, 20))
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), lines("x", 1, 20))
	first := banner() + lines("r1", 1, 50)
	rewriteFile(t, path, first) // another head: entered from 0, recorded
	cs := readChunks(t, w, tl, 4096)
	wantRead(t, chunkData(cs), first)
	last := cs[len(cs)-1]
	off = last.End()
	if err := tl.Ack(last.Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	tl = openTailer(t, s, path)
	second := banner() + lines("r2", 1, 100)
	rewriteFile(t, path, second)
	wantRead(t, readOn(t, w, tl, &off), second)
	if got, want := testutil.ToFloat64(s.m.RereadBytes), float64(len(first)); got != want {
		t.Errorf("reread bytes %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(s.m.StreamJumps); got != 0 {
		t.Errorf("stream jumps %v, want 0", got)
	}
}
