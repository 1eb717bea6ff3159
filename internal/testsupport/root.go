package testsupport

import (
	"os"
	"testing"
)

// TempRoot returns a new temporary directory and the *os.Root opened on it, closed at
// the end of the test.
func TempRoot(t testing.TB) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}
