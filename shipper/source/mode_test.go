package source

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestStateFileModes: checkpoints and journal segments are 0640, their directories 0750,
// so the shipper's group may read its state and others may not.
func TestStateFileModes(t *testing.T) {
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("one line\n")
	c := next(t, j, 1000)
	if err := j.Ack(c.Pos); err != nil {
		t.Fatal(err)
	}
	if err := s.store.Save(Checkpoint{Path: "/var/log/x.log", Stream: 1}); err != nil {
		t.Fatal(err)
	}
	checkModes(t, cfg.StateDir, 0o640, 0o750)
}

// checkModes fails t unless every regular file below root has mode file and every
// directory (root included) has mode dir, and at least one file was seen.
func checkModes(t *testing.T, root string, file, dir fs.FileMode) {
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
