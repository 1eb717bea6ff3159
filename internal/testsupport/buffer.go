package testsupport

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer that a process's output copier (or a logger) writes while the
// test reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex // Guards b.
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitMatch waits until the text written so far matches the regular expression pattern
// (see Eventually) and returns the first match and its submatches. Use it to wait for a
// log line: WaitMatch(t, `msg="serving metrics" .*\baddr=(\S+)`).
func (b *Buffer) WaitMatch(t testing.TB, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	Eventually(t, func() bool {
		m = re.FindStringSubmatch(b.String())
		return m != nil
	}, "no match for %q in:\n%s", pattern, b)
	return m
}
