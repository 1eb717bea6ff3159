package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a settable clock for time rotation tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testSegmentConfig(t *testing.T, c Compression, clk *fakeClock) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Compression = c
	cfg.UTC = true
	cfg.Now = clk.now
	return cfg
}

// testTemplate names the segments of most writer tests.
const testTemplate = "{group}-%Y%m%d-%H%M%S.log"

// mustTemplate parses a segment name template.
func mustTemplate(t testing.TB, s string) *Template {
	t.Helper()
	tp, err := ParseTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// catFile runs Cat on a file and returns its output and error.
func catFile(t *testing.T, path string) (string, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	err = Cat(f, &out)
	return out.String(), err
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// flush writes the buffered lines as one frame, as an owner without a write-ahead
// intent would: Prepare, then Commit.
func flush(w *Writer) error {
	if _, _, err := w.Prepare(); err != nil {
		return err
	}
	return w.Commit()
}

// write is Write, writing a frame first when the writer asks for one.
func write(w *Writer, p []byte) error {
	err := w.Write(p)
	if errors.Is(err, ErrFlushNeeded) {
		if err = flush(w); err != nil {
			return err
		}
		err = w.Write(p)
	}
	return err
}

// flushClose writes the buffered lines, then closes the writer.
func flushClose(w *Writer) error {
	if err := flush(w); err != nil {
		return err
	}
	return w.Close()
}

func genLines(from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "10.0.0.%d - - [02/Jan/2026:03:04:05 +0000] \"GET /item/%d HTTP/1.1\" 200 %d\n", i%256, i, i*7)
	}
	return b.String()
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, c := range []Compression{CompressZstd, CompressGzip, CompressNone} {
		t.Run(string(c), func(t *testing.T) {
			dir, root := testsupport.TempRoot(t)
			clk := newClock()
			cfg := testSegmentConfig(t, c, clk)
			cfg.FlushBytes = 4096
			reg := prometheus.NewPedanticRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, m)
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for i := range 50 {
				chunk := genLines(i*20, 20)
				want.WriteString(chunk)
				if err := write(w, []byte(chunk)); err != nil {
					t.Fatal(err)
				}
				if i%7 == 0 {
					if err := flush(w); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := flushClose(w); err != nil {
				t.Fatal(err)
			}
			files := listFiles(t, dir)
			if len(files) != 1 || files[0] != "www-20260102-030405.log" {
				t.Fatalf("files = %v", files)
			}
			got, err := catFile(t, filepath.Join(dir, files[0]))
			if err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Fatalf("round trip differs: got %d bytes, want %d", len(got), want.Len())
			}
			raw := testutil.ToFloat64(w.m.RawBytes)
			if int(raw) != want.Len() {
				t.Errorf("raw bytes metric = %v, want %d", raw, want.Len())
			}
			st, _ := os.Stat(filepath.Join(dir, files[0]))
			if comp := testutil.ToFloat64(w.m.CompressedBytes); int64(comp) != st.Size() {
				t.Errorf("compressed bytes metric = %v, file size %d", comp, st.Size())
			}
			if n := testutil.ToFloat64(w.m.Flushes); n < float64(want.Len()/4096) {
				t.Errorf("flushes = %v, want at least one per size step", n)
			}
			if n, err := testutil.GatherAndCount(reg); err != nil || n != 9 {
				t.Errorf("GatherAndCount = %d, %v; want 9 metrics", n, err)
			}
		})
	}
}

// TestSegmentFramePerFlush checks that every Flush produces one complete frame: the file
// after each flush decodes cleanly, with exactly the lines written so far.
func TestSegmentFramePerFlush(t *testing.T) {
	for _, c := range []Compression{CompressZstd, CompressGzip} {
		t.Run(string(c), func(t *testing.T) {
			dir, root := testsupport.TempRoot(t)
			w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, testSegmentConfig(t, c, newClock()), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var want string
			var sizes []int64
			for i := range 5 {
				chunk := genLines(i*3, 3)
				want += chunk
				if err := write(w, []byte(chunk)); err != nil {
					t.Fatal(err)
				}
				if err := flush(w); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, w.Segment())
				got, err := catFile(t, path)
				if err != nil || got != want {
					t.Fatalf("after flush %d: err %v, got %q", i, err, got)
				}
				st, _ := os.Stat(path)
				sizes = append(sizes, st.Size())
			}
			if !slices.IsSorted(sizes) || sizes[0] == sizes[4] {
				t.Errorf("file did not grow by frames: %v", sizes)
			}
			// An empty Flush writes nothing.
			if err := flush(w); err != nil {
				t.Fatal(err)
			}
			if st, _ := os.Stat(filepath.Join(dir, w.Segment())); st.Size() != sizes[4] {
				t.Errorf("empty flush changed the size")
			}
		})
	}
}

func TestSegmentRotation(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		dir, root := testsupport.TempRoot(t)
		cfg := testSegmentConfig(t, CompressNone, newClock())
		cfg.RotateBytes = 1000
		w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		all := genLines(0, 40) // about 3.5 KB
		for _, line := range strings.SplitAfter(all, "\n") {
			if line == "" {
				continue
			}
			if err := write(w, []byte(line)); err != nil {
				t.Fatal(err)
			}
			if err := flush(w); err != nil {
				t.Fatal(err)
			}
		}
		if err := flushClose(w); err != nil {
			t.Fatal(err)
		}
		files := listFiles(t, dir)
		// Same second: the clock never moves, so rotations take collision suffixes.
		want := []string{"www-20260102-030405.log"}
		for i := 1; i < len(files); i++ {
			want = append(want, fmt.Sprintf("www-20260102-030405.log_%06d", i))
		}
		if len(files) < 3 || !slices.Equal(files, want) {
			t.Fatalf("files = %v, want %v", files, want)
		}
		var got string
		for _, f := range want {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if len(b) > 1000+100 {
				t.Errorf("%s is %d bytes, above the rotation size plus one line", f, len(b))
			}
			got += string(b)
		}
		if got != all {
			t.Errorf("concatenated segments differ from input")
		}
		if n := testutil.ToFloat64(w.m.Rotations); int(n) != len(files)-1 { // the last one is closed by Close
			t.Errorf("rotations = %v, want %d", n, len(files)-1)
		}
	})
	t.Run("time", func(t *testing.T) {
		dir, root := testsupport.TempRoot(t)
		clk := newClock() // 03:04:05
		cfg := testSegmentConfig(t, CompressZstd, clk)
		cfg.RotateInterval = 15 * time.Minute
		w, err := NewWriter(RootFS(root), mustTemplate(t, "{group}-%H%M.log.zst"), Names{Group: "www"}, cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		write := func(s string) {
			t.Helper()
			if err := write(w, []byte(s)); err != nil {
				t.Fatal(err)
			}
			if err := flush(w); err != nil {
				t.Fatal(err)
			}
		}
		write("a\n")
		clk.t = clk.t.Add(10 * time.Minute) // 03:14:05, before the 03:15 boundary
		write("b\n")
		clk.t = clk.t.Add(time.Minute) // 03:15:05: the flush closes the segment
		if err := flush(w); err != nil {
			t.Fatal(err)
		}
		write("c\n")
		clk.t = clk.t.Add(2 * time.Hour) // idle across boundaries: no empty segments
		if err := flush(w); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(time.Hour)
		write("d\n")
		if err := flushClose(w); err != nil {
			t.Fatal(err)
		}
		files := listFiles(t, dir)
		// The name says the minute: "b" written at 03:14 is in www-0314, not in the
		// 03:04 segment, although the 15 minute interval had not passed.
		want := []string{"www-0304.log.zst", "www-0314.log.zst", "www-0315.log.zst", "www-0615.log.zst"}
		if !slices.Equal(files, want) {
			t.Fatalf("files = %v, want %v", files, want)
		}
		for i, content := range []string{"a\n", "b\n", "c\n", "d\n"} {
			if got, err := catFile(t, filepath.Join(dir, want[i])); err != nil || got != content {
				t.Errorf("%s = %q, %v; want %q", want[i], got, err, content)
			}
		}
	})
	t.Run("reopen", func(t *testing.T) {
		// SIGHUP closes the segment; the next frame reopens it by name: appended to
		// while the name still points to it (no new file), a new segment under the
		// same name once logrotate moved it away, one with a collision suffix when
		// another file took the name.
		dir, root := testsupport.TempRoot(t)
		cfg := testSegmentConfig(t, CompressGzip, newClock())
		w, err := NewWriter(RootFS(root), mustTemplate(t, "{group}.log.gz"), Names{Group: "www"}, cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := w.Write(fmt.Appendf(nil, "line %d\n", i)); err != nil {
				t.Fatal(err)
			}
			if err := w.Reopen(); !errors.Is(err, ErrFlushNeeded) {
				t.Fatalf("Reopen with a buffered line = %v, want ErrFlushNeeded", err)
			}
			if err := flush(w); err != nil {
				t.Fatal(err)
			}
			if err := w.Reopen(); err != nil {
				t.Fatal(err)
			}
			if err := w.Reopen(); err != nil { // nothing new: no empty segment
				t.Fatal(err)
			}
			switch i {
			case 1: // logrotate moves the segment away
				if err := os.Rename(filepath.Join(dir, "www.log.gz"), filepath.Join(dir, "www.log.1.gz")); err != nil {
					t.Fatal(err)
				}
			case 2: // and someone puts another file in its place
				if err := os.Rename(filepath.Join(dir, "www.log.gz"), filepath.Join(dir, "www.log.2.gz")); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "www.log.gz"), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := flushClose(w); err != nil {
			t.Fatal(err)
		}
		want := []string{"www.log.1.gz", "www.log.2.gz", "www.log.gz", "www.log.gz_000001.gz"}
		if files := listFiles(t, dir); !slices.Equal(files, want) {
			t.Fatalf("files = %v, want %v", files, want)
		}
		for name, content := range map[string]string{"www.log.1.gz": "line 0\nline 1\n", "www.log.2.gz": "line 2\n",
			"www.log.gz": "", "www.log.gz_000001.gz": "line 3\nline 4\n"} {
			if got, err := catFile(t, filepath.Join(dir, name)); err != nil || got != content {
				t.Errorf("%s = %q, %v; want %q", name, got, err, content)
			}
		}
	})
}

// TestSegmentNeverOverwrites: a segment name that already exists (a restart) gets a suffix.
func TestSegmentNeverOverwrites(t *testing.T) {
	dir, root := testsupport.TempRoot(t)
	cfg := testSegmentConfig(t, CompressNone, newClock())
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub/www.log"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(RootFS(root), mustTemplate(t, "sub/{group}.log"), Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(w, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/www.log")); string(b) != "old\n" {
		t.Errorf("existing segment changed: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/www.log_000001")); string(b) != "new\n" {
		t.Errorf("new segment: %q", b)
	}
	if w.Segment() != "sub/www.log_000001" {
		t.Errorf("Segment() = %q", w.Segment())
	}
}

// TestSegmentHostileNames proves that no hostile group or vhost name, and no symlink
// planted in the output directory, creates a file outside the output directory.
func TestSegmentHostileNames(t *testing.T) {
	base := t.TempDir()
	outDir := filepath.Join(base, "out")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{outDir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink inside the output directory that points outside it.
	if err := os.Symlink(outside, filepath.Join(outDir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "target.log"), filepath.Join(outDir, "www.log")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(outDir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	names := []struct {
		group, vhost string
	}{
		{"../../etc/passwd", "v"},
		{"/abs", "v"},
		{"a/../../b", "v"},
		{"..", "v"},
		{"www", "../../etc/passwd"},
		{"www", "/abs"},
		{"www", "a/../../b"},
		{"www", `..\..\x`},
		{"www", "x\x00y"},
		{"www", ".."},
	}
	for _, n := range names {
		cfg := testSegmentConfig(t, CompressNone, newClock())
		_, err := NewWriter(RootFS(root), mustTemplate(t, "{group}-{vhost}.log"), Names{Group: n.group, Vhost: n.vhost}, cfg, nil, m)
		if !errors.Is(err, ErrBadName) {
			t.Errorf("group %q vhost %q: err %v, want ErrBadName", n.group, n.vhost, err)
		}
	}
	if got := testutil.ToFloat64(m.NamesRejected); got != float64(len(names)) {
		t.Errorf("names rejected = %v, want %d", got, len(names))
	}

	// Through the symlinked directory: os.Root refuses to follow it out.
	cfg := testSegmentConfig(t, CompressNone, newClock())
	w, err := NewWriter(RootFS(root), mustTemplate(t, "escape/{group}.log"), Names{Group: "www"}, cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(w, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if err := flush(w); err == nil {
		t.Errorf("flush through an escaping symlink succeeded (segment %q)", w.Segment())
	}
	// The symlinked file name is taken: a suffix is used, the target is not created.
	w2, err := NewWriter(RootFS(root), mustTemplate(t, "{group}.log"), Names{Group: "www"}, cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(w2, []byte("y\n")); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w2); err != nil {
		t.Fatal(err)
	}
	if w2.Segment() != "www.log_000001" {
		t.Errorf("segment = %q, want www.log.1", w2.Segment())
	}
	if got := listFiles(t, outside); len(got) != 0 {
		t.Errorf("files created outside the output directory: %v", got)
	}
	// The failing writer keeps its line: Close refuses, Abandon drops it.
	if err := w.Close(); !errors.Is(err, ErrFlushNeeded) {
		t.Errorf("Close with a frame not written = %v, want ErrFlushNeeded", err)
	}
	if err := w.Abandon(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("z\n")); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Write after Abandon = %v, want ErrWriterClosed", err)
	}
}

// faultFS wraps a real FS and hands out files that fail on demand.
type faultFS struct {
	FS
	files []*faultFile
}

func (f *faultFS) Create(name string) (File, error) {
	sf, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: sf, partial: -1}
	f.files = append(f.files, ff)
	return ff, nil
}

// faultFile fails WriteAt with ENOSPC while full is set, after writing partial bytes
// (a torn frame, as a real full disk does); partial < 0 writes half of p.
type faultFile struct {
	File
	full       bool
	partial    int
	failSync   bool
	writeCalls int
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.writeCalls++
	if !f.full {
		return f.File.WriteAt(p, off)
	}
	n := f.partial
	if n < 0 || n > len(p) {
		n = len(p) / 2
	}
	n, _ = f.File.WriteAt(p[:n], off)
	return n, &fs.PathError{Op: "write", Path: "fake", Err: syscall.ENOSPC}
}

func (f *faultFile) Datasync() error {
	if f.failSync {
		return &fs.PathError{Op: "fdatasync", Path: "fake", Err: syscall.EIO}
	}
	return f.File.Datasync()
}

// TestSegmentDiskFull injects ENOSPC: the failed frame is cut back, the data is kept,
// new data is refused once the buffer is full, and the retry produces a clean segment.
func TestSegmentDiskFull(t *testing.T) {
	for _, c := range []Compression{CompressZstd, CompressGzip, CompressNone} {
		t.Run(string(c), func(t *testing.T) {
			dir, root := testsupport.TempRoot(t)
			ffs := &faultFS{FS: RootFS(root)}
			cfg := testSegmentConfig(t, c, newClock())
			cfg.FlushBytes = 2048
			cfg.Fsync = FsyncFlush
			w, err := NewWriter(ffs, mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			put := func(s string) error {
				err := write(w, []byte(s))
				if err == nil {
					want.WriteString(s)
				}
				return err
			}
			if err := put(genLines(0, 10)); err != nil {
				t.Fatal(err)
			}
			if err := flush(w); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, w.Segment())
			st, _ := os.Stat(path)
			goodSize := st.Size()

			f := ffs.files[0]
			f.full = true
			if err := put(genLines(10, 5)); err != nil {
				t.Fatal(err) // buffered, below the step
			}
			err = flush(w)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush on full disk = %v, want ENOSPC", err)
			}
			if st, _ := os.Stat(path); st.Size() != goodSize {
				t.Errorf("partial frame left on disk: size %d, last good frame ends at %d", st.Size(), goodSize)
			}
			if got, err := catFile(t, path); err != nil || !strings.HasPrefix(want.String(), got) {
				t.Errorf("segment after failed flush: %v", err)
			}
			// Keep writing until Write refuses: accepted data stays bounded.
			refused := false
			for i := range 100 {
				if err := put(genLines(100+i*10, 10)); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("Write = %v, want ENOSPC", err)
					}
					refused = true
					break
				}
			}
			if !refused {
				t.Fatal("Write never refused data while the disk was full")
			}
			if w.Buffered() > 2*cfg.FlushBytes {
				t.Errorf("buffered %d bytes, want at most about one step (%d)", w.Buffered(), cfg.FlushBytes)
			}
			if got := testutil.ToFloat64(w.m.WriteErrors); got < 2 {
				t.Errorf("write errors = %v", got)
			}

			// A failing fdatasync is reported too, and retried.
			f.full = false
			f.failSync = true
			if err := flush(w); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Flush with failing sync = %v, want EIO", err)
			}
			f.failSync = false
			if err := put(genLines(5000, 3)); err != nil {
				t.Fatal(err)
			}
			if err := flushClose(w); err != nil {
				t.Fatal(err)
			}
			got, err := catFile(t, path)
			if err != nil {
				t.Fatalf("cat after recovery: %v", err)
			}
			if got != want.String() {
				t.Errorf("after recovery: got %d bytes, want %d (lines lost or doubled)", len(got), want.Len())
			}
		})
	}
}

// TestSegmentTmpfsFull fills a real 1 MiB tmpfs. It needs root and mount(2); it is
// skipped when the sandbox does not allow it.
func TestSegmentTmpfsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the fake ENOSPC file covers the retry path", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	root, err := os.OpenRoot(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	cfg := testSegmentConfig(t, CompressNone, newClock())
	cfg.FlushBytes = 64 << 10
	w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the disk with a ballast file, leaving some room for the segment.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 800<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		chunk := genLines(i*10, 10)
		if err := write(w, []byte(chunk)); err != nil {
			full = err
			break
		}
		want.WriteString(chunk)
		if err := flush(w); err != nil {
			full = err
		}
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("never hit ENOSPC on a 1 MiB tmpfs: %v", full)
	}
	path := filepath.Join(mnt, w.Segment())
	if got, err := catFile(t, path); err != nil || !strings.HasPrefix(want.String(), got) {
		t.Fatalf("segment on full disk is not a clean prefix: %v", err)
	}
	// Free space; the kept data is written on retry.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if got, err := catFile(t, path); err != nil || got != want.String() {
		t.Fatalf("after freeing space: %d bytes (err %v), want %d", len(got), err, want.Len())
	}
}

func TestSegmentConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"compression", func(c *Config) { c.Compression = "lz4" }},
		{"fsync", func(c *Config) { c.Fsync = "always" }},
		{"flush bytes", func(c *Config) { c.FlushBytes = 0 }},
		{"rotate bytes", func(c *Config) { c.RotateBytes = -1 }},
		{"rotate interval", func(c *Config) { c.RotateInterval = time.Millisecond }},
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
				t.Errorf("Validate = %v", err)
			}
		})
	}
}

func TestSegmentWriterClosed(t *testing.T) {
	_, root := testsupport.TempRoot(t)
	w, err := NewWriter(RootFS(root), mustTemplate(t, testTemplate), Names{Group: "www"}, testSegmentConfig(t, CompressZstd, newClock()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("x\n")); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
