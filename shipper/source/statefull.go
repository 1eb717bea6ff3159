package source

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
)

// stateFault, set by tests, makes a write to the state directory fail with the error it
// returns for the file's name (a full file system: syscall.ENOSPC); nil writes normally.
var stateFault atomic.Pointer[func(name string) error]

// stateCreateFault, set by tests, makes the creation of an empty file in the state
// directory (a file system without a free inode, or whose directory cannot grow) fail
// with the error it returns for the file's name; nil creates normally. stateFault does
// not apply there: a full file system usually still has inodes.
var stateCreateFault atomic.Pointer[func(name string) error]

// faultCreate returns the error stateCreateFault chooses for the creation of the empty
// file name, as an open would return it, or nil.
func faultCreate(name string) error {
	if h := stateCreateFault.Load(); h != nil {
		if err := (*h)(name); err != nil {
			return &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return nil
}

// faultState returns the error stateFault chooses for a write of name, as a write would
// return it (a *fs.PathError naming the file), or nil.
func faultState(name string) error {
	if h := stateFault.Load(); h != nil {
		if err := (*h)(name); err != nil {
			return &fs.PathError{Op: "write", Path: name, Err: err}
		}
	}
	return nil
}

// stateHealth tells, for a whole state directory, whether its state can be saved: a
// full file system (or a quota, a read-only remount, an I/O error) makes every save of
// every source fail at once, hundreds a second with many files. It logs once per change
// of state, not once per failed save: a warning when saves begin to fail (with the
// first error) and a notice when one succeeds again (with how many failed meanwhile),
// and counts each failure (logspread_shipper_state_save_errors_total). Its methods are
// safe for concurrent use.
type stateHealth struct {
	log *slog.Logger
	m   *Metrics // nil: not counted

	mu      sync.Mutex // Guards the fields below.
	failing bool
	failed  int    // saves failed since failing began
	first   string // the first error's message then
}

// fail records a failed save of the state directory (what: the state not saved).
// It reports whether err is the first of a failing spell (and was logged).
func (h *stateHealth) fail(what string, err error) bool {
	if h == nil || err == nil {
		return false
	}
	if h.m != nil {
		h.m.StateSaveErrors.Inc()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed++
	if h.failing {
		return false
	}
	h.failing, h.first = true, err.Error()
	msg := "cannot save state in the state directory; every source goes on reading and shipping, saves are retried (logged again when they succeed)"
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		msg = "state directory is full: cannot save state; every source goes on reading and shipping (new files from their beginning), saves are retried (logged again when they succeed)"
	}
	h.log.Warn(msg, "what", what, "err", err,
		"note", "a restart before saves succeed again reads the files followed meanwhile again (collectors drop what they wrote)")
	return true
}

// stateSavedAgain is the notice that ends a spell of failed saves.
const stateSavedAgain = "state saved again in the state directory"

// ok records a successful save: a failing spell ends, logged with its count.
func (h *stateHealth) ok() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing {
		return
	}
	h.log.Info(stateSavedAgain, "failed_saves", h.failed, "first_err", h.first)
	h.failing, h.failed, h.first = false, 0, ""
}

// stateFull reports whether err is a write to the state directory that failed for want
// of space (or quota): a source whose state cannot be saved then is followed all the
// same, its state saved when space comes back.
func stateFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// matchStream returns the stream id of a new glob match (no checkpoint, no record) read
// from its beginning: derived from the pattern's salt (Glob.salt) and the file at path
// (its path, device, inode and birth time), not random, so that a restart that finds no
// state of the match (the state directory was full: nothing of it could be saved) reads
// it again as the same stream at the same offsets, and collectors drop the lines they
// wrote instead of writing them twice. It returns 0 (a random id is drawn) without a
// salt, or when the file's birth time is not known: device and inode alone name another
// file after a deletion, whose lines collectors would drop.
func matchStream(salt uint64, path string) uint64 {
	if salt == 0 {
		return 0
	}
	f, err := openName(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	born := bornOf(f)
	if born == 0 {
		return 0
	}
	dev, ino, _ := fileID(fi)
	h := sha256.New()
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], salt)
	binary.LittleEndian.PutUint64(b[8:], dev)
	binary.LittleEndian.PutUint64(b[16:], ino)
	binary.LittleEndian.PutUint64(b[24:], uint64(born))
	h.Write(b[:])
	h.Write([]byte(path))
	if id := binary.LittleEndian.Uint64(h.Sum(nil)); id != 0 {
		return id
	}
	return 0
}
