package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStoreRoundTrip(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := "/var/log/../log/apache2/access.log"
	if _, found, err := s.Load(path); found || err != nil {
		t.Fatalf("empty store: found %v err %v", found, err)
	}
	cp := Checkpoint{Path: path, Stream: 42, Dev: 1, Ino: 2, FPLen: 3, FP: 4, FileOffset: 5, Offset: 6, LineOff: 7}
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Load(path)
	cp.Version = checkpointVersion
	if !found || err != nil || !cmp.Equal(got, cp) {
		t.Fatalf("load: %v %v %s", found, err, cmp.Diff(cp, got))
	}
	if strings.Contains(s.File(path), "access") {
		t.Errorf("state file name %s derived from the raw path", s.File(path))
	}
	b, _ := os.ReadFile(s.File(path))
	if !strings.Contains(string(b), `"crc32c":`) {
		t.Errorf("checkpoint file has no checksum: %s", b)
	}
}

// TestStoreLegacyCheckpoint: a version 1 checkpoint file (no checksum) still loads.
func TestStoreLegacyCheckpoint(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := "/var/log/access.log"
	v1 := `{"version":1,"path":"/var/log/access.log","stream":9,"dev":1,"ino":2,"fp_len":3,"fp":4,"file_offset":5,"offset":6}` + "\n"
	if err := os.WriteFile(s.File(path), []byte(v1), 0o640); err != nil {
		t.Fatal(err)
	}
	want := Checkpoint{Version: checkpointVersion, Path: path, Stream: 9, Dev: 1, Ino: 2, FPLen: 3, FP: 4, FileOffset: 5, Offset: 6}
	got, found, err := s.Load(path)
	if !found || err != nil || !cmp.Equal(got, want) {
		t.Fatalf("load v1: %v %v %s", found, err, cmp.Diff(want, got))
	}
}

// storeOpener returns a function that opens the store of dir (closed when the test
// ends), each time anew, as a restart does.
func storeOpener(t *testing.T, dir string, m *Metrics) func() *Store {
	return func() *Store {
		s, err := openStore(dir, testsupport.Logger(t), m)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// TestStoreFallbacks: a corrupt or missing checkpoint falls back to its previous copy,
// then to the record of followed sources (the start of the followed file generation),
// counted; with neither, a corrupt one is ErrCorruptCheckpoint naming the file and a
// missing one is a new source.
func TestStoreFallbacks(t *testing.T) {
	dir := t.TempDir()
	m, _ := NewMetrics(nil)
	open := storeOpener(t, dir, m)
	s := open()
	path := "/var/log/access.log"
	gen1 := Checkpoint{Path: path, Stream: 42, Dev: 1, Ino: 2, FPLen: 10, FP: 4, FileOffset: 100, Offset: 1100}
	gen1b := gen1
	gen1b.FileOffset, gen1b.Offset = 200, 1200
	for _, cp := range []Checkpoint{gen1, gen1b} {
		if err := s.Save(cp); err != nil {
			t.Fatal(err)
		}
	}
	zero := func(name string) {
		t.Helper()
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, make([]byte, fi.Size()), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	load := func(wantOff uint64) {
		t.Helper()
		got, found, err := open().Load(path)
		if err != nil || !found || got.Offset != wantOff || got.Stream != 42 {
			t.Fatalf("load: %+v found %v err %v; want offset %d of stream 42", got, found, err, wantOff)
		}
	}
	zero(s.File(path))
	load(gen1.Offset) // the previous copy
	if n := testutil.ToFloat64(m.CheckpointsCorrupt); n != 1 {
		t.Errorf("corrupt checkpoints %v, want 1", n)
	}
	os.Remove(s.File(path))
	load(gen1.Offset) // deleted: the previous copy still
	zero(s.File(path) + ".prev")
	cp, found, err := open().Load(path)
	// The record: the start of the followed file, with the same stream and offsets.
	want := Checkpoint{Version: checkpointVersion, Path: path, Stream: 42, Dev: 1, Ino: 2, FPLen: 10, FP: 4, Offset: 1000}
	if err != nil || !found || !cmp.Equal(cp, want) {
		t.Fatalf("load from the record: found %v err %v %s", found, err, cmp.Diff(want, cp))
	}
	if n := testutil.ToFloat64(m.CheckpointFallbacks); n != 3 {
		t.Errorf("fallbacks %v, want 3", n)
	}

	// Saving after a corrupt load does not make the corrupt file the previous copy.
	s = open()
	if err := os.WriteFile(s.File(path), []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.File(path)+".prev", []byte(mustEncode(t, gen1)), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(gen1b); err != nil {
		t.Fatal(err)
	}
	load(gen1b.Offset)
	os.Remove(s.File(path))
	load(gen1.Offset)

	// Without a record: corrupt is an error naming the file; missing is a new source.
	if err := s.Remove(path); err != nil {
		t.Fatal(err)
	}
	s = open()
	if _, found, err := s.Load(path); found || err != nil {
		t.Fatalf("removed source: found %v err %v", found, err)
	}
	if err := os.WriteFile(s.File(path), []byte("\x00\x00\x00"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Load(path)
	if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), s.File(path)) || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("corrupt file: %v", err)
	}
	other := gen1
	other.Path = "/elsewhere"
	if err := os.WriteFile(s.File(path), []byte(mustEncode(t, other)), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(path); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("checkpoint of another path accepted: %v", err)
	}
}

func mustEncode(t *testing.T, cp Checkpoint) string {
	t.Helper()
	b, err := encodeCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFollowedLog: the record survives a torn last line, records file generations only
// (not every checkpoint), and is compacted.
func TestFollowedLog(t *testing.T) {
	dir := t.TempDir()
	name := dir + "/" + followedName
	l, err := openFollowed(name, testsupport.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		cp := Checkpoint{Path: "/a", Stream: 1, Dev: 1, Ino: 7, FPLen: min(10*i, FingerprintLen), FP: uint64(i), FileOffset: int64(10 * i), Offset: 500 + uint64(10*i)}
		if err := l.note(&cp); err != nil {
			t.Fatal(err)
		}
	}
	if l.lines > 3 {
		t.Errorf("%d lines for one file generation, want at most 3", l.lines)
	}
	cp := Checkpoint{Path: "stdin:x", Stream: 2, FileOffset: 5, Offset: 5}
	for range 3 {
		cp.Offset += 100
		cp.FileOffset += 100
		if err := l.note(&cp); err != nil {
			t.Fatal(err)
		}
	}
	l.close()
	f, _ := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`0badc0de {"path":"/torn"`)
	f.Close()
	l, err = openFollowed(name, testsupport.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if rec, ok := l.get("/a"); !ok || rec.Base != 500 || rec.Ino != 7 {
		t.Errorf("record of /a: %+v %v", rec, ok)
	}
	if rec, ok := l.get("stdin:x"); !ok || rec.Stream != 2 || rec.Base != 0 {
		t.Errorf("record of the journal: %+v %v", rec, ok)
	}
	if l.lines != 2 {
		t.Errorf("%d lines after compaction, want 2", l.lines)
	}
	for i := range 200 {
		p := fmt.Sprint("/f", i)
		if err := l.note(&Checkpoint{Path: p, Stream: 3}); err != nil {
			t.Fatal(err)
		}
		if err := l.forget(p); err != nil {
			t.Fatal(err)
		}
	}
	if l.lines > 2*len(l.recs)+65 {
		t.Errorf("%d lines for %d sources: not compacted", l.lines, len(l.recs))
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("missing state dir: %v", err)
	}
	cfg.StateDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	cfg.MaxLine = 1
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("max line 1: %v", err)
	}
}

// TestStoreSaveFailsKeepsCheckpoint: a save that cannot write the new checkpoint (a full
// file system) leaves the checkpoint file as it was: a restart then resumes at the last checkpoint saved, not at the previous copy
// with a "checkpoint file missing" warning. The old save moved the checkpoint file to the
// previous copy first, so a failed write (or a SIGKILL before the write) left none.
func TestStoreSaveFailsKeepsCheckpoint(t *testing.T) {
	mnt := mountTmpfs(t, "256k")
	dir := filepath.Join(mnt, "state")
	m, _ := NewMetrics(nil)
	open := storeOpener(t, dir, m)
	s := open()
	path := "/var/log/access.log"
	cp := Checkpoint{Path: path, Stream: 42, Dev: 1, Ino: 2, FPLen: 10, FP: 4}
	// One save, so that the next frees no previous copy's space for the new file.
	cp.FileOffset, cp.Offset = 200, 200
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
	fillTo(t, mnt, 0)
	cp.FileOffset, cp.Offset = 300, 300
	if err := s.Save(cp); !isNoSpace(err) {
		t.Fatalf("save on a full file system: %v, want ENOSPC", err)
	}
	for _, f := range []struct {
		name string
		want uint64
	}{{s.File(path), 200}, {s.File(path) + ".prev", 200}} {
		got, found, err := readCheckpoint(f.name, path)
		if err != nil || !found || got.Offset != f.want {
			t.Errorf("%s after the failed save: %+v found %v err %v; want offset %d", filepath.Base(f.name), got, found, err, f.want)
		}
	}
	got, found, err := open().Load(path)
	if err != nil || !found || got.Offset != 200 {
		t.Fatalf("load: %+v found %v err %v; want offset 200", got, found, err)
	}
	// Saved again (space freed): no name of the temporary link is left.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
	if links, _ := filepath.Glob(filepath.Join(dir, ".*.link")); len(links) > 0 {
		t.Errorf("temporary links left: %q", links)
	}
	if n := testutil.ToFloat64(m.CheckpointFallbacks); n != 0 {
		t.Errorf("fallbacks %v, want 0", n)
	}
}
