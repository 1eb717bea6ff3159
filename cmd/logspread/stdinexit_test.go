package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestShipStdinStopExitCode: `ship -` stopped by SIGTERM after the end of its input,
// with lines not acknowledged (no daemon), exits 1 and says how many bytes the journal
// keeps for the next run; stopped while its input still flows, it exits 0 (a service
// stop: the journal keeps the rest).
func TestShipStdinStopExitCode(t *testing.T) {
	for _, ended := range []bool{true, false} {
		t.Run(fmt.Sprintf("input_ended=%v", ended), func(t *testing.T) {
			dir := t.TempDir()
			link := filepath.Join(dir, "4803") // no daemon: nothing is acknowledged
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", "unix:"+link,
				"--state-dir", filepath.Join(dir, "state"), "-")
			if _, err := pw.Write(genLines(9, 100)); err != nil {
				t.Fatal(err)
			}
			if ended {
				pw.Close()
				p.WaitLog(t, "end of input; all of it is journaled")
			} else {
				p.WaitLog(t, "cannot reach the Spread daemon")
			}
			p.Signal(t, syscall.SIGTERM)
			code := p.Wait(t)
			const msg = "stopped after the end of input before every line was acknowledged"
			switch {
			case ended && (code != 1 || !strings.Contains(p.Stderr.String(), msg)):
				t.Errorf("exit code %d, want 1 with %q; stderr:\n%s", code, msg, p.Stderr.String())
			case !ended && code != 0:
				t.Errorf("exit code %d, want 0; stderr:\n%s", code, p.Stderr.String())
			}
		})
	}
}
