// Package statelock makes a state directory belong to one process at a time: a shipper's
// checkpoints and stdin journal, or a collector's state file. Two processes sharing one
// would interleave their offsets and stream ids and lose lines without an error.
//
// The lock is flock(2) on a lock file in the directory, taken without waiting. The kernel
// releases it when the holder exits or crashes, so a stale lock file never blocks a
// restart. The file holds a description of the holder (pid, start time, command line)
// for the error that a second process gets.
package statelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FileName is the name of the lock file in a locked directory.
const FileName = "logspread.lock"

// ErrLocked reports a directory locked by another process; the error returned by
// Acquire wraps it in a *LockedError that describes the holder.
var ErrLocked = errors.New("state directory in use by another process")

// A LockedError says which directory is locked and who holds it.
type LockedError struct {
	Dir    string
	Holder string // the holder's description from the lock file ("pid 123, started ..., command ...")
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: %s is locked by %s", ErrLocked, e.Dir, e.HolderOrUnknown())
}

// HolderOrUnknown returns Holder, or a phrase saying that the holder left no description.
func (e *LockedError) HolderOrUnknown() string {
	if e.Holder == "" {
		return "a process that left no description"
	}
	return e.Holder
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// A Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire locks dir (which must exist) for this process, without waiting. When another
// process holds it, the error is a *LockedError naming that process.
func Acquire(dir string) (*Lock, error) {
	name := filepath.Join(dir, FileName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if held {
		b, _ := os.ReadFile(name)
		f.Close()
		return nil, &LockedError{Dir: dir, Holder: strings.TrimSpace(string(b))}
	}
	desc := describe(time.Now())
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(desc+"\n"), 0) // the description is informative only
	}
	return &Lock{f: f}, nil
}

// describe says who this process is, for a second process's error.
func describe(now time.Time) string {
	return fmt.Sprintf("pid %d, started %s, command %s", os.Getpid(), now.UTC().Format(time.RFC3339),
		quoteArgs(os.Args))
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\|*?[]$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Release gives the lock up. The lock file stays (removing it would race with a process
// locking it); a nil *Lock is fine.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
