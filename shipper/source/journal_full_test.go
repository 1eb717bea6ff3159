package source

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestJournalDiskFull puts the stdin journal on a real 1 MiB tmpfs, fills the disk,
// pipes lines in, and checks that the journal holds input and retries (counted)
// instead of dropping it, then that every line comes out once space is freed.
func TestJournalDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		// Every journal file must be closed by now: an open one makes the mount busy.
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, mnt) {
				t.Errorf("still open after Close: fd %s -> %s", fd.Name(), l)
			}
		}
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	cfg, _ := testConfig(t)
	cfg.StateDir = filepath.Join(mnt, "state")
	cfg.JournalSegment = 64 << 10
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)

	// Fill the disk, leaving a few KiB for the checkpoint and the first records.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("f"), 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	var want strings.Builder
	go func() {
		for i := range 3000 {
			line := fmt.Sprintf("line %05d %s\n", i, strings.Repeat("x", i%80))
			want.WriteString(line) // read by the test only after the writer finishes
			if _, err := pw.WriteString(line); err != nil {
				return
			}
		}
		pw.Close()
	}()
	testsupport.EventuallyErr(t, func() error {
		if n := testutil.ToFloat64(s.m.JournalWriteErrors); n < 2 {
			return fmt.Errorf("%v journal write errors, want retries on the full disk", n)
		}
		return nil
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for {
		c, err := j.Next(t.Context(), 64<<10)
		if err != nil {
			break // io.EOF once everything journaled was returned
		}
		got.Write(c.Data)
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	if got.String() != want.String() {
		t.Fatalf("journal returned %d bytes, want %d; first difference at byte %d",
			got.Len(), want.Len(), firstDiff([]byte(got.String()), []byte(want.String())))
	}
}
