//go:build linux

package source

import (
	"os"

	"golang.org/x/sys/unix"
)

// bornOf returns the birth time of the open file f (statx's btime, in nanoseconds), 0
// when the file system does not keep it. A file given the inode number of a deleted one
// (ext4 gives it to the next file created at once) has another birth time: the identity
// the device and inode alone do not tell.
func bornOf(f *os.File) int64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var st unix.Statx_t
	var serr error = unix.ENOTSUP
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_BTIME, &st)
	}); err != nil || serr != nil || st.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
}

// bornAt is bornOf for the file at name (not followed through a symlink: rotated
// names are regular files), 0 when it cannot be told.
func bornAt(name string) int64 {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_BTIME, &st); err != nil || st.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
}
