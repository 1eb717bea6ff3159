package source

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStoreRoundTripAndCorrupt(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
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
	if err := os.WriteFile(s.File(path), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Load(path)
	if !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), s.File(path)) {
		t.Errorf("corrupt file: %v", err)
	}
	other := cp
	other.Path = "/elsewhere"
	b, _ := os.ReadFile(s.File(path))
	_ = b
	if err := s.Save(other); err != nil {
		t.Fatal(err)
	}
	os.Rename(s.File(other.Path), s.File(path))
	if _, _, err := s.Load(path); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("checkpoint of another path accepted: %v", err)
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
