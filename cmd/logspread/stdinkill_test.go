package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipStdinKilledInsideLine: a shipper killed (SIGKILL, as the OOM killer does) while
// it holds the start of a line it read from its pipe does not lose that start. Respawned
// on the same pipe (Apache keeps it and starts a new logger on it), the new shipper reads
// the rest of the line and the line arrives whole, once; started on another input, the
// start arrives as a line of its own (terminated), and the new input after it. The start
// is read with the lines before it, or alone (alone=true: a read without a line end, whose
// start was saved as beginning one byte before the journal's end, so the next run took it
// for stale and dropped it, silently).
func TestShipStdinKilledInsideLine(t *testing.T) {
	for _, alone := range []bool{false, true} {
		for _, samePipe := range []bool{true, false} {
			t.Run(fmt.Sprintf("alone=%v/same_pipe=%v", alone, samePipe), func(t *testing.T) {
				testShipStdinKilledInsideLine(t, alone, samePipe)
			})
		}
	}
}

func testShipStdinKilledInsideLine(t *testing.T, alone, samePipe bool) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	state := filepath.Join(dir, "state")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", state, "-"}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	start := func(in *os.File) *testsupport.Process {
		cmd := testsupport.Command(t, args...)
		cmd.Stdin = in
		return testsupport.Start(t, cmd)
	}
	lines := genLines(7, 200)
	cut := bytes.LastIndexByte(lines, '\n') + 1
	last := bytes.IndexByte(lines[bytes.LastIndexByte(lines[:cut-1], '\n')+1:], ' ') // inside the last line
	head := lines[:bytes.LastIndexByte(lines[:cut-1], '\n')+1]
	partStart := lines[len(head) : len(head)+last]
	partRest := lines[len(head)+last:]
	p := start(pr)
	first := append(bytes.Clone(head), partStart...)
	if alone {
		first = head
	}
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	if alone {
		testsupport.EventuallyErr(t, func() error {
			if n := r.len(); n < len(head) {
				return fmt.Errorf("receiver has %d bytes, want %d", n, len(head))
			}
			return nil
		})
		if _, err := pw.Write(partStart); err != nil {
			t.Fatal(err)
		}
	}
	// The whole lines arrive; the start of the last one is saved, then the kill.
	testsupport.EventuallyErr(t, func() error {
		if n := r.len(); n < len(head) {
			return fmt.Errorf("receiver has %d bytes, want %d", n, len(head))
		}
		b, _ := os.ReadFile(filepath.Join(state, "journal-"+stdinJournalKey(t, state), "partial"))
		if !bytes.HasSuffix(b, partStart) {
			return fmt.Errorf("the start of the unfinished line is not saved yet")
		}
		return nil
	})
	p.Kill(t)
	in := pr
	var want []byte
	if samePipe {
		want = lines
	} else {
		pw.Close()
		pr.Close()
		if pr, pw, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		in = pr
		partRest = []byte("a line of the new input\n")
		want = append(append(append(bytes.Clone(head), partStart...), '\n'), partRest...)
	}
	p = start(in)
	if _, err := pw.Write(partRest); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr.String())
	}
	r.expect(t, want)
	msg := "reading on with the rest of it"
	if !samePipe {
		msg = "previous input ended inside a line; terminating it"
	}
	if !strings.Contains(p.Stderr.String(), msg) {
		t.Errorf("no log %q; stderr:\n%s", msg, p.Stderr.String())
	}
}

// stdinJournalKey returns the name suffix of the stdin journal directory under state.
func stdinJournalKey(t *testing.T, state string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(state, "journal-*"))
	if len(m) != 1 {
		return ""
	}
	return strings.TrimPrefix(filepath.Base(m[0]), "journal-")
}
