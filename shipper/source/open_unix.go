//go:build unix

package source

import (
	"io/fs"
	"os"
	"syscall"
)

// openRegular opens name for reading without ever blocking in open(2), and only if it is
// a regular file. A FIFO's open blocks until a writer comes, and a device's may have side
// effects, so the type is checked before opening, and the open itself is non-blocking
// (O_NONBLOCK, O_NOCTTY) with the type checked again on the descriptor, so that a FIFO
// put at the name between the two checks cannot hang the tailer either. Anything else
// fails with errNotRegular (FileErrorNotRegular).
func openRegular(name string) (*os.File, error) {
	if fi, err := os.Stat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, notRegular("open", name, fi.Mode())
	}
	return openNonBlocking(name)
}

// openNonBlocking opens name for reading with O_NONBLOCK, so that the open itself never
// waits (for a FIFO's writer), and returns it as a blocking *os.File if it is a regular
// file; errNotRegular otherwise.
func openNonBlocking(name string) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, notRegular("open", name, modeOf(uint32(st.Mode)))
	}
	// Reads of a regular file ignore O_NONBLOCK; it is cleared so that the descriptor is
	// an ordinary blocking one for os.File (not put in the poller).
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// modeOf returns the fs.FileMode type bits of a stat mode.
func modeOf(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFDIR:
		return fs.ModeDir
	}
	return fs.ModeIrregular
}
