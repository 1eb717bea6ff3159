package shipper

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointPaced checks CheckpointInterval: after the first save, acknowledged
// positions wait for the next round instead of each being fsynced at once, and the
// last acknowledged position is saved when the shipper stops.
func TestCheckpointPaced(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(3, 20000)
	half := len(content) / 2
	for half > 0 && content[half-1] != '\n' {
		half--
	}
	writeFile(t, path, content[:half])
	s := newSources(t, cfg)
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scfg := testSendConfig("unix:"+sock, "www")
	scfg.CheckpointInterval = time.Hour
	rs := startShipper(t, scfg, tl)
	r.expect(content[:half])
	// Once the first round has saved something, the rest waits for the next round.
	checkFor(t, 20*time.Second, time.Millisecond, func() error {
		if _, found, err := s.Store().Load(path); err != nil || !found {
			return fmt.Errorf("no checkpoint yet (%v)", err)
		}
		return nil
	})
	appendFile(t, path, string(content[half:]))
	r.expect(content)
	rs.waitAcked(t, uint64(len(content)))
	// Unpaced, the end would be saved within milliseconds of its acknowledgement.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cp, _, err := s.Store().Load(path); err != nil || cp.Offset == uint64(len(content)) {
			t.Fatalf("checkpoint %+v %v saved before the interval ended", cp, err)
		}
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	if cp, _, err := s.Store().Load(path); err != nil || cp.Offset != uint64(len(content)) {
		t.Fatalf("after stop: checkpoint %+v %v, want offset %d", cp, err, len(content))
	}
}
