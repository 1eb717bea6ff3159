package testsupport

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// CheckModes fails t unless every regular file below root has mode file and every
// directory (root included) has mode dir, and at least one file was seen.
func CheckModes(t testing.TB, root string, file, dir fs.FileMode) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		want := file
		if d.IsDir() {
			want = dir
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("no files below %s", root)
	}
}
