package collector

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestOutputFileModes: segments and the state file are 0640 and the directories the
// collector creates 0750, so the collector's group reads the merged logs and others
// do not.
func TestOutputFileModes(t *testing.T) {
	addr := testsupport.StartDaemon(t).Addr
	tmp := t.TempDir()
	cfg := testConfig(t, addr)
	cfg.Dir = filepath.Join(tmp, "out")
	cfg.StateDir = filepath.Join(tmp, "state")
	cfg.Logs[0].Template = "{group}/%Y/{group}.log.zst"
	c := newTestCollector(t, cfg, nil).start(t)
	s := newSender(t, addr, 7)
	s.batch("www", testLines("m", 0, 10))
	c.waitMessages(t, 1)
	c.stop(t)
	for _, root := range []string{cfg.Dir, cfg.StateDir} {
		files := 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			want := fs.FileMode(0o640)
			if d.IsDir() {
				want = 0o750
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
}
