package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	for _, write := range []func(string, []byte, os.FileMode) error{Write, WriteUnsynced} {
		testWrite(t, write)
	}
}

// testWrite checks Write or WriteUnsynced (the same, but for what a power loss keeps).
func testWrite(t *testing.T, write func(string, []byte, os.FileMode) error) {
	t.Helper()
	dir := t.TempDir()
	name := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second, longer than the first", ""} {
		if err := write(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != content {
			t.Fatalf("after Write(%q): %q, %v", content, got, err)
		}
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries in the directory, want only the file (temporary files left behind?)", len(entries))
	}
}

func TestWriteFailureLeavesOld(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state")
	if err := Write(name, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Renaming over a directory fails: the old content must stay and no temp file remain.
	if err := Write(filepath.Join(dir, "sub"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "sub"), []byte("new"), 0o644); err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	}
	if got, _ := os.ReadFile(name); string(got) != "old" {
		t.Errorf("old file now %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d entries, want 2 (a temporary file left behind?)", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "state"), nil, 0o644); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}
