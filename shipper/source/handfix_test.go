package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHandOverBelowFileOffsetRewind: a file handed over (a hard link's other name) to a
// stream whose next offset is below the file offset left (a new stream, nothing sent yet)
// is entered there at the stream's next offset (its base below 0: genEntry.start), and a
// rewind to the stream's start (the shipper rewinds a stream with no checkpoint
// acknowledged yet) walks it again from that file offset at the offsets it had: never
// other bytes (the lines the other stream shipped) at offsets already used.
func TestHandOverBelowFileOffsetRewind(t *testing.T) {
	for _, again := range []string{"rewind", "restart"} {
		t.Run(again, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			appendFile(t, a, "one\ntwo\nthree\n")
			if err := os.Link(a, b); err != nil {
				t.Fatal(err)
			}
			ta := openTailer(t, s, a)
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), "one\ntwo\nthree\n")
			tb := openTailer(t, s, b) // yields the file to a's stream
			ta.Close()                // hands it over to b's at 14
			appendFile(t, b, "four\n")
			w.Tick()
			first := readChunks(t, w, tb, 1<<16) // not acknowledged
			wantRead(t, chunkData(first), "four\n")
			sent := map[uint64]byte{}
			for _, c := range first {
				for i, x := range c.Data {
					sent[c.Offset+uint64(i)] = x
				}
			}
			if again == "rewind" {
				if err := tb.Rewind(nil); err != nil {
					t.Fatal(err)
				}
			} else {
				tb.Close()
				s.Close()
				s = newSources(t, cfg)
				tb = openTailer(t, s, b)
			}
			cs := readChunks(t, w, tb, 1<<16)
			for _, c := range cs {
				for i, x := range c.Data {
					if y, ok := sent[c.Offset+uint64(i)]; ok && y != x {
						t.Fatalf("offset %d carries %q; it carried %q before (chunk at %d: %q)", c.Offset+uint64(i), x, y, c.Offset, c.Data)
					}
				}
			}
			wantRead(t, chunkData(cs), "four\n")
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
		})
	}
}

// TestHandOverSeenMatchChecksHeld: a glob's match whose file was rotated away before its
// tailer was opened (the tailer begins with the file listed, found by identity) takes
// that file over where the stream that left it shipped up to only if it still holds
// what was read there (its head and the last bytes before the offset: handedAt), as every
// other hand-over checks, not by its identity and size alone. Truncated and written again
// in place with the same first KiB (a banner) and past the offset left, it is read from
// its start (counted in file_reread_bytes_total: the bytes up to the offset may arrive
// twice), never on from the offset (its new lines before it were lost, uncounted). Only
// appended to, it is read on from the offset.
func TestHandOverSeenMatchChecksHeld(t *testing.T) {
	banner := handOverLines("banner", 0, 30) // more than FingerprintLen
	old := banner + handOverLines("old", 0, 30)
	for _, tc := range []struct {
		name   string
		reread int
		change func(t *testing.T, path string) (want string)
	}{
		{"rewritten", len(old), func(t *testing.T, path string) string {
			neu := banner + handOverLines("new", 0, 60)
			if err := os.WriteFile(path, []byte(neu), 0o644); err != nil { // O_TRUNC: same inode
				t.Fatal(err)
			}
			return neu
		}},
		{"appended", 0, func(t *testing.T, path string) string {
			more := handOverLines("more", 0, 5)
			appendFile(t, path, more)
			return more
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.FromBeginning = false
			s := newSources(t, cfg)
			dir := t.TempDir()
			a := filepath.Join(dir, "a.log")
			appendFile(t, a, "")
			ta := openTailer(t, s, a)
			appendFile(t, a, old)
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), old)
			// Rotated: a's stream drains a.log.1 and leaves it for the new a.log, handing
			// it over at len(old) to the next stream that takes it.
			mustRename(t, a, a+".1")
			appendFile(t, a, "next\n")
			w.Tick()
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), "next\n")
			// A glob lists the match a.log.1; before its tailer is opened, the file is
			// rotated on (a.log.1.1) and changed.
			seen, err := os.Stat(a + ".1")
			if err != nil {
				t.Fatal(err)
			}
			mustRename(t, a+".1", a+".1.1")
			want := tc.change(t, a+".1.1")
			t1, err := s.openFileHow(a+".1", openHow{seen: seen, endWhenGone: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { t1.Close() })
			wantRead(t, chunkData(readChunks(t, w, t1, 1<<16)), want)
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
			if n, want := testutil.ToFloat64(s.m.RereadBytes), float64(tc.reread); n != want {
				t.Errorf("file_reread_bytes_total %v, want %v", n, want)
			}
		})
	}
}

// fillHanded hands over n files that do not exist (made-up identities) through tx, as
// streams leaving files no tailer takes would: past maxHanded, the oldest hand-overs are
// dropped.
func fillHanded(s *Set, tx *Tailer, n int) {
	for i := range n {
		id := [2]uint64{1 << 40, uint64(1<<40 + i)}
		s.take(tx, id, "gone", true)
		s.release(tx, id, handOver{off: 10, mark: leftGen{stream: tx.stream, left: 10}}, true, false)
	}
}

// TestHandOverDroppedReadsOn: past maxHanded files left by a stream and not taken yet,
// the Set drops the oldest hand-over (deterministically, counted in
// handovers_dropped_total, logged), never a random one; the stream that takes a dropped
// file reads on from where it was left all the same (the left index keeps the mark), not
// again from its start (duplicates: the lines the other stream shipped), nor from its end
// (a new stream not reading from the beginning: the lines written since, lost uncounted).
func TestHandOverDroppedReadsOn(t *testing.T) {
	defer func(n int) { maxHanded = n }(maxHanded)
	maxHanded = 8
	old := handOverLines("old", 0, 30)
	more := handOverLines("more", 0, 5)
	t.Run("waiting", func(t *testing.T) {
		cfg, w := modelConfig(t)
		s := newSources(t, cfg)
		dir := t.TempDir()
		a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
		appendFile(t, a, old)
		appendFile(t, c, "")
		if err := os.Link(a, b); err != nil {
			t.Fatal(err)
		}
		ta := openTailer(t, s, a)
		wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), old)
		tb := openTailer(t, s, b) // yields the file to a's stream
		tc := openTailer(t, s, c)
		ta.Close() // hands it over to b's at len(old): the oldest hand-over
		fillHanded(s, tc, 3*maxHanded)
		if n := testutil.ToFloat64(s.m.HandOversDropped); n != float64(2*maxHanded+1) {
			t.Errorf("handovers_dropped_total %v, want %d", n, 2*maxHanded+1)
		}
		if len(s.own.handed) != maxHanded {
			t.Errorf("%d hand-overs kept, want %d", len(s.own.handed), maxHanded)
		}
		appendFile(t, b, more)
		w.Tick()
		wantRead(t, chunkData(readChunks(t, w, tb, 1<<16)), more)
	})
	t.Run("later", func(t *testing.T) {
		cfg, w := modelConfig(t)
		cfg.FromBeginning = false // a new stream: its file from its end, a file handed over from the offset left
		s := newSources(t, cfg)
		dir := t.TempDir()
		a := filepath.Join(dir, "a.log")
		appendFile(t, a, "")
		ta := openTailer(t, s, a)
		appendFile(t, a, old)
		wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), old)
		// Rotated: a's stream drains a.log.1 and leaves it for the new a.log, handing it
		// over at len(old) to the next stream that takes it.
		mustRename(t, a, a+".1")
		appendFile(t, a, "next\n")
		w.Tick()
		wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), "next\n")
		fillHanded(s, ta, 3*maxHanded)
		appendFile(t, a+".1", more)
		t1 := openTailer(t, s, a+".1")
		wantRead(t, chunkData(readChunks(t, w, t1, 1<<16)), more)
		if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
			t.Errorf("lost_bytes %v, want 0", n)
		}
	})
}

// createReusing creates path with data, as a new file given the inode number of the
// deleted file ino if the file system gives it (ext4 gives a deleted file's inode number
// to the next file created at once); it reports whether it did.
func createReusing(t *testing.T, path, data string, ino uint64) bool {
	t.Helper()
	for i := range 64 {
		tmp := fmt.Sprintf("%s.new%d", path, i)
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, _ := fileID(fi); got == ino || i == 63 {
			mustRename(t, tmp, path)
			for j := range i {
				os.Remove(fmt.Sprintf("%s.new%d", path, j))
			}
			return got == ino
		}
	}
	return false
}

// TestHandOverInodeReused: a file handed over between streams and deleted before the
// taker took it, its inode number given by the file system to a new file at the taker's
// path that starts with the same bytes (a job log's header line), is not taken for the
// file left: the new file is read whole from its start, its first line not skipped as
// read already (silent loss). Content cannot tell them apart here (the head and the
// last bytes read are the same); the file's birth time does.
func TestHandOverInodeReused(t *testing.T) {
	const header = "=== job started ===\n"
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, header)
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	_, ino, _ := fileID(fi)
	ta := openTailer(t, s, a)
	wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), header)
	tb := openTailer(t, s, b) // yields the file to a's stream
	ta.Close()                // hands it over to b's at len(header)
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	want := header + "job 2 done\n"
	if !createReusing(t, b, want, ino) {
		t.Logf("the file system did not give the new file the deleted file's inode number: nothing to tell apart")
	}
	w.Tick()
	wantRead(t, chunkData(readChunks(t, w, tb, 1<<16)), want)
	if n := testutil.ToFloat64(s.m.RereadBytes); n != 0 {
		t.Errorf("file_reread_bytes_total %v, want 0 (another file, not one rewritten)", n)
	}
}
