package shipper

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The helpers below open real sources for the sender tests (package source has its own
// copies for its tests).

// testConfig returns a source config for tests: state in a temp dir, a manual waker.
func testConfig(t *testing.T) (source.Config, *source.ManualWaker) {
	t.Helper()
	cfg := source.DefaultConfig()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	w := source.NewManualWaker()
	cfg.Waker = w
	return cfg, w
}

func newSources(t *testing.T, cfg source.Config) *source.Set {
	t.Helper()
	s, err := source.New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTailer(t *testing.T, s *source.Set, path string) *source.Tailer {
	t.Helper()
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

func appendFile(t *testing.T, name string, data string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
