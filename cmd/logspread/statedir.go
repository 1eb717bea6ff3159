package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/internal/statelock"
)

// stateDirError turns an error opening the state directory dir into the command's error:
// a directory locked by another process is a usage error (exit 2) that names the holder
// and says what to do.
func stateDirError(cmd, dir string, err error) error {
	if le, ok := errors.AsType[*statelock.LockedError](err); ok {
		who := "shipper (one per piped CustomLog)"
		if cmd == "collect" {
			who = "collector"
		}
		return usageError("%s: --state-dir %s is in use by another process (%s); give every %s its own --state-dir",
			cmd, dir, le.HolderOrUnknown(), who)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// collectLock is the lock of a collector's state directory.
type collectLock struct {
	dir string
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
	l := collectLock{dir: dir}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return l, &collector.DirError{Setting: setting, Dir: dir, Err: err}
	}
	var err error
	l.Lock, err = statelock.Acquire(dir)
	return l, err
}
