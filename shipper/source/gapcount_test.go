package source

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// counted returns the bytes a run counted as gone: destroyed before they were read
// (lost_bytes_total) or after they were sent unacknowledged (unacked_destroyed).
func counted(s *Set) float64 {
	return testutil.ToFloat64(s.m.LostBytes) + testutil.ToFloat64(s.m.UnackedDestroyed)
}

// TestTailJumpRememberedAcrossCrashes: a jump past every offset used (LossGap) that a
// run made, announced as unused, is remembered by the runs after it, never counted as
// bytes by them. Run 1 reads A, acknowledges a quarter of it and crashes; A is
// copytruncated while it is down and B written. Run 2 drains A's copy, enters B past
// every offset a run may have used (the run before may have read A past its copy: a
// LossGap jump, announced as unused), returns B and crashes before any acknowledgement.
// While it is down, A's copy is deleted (compressed) and B copytruncated. Run 3 walks
// from the checkpoint in A: the rest of A is gone (counted once), the jump is unused
// again, and B's copy keeps the offsets it had. main counted the jump as 4 GiB of
// unacknowledged destroyed bytes ('bytes=4294968496' here; 'bytes=4294976410' in the
// collector's log of issue 10).
func TestTailJumpRememberedAcrossCrashes(t *testing.T) {
	A, B, C := lines("A", 1, 40), lines("B", 1, 30), lines("C", 1, 20)
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, A)
	stamp(t, path, 0)
	first := goneRun(t, cfg, path, true, nil)
	acked := first[len(first)/4].End()
	missing := float64(uint64(len(A)) - acked) // the rest of A after the checkpoint

	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 1)
	appendFile(t, path, B)
	stamp(t, path, 2)

	cfg.Waker = w
	s2 := newSources(t, cfg)
	tl2 := openTailer(t, s2, path)
	got2 := readChunks(t, w, tl2, 600)
	wantRead(t, chunkData(got2), A[acked:]+B)
	var jump []OffsetRange
	var bAt uint64
	for _, c := range got2 {
		if len(c.Unused) > 0 {
			jump, bAt = c.Unused, c.Offset
		}
	}
	if len(jump) != 1 || jump[0].To-jump[0].From < LossGap/2 || counted(s2) != 0 {
		t.Fatalf("run 2: B at %d, unused %v, %v bytes counted gone: want a jump past every offset used, nothing counted", bAt, jump, counted(s2))
	}
	tl2.noStop = true
	tl2.Close()
	s2.Close()

	mustRemove(t, path+".1") // compressed: never read
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 3)
	appendFile(t, path, C)
	stamp(t, path, 4)

	s3 := newSources(t, cfg)
	tl3 := openTailer(t, s3, path)
	// The sender asks for them (shipper.UnusedKeeper), concurrently with Next: a
	// collector that lacks them gets an unused notice, not a loss notice.
	if u := tl3.UnusedRanges(tl3.Stream()); !slices.Equal(u, jump) {
		t.Errorf("run 3: UnusedRanges %v, want run 2's jump %v", u, jump)
	}
	got := readChunks(t, w, tl3, 64<<10)
	wantRead(t, chunkData(got), B+C)
	if c := counted(s3); c != missing {
		t.Errorf("run 3 counted %v bytes gone (lost %v, unacknowledged destroyed %v), want %v: the rest of A after the checkpoint", c,
			testutil.ToFloat64(s3.m.LostBytes), testutil.ToFloat64(s3.m.UnackedDestroyed), missing)
	}
	if got[0].Offset != bAt || got[0].Lost != bAt-acked || !slices.Equal(got[0].Unused, jump) {
		t.Errorf("run 3: B at %d (run 2: %d), announced lost %d (want %d), unused %v (want %v)",
			got[0].Offset, bAt, got[0].Lost, bAt-acked, got[0].Unused, jump)
	}
}

// compressLikeLogrotate compresses name to name+suf as logrotate's compress does: the
// compressor (cmd) reads the file on its stdin and writes a new file, which gets the
// file's modification time, then the file is removed.
func compressLikeLogrotate(t *testing.T, name, suf string, cmd ...string) {
	t.Helper()
	in, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(name+suf, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	var stderr strings.Builder
	c.Stdin, c.Stdout, c.Stderr = in, out, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%v: %v %s", cmd, err, stderr.String())
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name+suf, fi.ModTime(), fi.ModTime()); err != nil { // logrotate keeps it
		t.Fatal(err)
	}
	mustRemove(t, name)
}

// TestTailRestartGoneCompressedCounted: two rotations with logrotate's "compress,
// delaycompress" while the shipper is down (crashed, or stopped): the checkpointed
// generation, with lines written after the shipper's last look, is now a compressed
// rotated file, never read. Its bytes after the checkpoint are counted from its
// uncompressed size (gzip, zstd, bzip2), and the next generation begins right after
// them, after a crash too (no jump); a generation after it never read and compressed
// too (a third rotation) is counted by its size. In a format not decoded (xz) the size is unknown:
// logged and counted in gone_size_unknown_total. main counted only what the shipper saw
// at its last look (1,800 of 28,800 bytes) and jumped by LossGap after a crash.
func TestTailRestartGoneCompressedCounted(t *testing.T) {
	A1, A2, B, C, D := lines("A", 1, 40), lines("A", 41, 400), lines("B", 1, 30), lines("C", 1, 20), lines("D", 1, 10)
	for _, tc := range []struct {
		suf   string
		cmd   []string
		exact bool
		third bool // a third rotation: B, never read, compressed too
		// partial: A ends with a line without its '\n': after a crash the run before may
		// have left A, giving it one: the stream counts it too.
		partial bool
	}{
		{".gz", []string{"gzip", "-c"}, true, false, false},
		{".gz", []string{"gzip", "-c"}, true, true, false},
		{".gz", []string{"gzip", "-c"}, true, false, true},
		{".zst", []string{"zstd", "-q", "-c"}, true, false, false},
		{".bz2", []string{"bzip2", "-c"}, true, false, false},
		{".xz", []string{"xz", "-c"}, false, false, false},
	} {
		for _, crash := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s third=%v partial=%v crash=%v", tc.suf[1:], tc.third, tc.partial, crash), func(t *testing.T) {
				if _, err := exec.LookPath(tc.cmd[0]); err != nil {
					t.Skip(tc.cmd[0], "not installed")
				}
				cfg, w := modelConfig(t)
				path := filepath.Join(t.TempDir(), "access.log")
				appendFile(t, path, A1)
				stamp(t, path, 0)
				first := goneRun(t, cfg, path, crash, nil)
				acked := first[len(first)/4].End()

				a2 := A2
				if tc.partial {
					a2 += "10.0.0.1 - - unterminated"
				}
				appendFile(t, path, a2) // after the shipper's last look
				stamp(t, path, 1)
				mustRename(t, path, path+".1") // rotation 1 (delaycompress: .1 stays)
				appendFile(t, path, B)
				stamp(t, path, 2)
				compressLikeLogrotate(t, path+".1", tc.suf, tc.cmd...) // rotation 2
				mustRename(t, path+".1"+tc.suf, path+".2"+tc.suf)
				mustRename(t, path, path+".1")
				appendFile(t, path, C)
				stamp(t, path, 3)
				want, aLen := B+C, uint64(len(A1)+len(a2))
				if tc.partial && crash {
					aLen++ // the '\n' the stream gives it
				}
				if tc.third {
					mustRename(t, path+".2"+tc.suf, path+".3"+tc.suf)
					compressLikeLogrotate(t, path+".1", tc.suf, tc.cmd...)
					mustRename(t, path+".1"+tc.suf, path+".2"+tc.suf)
					mustRename(t, path, path+".1")
					appendFile(t, path, D)
					stamp(t, path, 4)
					want, aLen = C+D, aLen+uint64(len(B)) // B is counted with A
				}

				cfg.Waker = w
				s := newSources(t, cfg)
				got := readChunks(t, w, openTailer(t, s, path), 64<<10)
				wantRead(t, chunkData(got), want)
				jumps, unknown := testutil.ToFloat64(s.m.StreamJumps), testutil.ToFloat64(s.m.GoneSizeUnknown)
				if !tc.exact {
					if unknown != 1 {
						t.Errorf("gone_size_unknown_total %v, want 1", unknown)
					}
					return
				}
				if got[0].Offset != aLen || counted(s) != float64(aLen-acked) || got[0].Lost != aLen-acked ||
					len(got[0].Unused) != 0 || jumps != 0 || unknown != 0 {
					t.Fatalf("the next generation at %d, want %d (right after A, %d bytes uncompressed); %v bytes counted gone (lost %v, unacknowledged destroyed %v), want %d; announced lost %d, unused %v; %v jumps, %v unknown sizes",
						got[0].Offset, aLen, aLen, counted(s), testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.UnackedDestroyed),
						aLen-acked, got[0].Lost, got[0].Unused, jumps, unknown)
				}
			})
		}
	}
}

// TestTailRestartGoneCompressedHeadUnknown: the checkpoint was saved when the file was
// empty (its head not known) and the run before crashed before any acknowledgement moved
// it; the file, written to, is compressed by two rotations while the shipper is down.
// The oldest compressed rotated file modified after the checkpoint's look is taken for
// it: every byte of it is counted, and the next generation begins right after them (main
// jumped by LossGap, counting none: the collectors logged a gap of unknown size).
func TestTailRestartGoneCompressedHeadUnknown(t *testing.T) {
	A1, A2, B := lines("A", 1, 40), lines("A", 41, 100), lines("B", 1, 30)
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "")
	stamp(t, path, 0)
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	appendFile(t, path, A1)
	wantRead(t, chunkData(readChunks(t, w, tl, 600)), A1)
	tl.noStop = true
	tl.Close()
	s.Close()

	appendFile(t, path, A2)
	stamp(t, path, 1)
	mustRename(t, path, path+".1")
	appendFile(t, path, B)
	stamp(t, path, 2)
	compressLikeLogrotate(t, path+".1", ".gz", "gzip", "-c")
	mustRename(t, path+".1.gz", path+".2.gz")
	mustRename(t, path, path+".1")
	appendFile(t, path, "")

	cfg.Waker = w
	s = newSources(t, cfg)
	got := readChunks(t, w, openTailer(t, s, path), 64<<10)
	wantRead(t, chunkData(got), B)
	aLen := uint64(len(A1) + len(A2))
	if got[0].Offset != aLen || counted(s) != float64(aLen) || len(got[0].Unused) != 0 {
		t.Fatalf("B at %d, want %d (right after A); %v bytes counted gone, want %d; unused %v", got[0].Offset, aLen, counted(s), aLen, got[0].Unused)
	}
}
