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
