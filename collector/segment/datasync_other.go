//go:build !linux

package segment

import "os"

// datasync flushes f to stable storage (fsync: fdatasync is Linux-only here).
func datasync(f *os.File) error { return f.Sync() }

// nameMax returns the longest file name component: 255 (NAME_MAX) where it is not read
// from the file system.
func nameMax(string) int { return defaultNameMax }
