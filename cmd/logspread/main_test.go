package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(execNonblockEnv) != "" {
		execNonblock()
	}
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

// execNonblockEnv makes the test binary a wrapper (see execNonblock).
const execNonblockEnv = "LOGSPREAD_TEST_EXEC_NONBLOCK"

// execNonblock sets O_NONBLOCK on standard input's open file description, then execs
// os.Args[1:] (with the environment less execNonblockEnv): the program starts with a
// non-blocking stdin, as a logger respawned by Apache on a pipe a killed shipper left
// non-blocking does. (os/exec makes the files it passes blocking, so a test cannot set
// the flag before a child starts any other way.)
func execNonblock() {
	if err := syscall.SetNonblock(0, true); err != nil {
		fmt.Fprintf(os.Stderr, "set O_NONBLOCK on stdin: %v\n", err)
		os.Exit(127)
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, execNonblockEnv+"=") {
			env = append(env, e)
		}
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], env)
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}
