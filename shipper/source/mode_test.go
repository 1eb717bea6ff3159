package source

import (
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
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
	testsupport.CheckModes(t, cfg.StateDir, 0o640, 0o750)
}
