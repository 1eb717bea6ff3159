package testsupport

import (
	"os"
	"path/filepath"
	"testing"
)

// RotateNames rotates the file live of dir by rename, as logrotate's create does with
// numbered names: each generation rotated(k) present is renamed to rotated(k+1), the
// newest first, live to rotated(1), and an empty live file is created.
func RotateNames(t testing.TB, dir, live string, rotated func(k int) string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	n := 0
	for {
		if _, err := os.Stat(p(rotated(n + 1))); err != nil {
			break
		}
		n++
	}
	for k := n; k >= 1; k-- {
		if err := os.Rename(p(rotated(k)), p(rotated(k+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(p(live), p(rotated(1))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p(live), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
