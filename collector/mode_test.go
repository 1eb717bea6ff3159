package collector

import (
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
		testsupport.CheckModes(t, root, 0o640, 0o750)
	}
}
