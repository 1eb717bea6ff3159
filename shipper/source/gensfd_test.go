package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// openFDs returns how many of the process's descriptors are open on name.
func openFDs(t *testing.T, name string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == name {
			n++
		}
	}
	return n
}

// TestGenLogHoldsNoDescriptor: the record of generations is opened for each append and
// closed after it: a stream holds no descriptor for it between records (one per rotated
// file, outside MaxOpenFiles, ran a shipper with many files out of descriptors).
func TestGenLogHoldsNoDescriptor(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ckpt-x.gens")
	l, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxGenEntries + 3 { // past a rewrite too
		if err := l.add(genEntry{Stream: 1, Base: uint64(i) * 100, Dev: 1, Ino: uint64(i + 2)}, 0); err != nil {
			t.Fatal(err)
		}
		if n := openFDs(t, name); n != 0 {
			t.Fatalf("after record %d: %d descriptors open on the record, want 0", i, n)
		}
	}
	l2, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(l2.entries) != len(l.entries) {
		t.Fatalf("loaded %d entries, want %d", len(l2.entries), len(l.entries))
	}
}

// TestGenLogFailedAddKept: an entry that cannot be written (here the record's name is a
// directory; in the field, no descriptor free) is kept, reported pending, and written by
// the next save or add with every entry after it: a failed record never loses a
// generation.
func TestGenLogFailedAddKept(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ckpt-x.gens")
	l, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.add(genEntry{Stream: 1, Base: 0, Dev: 1, Ino: 2}, 0); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(name)
	if err := os.Mkdir(name, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, base := range []uint64{100, 200} {
		if err := l.add(genEntry{Stream: 1, Base: base, Dev: 1, Ino: 3 + base}, 0); err == nil {
			t.Fatalf("add %d: no error with a directory at the record's name", i)
		}
		if !l.pending() {
			t.Fatalf("add %d failed, the record is not pending", i)
		}
	}
	if err := l.save(); err == nil {
		t.Fatal("save: no error with a directory at the record's name")
	}
	os.Remove(name)
	if err := os.WriteFile(name, saved, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	if l.pending() {
		t.Fatal("saved, still pending")
	}
	l2, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	var bases []uint64
	for _, e := range l2.entries {
		bases = append(bases, e.Base)
	}
	if len(bases) != 3 || bases[0] != 0 || bases[1] != 100 || bases[2] != 200 {
		t.Fatalf("loaded bases %v, want [0 100 200] (each once)", bases)
	}
}

// TestTailGenerationRecordFailureWaits: a rotated-to generation whose record cannot be
// written is not read (a restart could give its bytes other offsets): the file is in a
// failure state, counted and retried with backoff, and read once the record is written,
// every line exactly once.
func TestTailGenerationRecordFailureWaits(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, lines("a", 1, 3))
	tl := openTailer(t, s, path)
	wantRead(t, readAll(t, w, tl, 64<<10), lines("a", 1, 3))

	gens := s.store.genFile(path)
	os.Remove(gens) // a record there (or none yet)
	if err := os.Mkdir(gens, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 2))
	if got := readAll(t, w, tl, 64<<10); got != "" {
		t.Fatalf("read %q before the generation was recorded", got)
	}
	if v := testutil.ToFloat64(s.m.FilesUnreadable); v != 1 {
		t.Errorf("files_unreadable %v, want 1", v)
	}
	errs := 0.0
	for _, r := range []string{FileErrorPermission, FileErrorIO, FileErrorNotRegular, FileErrorVanished, FileErrorLimit, FileErrorOther} {
		errs += testutil.ToFloat64(s.m.FileErrors.WithLabelValues(r))
	}
	if errs != 1 {
		t.Errorf("file_errors_total %v, want 1 (one failure state, retried)", errs)
	}
	if err := os.Remove(gens); err != nil {
		t.Fatal(err)
	}
	// Retried after the backoff (a second): the lines come then.
	var got strings.Builder
	for got.Len() < len(lines("b", 1, 2)) {
		got.Write(next(t, tl, 64<<10).Data)
	}
	wantRead(t, got.String(), lines("b", 1, 2))
	if v := testutil.ToFloat64(s.m.FilesUnreadable); v != 0 {
		t.Errorf("files_unreadable %v after the record was written, want 0", v)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(st)
	l, err := openGenLog(gens, tl.Stream(), false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range l.entries {
		found = found || e.Dev == dev && e.Ino == ino
	}
	if !found {
		t.Fatalf("the new generation is not in the record: %+v", l.entries)
	}
}
