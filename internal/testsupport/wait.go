package testsupport

import (
	"fmt"
	"testing"
	"time"
)

// Polling bounds of Eventually: it checks every pollMin at first, backing off to
// pollMax, so a condition that holds soon is seen within a millisecond or two and a
// long wait costs little CPU.
const (
	pollMin = time.Millisecond
	pollMax = 20 * time.Millisecond
)

// maxMargin is the most a wait leaves before the test binary's deadline for reporting
// the failure and running the cleanups (each of which has bounds of its own).
const maxMargin = time.Minute

// noDeadlineWait bounds a wait when the test binary has no deadline (go test -timeout 0).
const noDeadlineWait = 10 * time.Minute

// deadliner is the part of *testing.T that *testing.B and *testing.F lack.
type deadliner interface {
	Deadline() (time.Time, bool)
}

// Deadline returns when a wait in t gives up: shortly before the test binary's deadline
// (go test -timeout), leaving time to report the failure and run the cleanups, so a
// condition that never holds fails the test with its own message rather than a panic
// of the whole binary. Without a deadline (-timeout 0, benchmarks) it is 10 minutes
// from now. Waits never use a small fixed budget: a loaded machine only makes them
// slower, not fail.
func Deadline(t testing.TB) time.Time {
	if d, ok := t.(deadliner); ok {
		if dl, ok := d.Deadline(); ok {
			margin := min(max(time.Until(dl)/10, time.Second), maxMargin)
			return dl.Add(-margin)
		}
	}
	return time.Now().Add(noDeadlineWait)
}

// Eventually polls cond until it returns true, and fails the test with the message
// (format and args, as in fmt.Sprintf) once Deadline(t) passes. Call it from the test's
// goroutine, and not inside a testing/synctest bubble (whose clock is fake: there, use
// synctest.Wait).
func Eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	EventuallyErr(t, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf(format, args...)
	})
}

// EventuallyErr polls check until it returns nil, and fails the test with the last
// error check returned once Deadline(t) passes. Use it where the error can say how far
// things got ("receiver has 100 of 200 bytes"). The same rules as Eventually apply.
func EventuallyErr(t testing.TB, check func() error) {
	t.Helper()
	deadline := Deadline(t)
	start := time.Now()
	interval := pollMin
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v: %v", time.Since(start).Round(time.Millisecond), err)
			return
		}
		time.Sleep(interval) // polling, with a deadline from the test binary's
		interval = min(2*interval, pollMax)
	}
}

// Receive waits for a value from ch and returns it; it fails the test with the message
// (format and args) if none comes by Deadline(t), or if ch is closed.
func Receive[T any](t testing.TB, ch <-chan T, format string, args ...any) T {
	t.Helper()
	timer := time.NewTimer(time.Until(Deadline(t)))
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed: %s", fmt.Sprintf(format, args...))
		}
		return v
	case <-timer.C:
		t.Fatalf("timed out: %s", fmt.Sprintf(format, args...))
	}
	var zero T
	return zero
}

// Done waits until ch is closed (or yields a value); it fails the test with the message
// (format and args) if that does not happen by Deadline(t).
func Done[T any](t testing.TB, ch <-chan T, format string, args ...any) {
	t.Helper()
	timer := time.NewTimer(time.Until(Deadline(t)))
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("timed out: %s", fmt.Sprintf(format, args...))
	}
}
