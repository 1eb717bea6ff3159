//go:build unix

package segment

import (
	"io/fs"
	"syscall"
)

// IDOf returns the identity of the file fi describes (the zero FileID when fi does
// not carry it).
func IDOf(fi fs.FileInfo) FileID {
	if fi == nil {
		return FileID{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st == nil {
		return FileID{}
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // int32 on some systems
}
