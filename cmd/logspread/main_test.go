package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	testsupport.RemoveBinary()
	os.Exit(code)
}

// runMain runs logspread in-process with args and stdin, returning the exit code, stdout
// and stderr.
func runMain(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, bytes.NewBufferString(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// startTestDaemon runs an embedded Spread daemon on the unix socket sock (and a free
// loopback TCP port) until the end of the test or its Stop.
func startTestDaemon(t *testing.T, sock string) *testsupport.Daemon {
	t.Helper()
	return testsupport.StartDaemon(t, testsupport.WithSocket(sock), testsupport.WithSessionBounds(20000, 0))
}
