package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestTailOldRotatedFileTimeAhead: a rotated file modified before the file at the path
// when the tailer begins (or before the checkpointed file) is an older generation, though
// modified after the tailer began by the host's clock. With a file system clock ahead of
// the host's (NFS, a skewed VM, a touched file), a look that had counted creations of the
// path (fsnotify) took it for a new generation, held it ahead and drained it whole once
// logrotate deleted it: every line of it a second time (TestTailModel -model.watch, seed
// 1796060466301118756 at 60 operations).
func TestTailOldRotatedFileTimeAhead(t *testing.T) {
	for round := range 5 {
		cfg, w := testConfig(t)
		cfg.RotateWait = time.Hour
		s := newSources(t, cfg)
		if s.watcher == nil {
			t.Fatal("no fsnotify watcher")
		}
		path := filepath.Join(t.TempDir(), "access.log")
		appendFile(t, path+".1", lines("old-", 1, 3))
		future := time.Now().Add(time.Hour)
		if err := os.Chtimes(path+".1", future, future); err != nil {
			t.Fatal(err)
		}
		// The file system's clock is ahead of the host's: the file at the path, the
		// newest, was modified after the old generation, both "in the future".
		appendFile(t, path, "")
		if err := os.Chtimes(path, future.Add(time.Second), future.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		tl := openTailer(t, s, path)
		want := lines("cur-", 1, 2)
		appendFile(t, path, want)
		// Two rotations before a look: two creations counted, one new file at the
		// path; the look lists the rotated names for the other.
		for i := 2; i <= 3; i++ {
			if err := os.Rename(path, path+"."+itoa(i)); err != nil {
				t.Fatal(err)
			}
			tag := "new" + itoa(i) + "-"
			appendFile(t, path, lines(tag, 1, 2))
			want += lines(tag, 1, 2)
		}
		testsupport.EventuallyErr(t, func() error {
			if n := tl.creates.Load(); n < 2 {
				return fmt.Errorf("%d creations of the path counted, want 2", n)
			}
			return nil
		})
		tl.lookFor()
		if err := os.Remove(path + ".1"); err != nil { // logrotate's rotate count
			t.Fatal(err)
		}
		tl.lookFor()
		got := readAll(t, w, tl, 64<<10)
		if strings.Contains(got, "old-") {
			t.Fatalf("round %d: the rotated file present when the tailer began (modified in the future) was shipped:\n%s", round, got)
		}
		for _, l := range strings.SplitAfter(want, "\n") {
			if n := strings.Count(got, l); l != "" && n != 1 {
				t.Fatalf("round %d: line %q read %d times, want once", round, l, n)
			}
		}
	}
}
