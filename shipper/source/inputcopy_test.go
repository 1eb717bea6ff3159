package source

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// The copy of the journal's input file is given up while the file system is full (it
// holds a block of its own, which the journal's records come first for), and written
// again once there is room: then it says what the input file says, so that one of them
// damaged after a kill still leaves the journal's end known.
func TestJournalInputCopyFullFileSystem(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	cfg, _ := testConfig(t)
	cfg.StateDir = filepath.Join(mnt, "state")
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	copyName := filepath.Join(j.Dir(), inputCopyFile)
	if _, err := os.Stat(copyName); err != nil {
		t.Fatalf("no copy of the input file at open: %v", err)
	}
	// The writer makes its reserve before it reads: fill the file system after it.
	testsupport.Eventually(t, func() bool { return j.reserved.Load() }, "the reserve made")
	fillTo(t, mnt, 4<<10)
	var n int
	write := func(k int) {
		for i := range k {
			line := fmt.Sprintf("line %05d %s\n", n+i, strings.Repeat("x", 60))
			pw.WriteString(line)
		}
		n += k
	}
	write(200)
	testsupport.Eventually(t, func() bool {
		_, err := os.Stat(copyName)
		return os.IsNotExist(err)
	}, "the copy deleted on the full file system")
	os.Remove(filepath.Join(mnt, "filler"))
	// Read and acknowledge everything, then write more: the writer finds room and writes
	// the copy again.
	for got := 0; got < n; {
		c := next(t, j, 64<<10)
		got += bytes.Count(c.Data, []byte("\n"))
		if err := j.Ack(c.Pos); err != nil {
			t.Fatal(err)
		}
	}
	write(10)
	testsupport.EventuallyErr(t, func() error {
		in, err := os.ReadFile(filepath.Join(j.Dir(), inputFile))
		if err != nil {
			return err
		}
		cp, err := os.ReadFile(copyName)
		if err != nil {
			return err
		}
		if !bytes.Equal(in, cp) {
			return fmt.Errorf("the copy differs from the input file")
		}
		return nil
	})
}
