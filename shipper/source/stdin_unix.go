//go:build unix

package source

import (
	"fmt"
	"os"
	"syscall"
)

// OpenStdin returns standard input as a pollable *os.File, so that closing it (Journal.Close)
// interrupts a blocked read.
func OpenStdin() (*os.File, error) {
	if err := syscall.SetNonblock(0, true); err != nil {
		return nil, fmt.Errorf("stdin non-blocking: %w", err)
	}
	return os.NewFile(0, "/dev/stdin"), nil
}

// fsSize returns the size of the file system holding dir.
func fsSize(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Blocks) * int64(st.Bsize), true
}
