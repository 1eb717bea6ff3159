//go:build unix

package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenStdin returns standard input as a reader that Close interrupts, whatever the flags
// of its open file description. That description is shared with the process that made
// the pipe (Apache keeps it to respawn its logger on it), so its flags are left as they
// are: O_NONBLOCK is neither set (it would stay set for every logger respawned on the
// pipe after a kill) nor required to be clear (a description left non-blocking by
// another program is read as well). The reader waits for input with poll(2), together
// with a wake-up pipe that Close writes to, then reads what is there; a read that finds
// nothing (EAGAIN: another reader took it) waits again.
func OpenStdin() (io.ReadCloser, error) {
	return newPollReader(0, "/dev/stdin")
}

// pollReader reads a descriptor it does not own through poll(2) (see OpenStdin).
type pollReader struct {
	fd     int
	name   string
	wr, ww int // the wake-up pipe: Close writes to ww

	mu       sync.Mutex // Guards the fields below.
	closed   bool
	reading  bool // a Read is waiting or reading: it closes the wake-up pipe after Close
	wakeOpen bool
}

func newPollReader(fd int, name string) (*pollReader, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (start the shipper with its input open, or without -)", name, err)
	}
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, fmt.Errorf("%s: wake-up pipe: %w", name, err)
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return &pollReader{fd: fd, name: name, wr: p[0], ww: p[1], wakeOpen: true}, nil
}

// Read waits until the input has bytes, ends or fails, or the reader is closed
// (os.ErrClosed), and reads.
func (r *pollReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, os.ErrClosed
	}
	r.reading = true
	r.mu.Unlock()
	n, err := r.read(b)
	r.mu.Lock()
	r.reading = false
	if r.closed {
		r.closeWake()
	}
	r.mu.Unlock()
	return n, err
}

func (r *pollReader) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wr), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return 0, &os.PathError{Op: "poll", Path: r.name, Err: err}
		}
		if fds[1].Revents != 0 {
			return 0, os.ErrClosed
		}
		ev := fds[0].Revents
		if ev == 0 {
			continue
		}
		if ev&unix.POLLNVAL != 0 {
			return 0, &os.PathError{Op: "read", Path: r.name, Err: syscall.EBADF}
		}
		n, err := unix.Read(r.fd, b)
		switch {
		case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN):
			continue // nothing after all (another reader of the pipe took it): wait again
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: r.name, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Close makes a waiting Read return os.ErrClosed, and every later one. It leaves the
// input's descriptor open: it is not the reader's.
func (r *pollReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	_, err := unix.Write(r.ww, []byte{0})
	if !r.reading {
		r.closeWake()
	}
	if err != nil {
		return &os.PathError{Op: "wake", Path: r.name, Err: err}
	}
	return nil
}

// closeWake closes the wake-up pipe once; r.mu must be held.
func (r *pollReader) closeWake() {
	if r.wakeOpen {
		unix.Close(r.wr)
		unix.Close(r.ww)
		r.wakeOpen = false
	}
}

// inputID returns the identity of the input in when reading it consumes it (a pipe, a
// FIFO, a socket), so that a later shipper on the same input reads on from where this
// one stopped: "DEV:INO". It returns "" for other inputs (a file is read again from its
// start) and when it cannot tell.
func inputID(in io.Reader) string {
	var dev, ino uint64
	var mode uint32
	switch r := in.(type) {
	case *pollReader:
		var st unix.Stat_t
		if unix.Fstat(r.fd, &st) != nil {
			return ""
		}
		dev, ino, mode = uint64(st.Dev), uint64(st.Ino), uint32(st.Mode)&unix.S_IFMT
	case *os.File:
		fi, err := r.Stat()
		if err != nil {
			return ""
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		dev, ino, mode = uint64(st.Dev), uint64(st.Ino), uint32(st.Mode)&unix.S_IFMT
	default:
		return ""
	}
	if mode != unix.S_IFIFO && mode != unix.S_IFSOCK {
		return ""
	}
	return fmt.Sprintf("%d:%d", dev, ino)
}

// fsSize returns the size of the file system holding dir.
func fsSize(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Blocks) * int64(st.Bsize), true
}

// fsFree returns the bytes of the file system holding dir available to its user.
func fsFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
