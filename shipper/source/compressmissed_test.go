package source

import (
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logrotateCompress rotates path as logrotate's `rotate keep`, `create`, `compress`,
// `delaycompress` does: the compressed generations are renamed one up (the oldest
// deleted), NAME.1 is renamed to NAME.2 and compressed to NAME.2.gz (keeping its
// modification time, as logrotate does), the file is renamed to NAME.1.
func logrotateCompress(t *testing.T, path string, keep int) {
	t.Helper()
	shiftCompressed(t, path, keep)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

// shiftCompressed is the first half of a rotation with `rotate keep`, `compress`,
// `delaycompress`: the oldest compressed generation is deleted, the others renamed one
// up, and NAME.1 renamed to NAME.2 and compressed (keeping its modification time).
func shiftCompressed(t *testing.T, path string, keep int) {
	t.Helper()
	if err := os.Remove(path + "." + itoa(keep) + ".gz"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for i := keep - 1; i >= 2; i-- {
		if err := os.Rename(path+"."+itoa(i)+".gz", path+"."+itoa(i+1)+".gz"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		if err := os.Rename(path+".1", path+".2"); err != nil {
			t.Fatal(err)
		}
		gzipFile(t, path+".2")
	}
}

// gzipFile compresses name to name.gz, with its modification time, and removes name.
func gzipFile(t *testing.T, name string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name+".gz", fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

// behindTailer opens a tailer (from the beginning, lingering an hour, 16 descriptors)
// of access.log holding head (stamped second 0), and reads its first chunk of at most
// 400 bytes: a few lines of head, then its window is full.
func behindTailer(t *testing.T, head string) (s *Set, w *ManualWaker, path string, tl *Tailer, first Chunk) {
	t.Helper()
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour
	cfg.MaxOpenFiles = 16
	s = newSources(t, cfg)
	path = filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, head)
	stamp(t, path, 0)
	tl = openTailer(t, s, path)
	return s, w, path, tl, next(t, tl, 400)
}

// copyTruncateCompress rotates path as logrotate's `rotate 9`, `copytruncate`,
// `compress`, `delaycompress` does, the r-th time: the compressed copies are renamed one
// up, NAME.1 is renamed to NAME.2 and compressed, the file is copied to NAME.1 (stamped
// second 2r-1) and truncated.
func copyTruncateCompress(t *testing.T, path string, r int) {
	t.Helper()
	shiftCompressed(t, path, 9)
	copyTruncate(t, path, path+".1")
	stamp(t, path+".1", 2*r-1)
}

// TestTailCompressedWhilePaused: the tailer is stopped (SIGSTOP: it cannot look; here its
// lock is held) in the middle of the first generation while logrotate (create, compress,
// delaycompress, rotate 9) rotates the log five times. The generations created and
// compressed meanwhile (g1..g3) were never seen, and compressed generations are not
// read: their bytes must be counted lost with their uncompressed size (as the restart
// path counts generations compressed while the shipper was down), not as files missed
// of unknown size. The followed generation, compressed too, is drained from its
// descriptor; g4 (NAME.1) and g5 (the path) are read.
func TestTailCompressedWhilePaused(t *testing.T) {
	gens := []string{lines("g0-", 1, 40)}
	s, w, path, tl, first := behindTailer(t, gens[0])
	tl.mu.Lock() // stopped: the looker cannot look
	for r := 1; r <= 5; r++ {
		logrotateCompress(t, path, 9)
		gens = append(gens, lines("g"+itoa(r)+"-", 1, 10+r))
		appendFile(t, path, gens[r])
		stamp(t, path, r)
	}
	tl.unlockLooks()
	// The looker looks at the creations' events: each is matched with a file seen (the
	// path, NAME.1), a compressed one (to be counted lost), or counted missed.
	testsupport.Eventually(t, func() bool {
		w.Tick()
		tl.mu.Lock()
		defer tl.unlockLooks()
		n := int(testutil.ToFloat64(s.m.FilesMissed))
		for _, a := range tl.gone {
			if a.compressed {
				n++
			}
		}
		return n >= 3
	}, "the 3 generations compressed unseen accounted for")
	got := string(first.Data) + readAll(t, w, tl, 64<<10)
	wantRead(t, got, gens[0]+gens[4]+gens[5])
	lost, missed := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesMissed)
	if want := float64(len(strings.Join(gens[1:4], ""))); lost != want || missed != 0 {
		t.Errorf("lost_bytes_total %v, files_missed_total %v; want %v, 0", lost, missed, want)
	}
}

// TestTailCopyTruncateCompressedWhilePaused: the tailer is stopped (its lock held) in the
// middle of the live file while logrotate (copytruncate, compress, delaycompress) rotates
// it four times, lines written between: the copy of the followed period and those of the
// two periods after it are compressed before the tailer looks again. Compressed files
// are not read: what the tailer did not read of them is counted lost with their
// uncompressed sizes (not only what it had seen of the file); the last copy (NAME.1) and
// the live file are read.
func TestTailCopyTruncateCompressedWhilePaused(t *testing.T) {
	periods := []string{lines("p0-", 1, 40)}
	s, w, path, tl, first := behindTailer(t, periods[0])
	tl.mu.Lock()                 // stopped: the looker cannot look
	unseen := lines("p0+", 1, 5) // written after the tailer's last look
	appendFile(t, path, unseen)
	for r := 1; r <= 4; r++ {
		copyTruncateCompress(t, path, r)
		periods = append(periods, lines("p"+itoa(r)+"-", 1, 10+r))
		appendFile(t, path, periods[r])
		stamp(t, path, 2*r)
	}
	tl.unlockLooks()
	got := string(first.Data) + readAll(t, w, tl, 64<<10)
	// NAME.1: the copy of period 3; the path: period 4.
	wantRead(t, got, periods[0]+periods[3]+periods[4])
	lost, missed := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesMissed)
	if want := float64(len(unseen) + len(periods[1]) + len(periods[2])); lost != want || missed != 0 {
		t.Errorf("lost_bytes_total %v, files_missed_total %v; want %v, 0", lost, missed, want)
	}
}

// blindTailer opens a tailer (modelConfig) of access.log, empty (stamped second 0): no
// byte of it is read before the test writes.
func blindTailer(t *testing.T) (s *Set, w *ManualWaker, path string, tl *Tailer) {
	t.Helper()
	cfg, w := modelConfig(t)
	s = newSources(t, cfg)
	path = filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "")
	stamp(t, path, 0)
	return s, w, path, openTailer(t, s, path)
}

// wantLostFirst fails unless want bytes were counted lost before the stream's first
// chunk, and that chunk (at offset want) announces them: a loss notice from offset 0,
// or no collector would ever count them.
func wantLostFirst(t *testing.T, s *Set, chs []Chunk, want uint64) {
	t.Helper()
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != float64(want) {
		t.Errorf("lost_bytes_total %v, want %v", lost, want)
	}
	if len(chs) == 0 {
		t.Fatal("no chunk")
	}
	if c := chs[0]; c.Offset != want || c.Lost != want {
		t.Errorf("first chunk at offset %d announces %d bytes lost; want offset %d announcing %d", c.Offset, c.Lost, want, want)
	}
}

// TestTailBlindCopyTruncateCompressed: the followed file is empty whenever the tailer
// looks (no byte of it read) while logrotate (copytruncate, compress, delaycompress)
// rotates it four times, lines written before each: the copies of the first three
// periods are compressed before the tailer looks. The newest copy (NAME.1) and the live
// file are read; the compressed copies are counted lost with their uncompressed sizes.
func TestTailBlindCopyTruncateCompressed(t *testing.T) {
	s, w, path, tl := blindTailer(t)
	var periods []string
	for r := 1; r <= 4; r++ {
		periods = append(periods, lines("p"+itoa(r)+"-", 1, 10+r))
		appendFile(t, path, periods[r-1])
		stamp(t, path, 2*r-1)
		copyTruncateCompress(t, path, r)
		stamp(t, path, 2*r)
	}
	last := lines("p5-", 1, 3)
	appendFile(t, path, last)
	stamp(t, path, 9)
	chs := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(chs), periods[3]+last)
	wantLostFirst(t, s, chs, uint64(len(strings.Join(periods[:3], ""))))
}

// TestTailBlindCopyTruncateCompressedAtOnce: as TestTailBlindCopyTruncateCompressed,
// but logrotate compresses each copy at once (compress without delaycompress): no plain
// copy is ever there to drain. The copies' bytes, never read, are counted lost with
// their uncompressed sizes, and announced before the first chunk.
func TestTailBlindCopyTruncateCompressedAtOnce(t *testing.T) {
	s, w, path, tl := blindTailer(t)
	var periods []string
	for r := 1; r <= 3; r++ {
		periods = append(periods, lines("p"+itoa(r)+"-", 1, 10+r))
		appendFile(t, path, periods[r-1])
		stamp(t, path, 2*r-1)
		for i := 8; i >= 1; i-- {
			if err := os.Rename(path+"."+itoa(i)+".gz", path+"."+itoa(i+1)+".gz"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
		copyTruncate(t, path, path+".1")
		stamp(t, path+".1", 2*r-1)
		gzipFile(t, path+".1")
		stamp(t, path, 2*r)
	}
	last := lines("p4-", 1, 3)
	appendFile(t, path, last)
	stamp(t, path, 7)
	chs := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(chs), last)
	wantLostFirst(t, s, chs, uint64(len(strings.Join(periods, ""))))
}

// TestTailBlindRenamedCompressedAtOnceRead: the file empty whenever the tailer looked is
// written, renamed and compressed at once (logrotate create, compress without
// delaycompress), a new file created at the path: the compressed file's bytes are still
// in the inode the tailer holds, and read from it; nothing is counted lost.
func TestTailBlindRenamedCompressedAtOnceRead(t *testing.T) {
	s, w, path, tl := blindTailer(t)
	first := lines("a-", 1, 12)
	appendFile(t, path, first)
	stamp(t, path, 1)
	mustRename(t, path, path+".1")
	gzipFile(t, path+".1")
	second := lines("b-", 1, 3)
	appendFile(t, path, second)
	stamp(t, path, 2)
	wantRead(t, chunkData(readChunks(t, w, tl, 64<<10)), first+second)
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != 0 {
		t.Errorf("lost_bytes_total %v, want 0", lost)
	}
}
