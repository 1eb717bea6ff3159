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

// maxOpenFiles returns n, or when n is 0 half the process's descriptor limit.
func maxOpenFiles(n int) int {
	if n > 0 {
		return n
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 512
	}
	return int(max(min(rl.Cur/2, 1<<20), minOpenFiles))
}
