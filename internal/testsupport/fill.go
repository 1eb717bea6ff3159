package testsupport

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// FillFile writes 4 KiB blocks to a new file name until its file system is full
// (ENOSPC); any other error fails the test. The file is left for the test to remove
// (freeing the space).
func FillFile(t testing.TB, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4096)
	for {
		if _, err := f.Write(b); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
