package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipStdinFlags: `logspread ship -` reads its pipe whatever the flags of the pipe's
// open file description, which it shares with the process that made the pipe (Apache
// keeps it and respawns its logger on it). A description left non-blocking (by another
// program, or by an older shipper killed on it) is read to its end, not failed with
// EAGAIN; and the shipper leaves the flags as it found them: it never sets O_NONBLOCK on
// a description that a logger respawned on the pipe would inherit. The input comes in
// parts, the next one written after the receiver has the one before, so the shipper
// reads an empty pipe between them.
func TestShipStdinFlags(t *testing.T) {
	for _, nonblock := range []bool{true, false} {
		t.Run(fmt.Sprintf("nonblock=%v", nonblock), func(t *testing.T) {
			dir, spread, r := startShipTest(t)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			fd := int(pr.Fd())
			// Keep a descriptor of the read end as Apache does, to read its flags after.
			keep, err := syscall.Dup(fd)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(keep)
			args := []string{"ship", "--group", "www", "--spread", spread,
				"--state-dir", filepath.Join(dir, "state"), "-"}
			cmd := testsupport.Command(t, args...)
			if nonblock {
				// os/exec makes pr blocking for the child: a wrapper sets the flag again
				// and execs the shipper (execNonblock).
				self, err := os.Executable()
				if err != nil {
					t.Fatal(err)
				}
				cmd = exec.Command(self, append([]string{testsupport.Binary(t)}, args...)...)
				cmd.Env = append(os.Environ(), execNonblockEnv+"=1")
			}
			cmd.Stdin = pr
			p := testsupport.Start(t, cmd)
			pr.Close()
			in := genLines(5, 3000)
			var sent []byte
			for i := range 3 {
				part := in[len(sent):]
				if i < 2 { // cut at a line end: the receiver gets whole lines
					part = part[:bytes.IndexByte(part[len(in)/3:], '\n')+len(in)/3+1]
				}
				if _, err := pw.Write(part); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, part...)
				testsupport.EventuallyErr(t, func() error {
					if p.Exited() {
						t.Fatalf("ship exited after part %d; stderr:\n%s", i, p.Stderr.String())
					}
					if n := r.len(); n < len(sent) {
						return fmt.Errorf("receiver has %d bytes, want %d", n, len(sent))
					}
					return nil
				})
			}
			pw.Close()
			if code := p.Wait(t); code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr.String())
			}
			r.expect(t, in)
			fl, err := fcntlGetfl(keep)
			if err != nil {
				t.Fatal(err)
			}
			if got := fl&syscall.O_NONBLOCK != 0; got != nonblock {
				t.Errorf("O_NONBLOCK on the pipe's read end after the shipper: %v, want %v (as it was before)", got, nonblock)
			}
		})
	}
}

func fcntlGetfl(fd int) (int, error) {
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(fl), nil
}
