package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/internal/statelock"
)

// stateDirError turns an error opening the state directory dir into the command's error:
// a directory locked by another process is a usage error (exit 2) that names the holder
// and says what to do; a directory that cannot be created or written (the error of a
// file system call on it or on a file directly in it) names --state-dir and the remedy.
func stateDirError(cmd, dir string, err error) error {
	return stateDirErrorAs(cmd, dir, true, err)
}

// stateDirErrorAs is stateDirError for a state directory that was given (--state-dir or
// state_dir) or, when given is false, collect's default: the --dir directory itself.
func stateDirErrorAs(cmd, dir string, given bool, err error) error {
	setting, remedy := "--state-dir (YAML state_dir) "+dir, "or choose another --state-dir"
	if !given {
		setting = "the state directory " + dir + " (by default the --dir directory; no --state-dir was given)"
		remedy = "or give --state-dir (YAML state_dir) a writable directory such as /var/lib/logspread/collector, where the collector keeps its state apart from its segments"
	}
	if le, ok := errors.AsType[*statelock.LockedError](err); ok {
		who := "shipper (one per piped CustomLog)"
		if cmd == "collect" {
			who = "collector"
		}
		return usageError("%s: %s is in use by another process (%s); give every %s its own --state-dir",
			cmd, setting, le.HolderOrUnknown(), who)
	}
	if _, named := errors.AsType[*collector.DirError](err); named {
		return fmt.Errorf("%s: %w", cmd, err) // names its flag (--dir or --state-dir) already
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok && (onStatePath(dir, pe.Path) || isNoSpace(pe.Err) && underDir(dir, pe.Path)) {
		user := "shipper"
		if cmd == "collect" {
			user = "collector"
		}
		switch {
		case isFDLimit(pe.Err):
			return fmt.Errorf("%s: %s: cannot open %s: %w: the process is out of file descriptors "+
				"(raise its limit: ulimit -n, or LimitNOFILE= in the systemd unit%s)",
				cmd, setting, pe.Path, pe.Err, fdRemedy(cmd))
		case isNoSpace(pe.Err):
			return fmt.Errorf("%s: %s: cannot write %s: %w (free space on its file system, or raise the quota, %s)",
				cmd, setting, pe.Path, pe.Err, remedy)
		}
		return fmt.Errorf("%s: %s: cannot create or write it: %s %s: %w "+
			"(make it a directory writable by the %s's user, %s)",
			cmd, setting, pe.Op, pe.Path, pe.Err, user, remedy)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// fdRemedy is what else cmd can do when out of descriptors.
func fdRemedy(cmd string) string {
	if cmd == "ship" {
		return "; or lower --max-open-files (YAML max_open_files), the files held open at once"
	}
	return ""
}

// isFDLimit reports whether err is a shortage of file descriptors (EMFILE, ENFILE).
func isFDLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// isNoSpace reports whether err is a full file system or quota (ENOSPC, EDQUOT).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// underDir reports whether path is inside dir (a full file system there, such as the
// stdin journal's files failing to be written, is the state directory's).
func underDir(dir, path string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && filepath.IsLocal(rel)
}

// onStatePath reports whether path is dir, a file directly in it, or a directory above
// it (where creating dir failed).
func onStatePath(dir, path string) bool {
	dir, path = filepath.Clean(dir), filepath.Clean(path)
	if path == dir || filepath.Dir(path) == dir {
		return true
	}
	rel, err := filepath.Rel(path, dir)
	return err == nil && filepath.IsLocal(rel)
}

// collectLock is the lock of a collector's state directory.
type collectLock struct {
	dir   string
	given bool // --state-dir (state_dir) was given; else dir is --dir's
	*statelock.Lock
}

// lockStateDir locks the collector's state directory (--state-dir, default --dir),
// creating it if needed: two collectors writing one state file would lose track of what
// each wrote.
func lockStateDir(cfg collector.Config) (collectLock, error) {
	dir, setting := cfg.StateDir, "--state-dir (YAML state_dir)"
	if dir == "" {
		dir, setting = cfg.Dir, "--dir (YAML dir; the state directory by default)"
	}
	if dir == "" {
		dir = collector.DefaultConfig().Dir
	}
	l := collectLock{dir: dir, given: cfg.StateDir != ""}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return l, &collector.DirError{Setting: setting, Dir: dir, Err: err}
	}
	var err error
	l.Lock, err = statelock.Acquire(dir)
	return l, err
}
