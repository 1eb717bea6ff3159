//go:build unix

package source

import (
	"io/fs"
	"syscall"
)

// fileID returns the device, inode and link count of fi.
func fileID(fi fs.FileInfo) (dev, ino, nlink uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino), uint64(st.Nlink)
	}
	return 0, 0, 1
}

// DescriptorLimit returns the process's descriptor limit (RLIMIT_NOFILE, the soft one,
// which Go raises to the hard one at start), or 0 when it is unknown.
func DescriptorLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}
