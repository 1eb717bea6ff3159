package statelock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestAcquireRefusesSecondHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open file descriptions: a second open in this process is
	// refused like another process would be.
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want ErrLocked", err)
	}
	le, ok := errors.AsType[*LockedError](err)
	if !ok {
		t.Fatalf("second Acquire: %T, want *LockedError", err)
	}
	if want := fmt.Sprintf("pid %d, started ", os.Getpid()); !strings.Contains(le.Holder, want) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory and the holder (%q)", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	var nilLock *Lock
	if err := nilLock.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestAcquireMissingDir(t *testing.T) {
	if _, err := Acquire(t.TempDir() + "/missing"); err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire of a missing directory: %v", err)
	}
}
