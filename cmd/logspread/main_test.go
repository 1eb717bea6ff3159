package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink/daemon"
	"go.uber.org/goleak"
)

// logspreadBin is the logspread binary, built once by TestMain for the tests that run
// commands as real processes (kill -9, exit codes, stdin).
var logspreadBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "logspread-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logspreadBin = filepath.Join(dir, "logspread")
	if out, err := exec.Command("go", "build", "-o", logspreadBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
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
// loopback TCP port) until the end of the test or stopTestDaemon.
func startTestDaemon(t *testing.T, sock string) *daemon.Daemon {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Listen = []string{"unix:" + sock, "127.0.0.1:0"}
	cfg.MaxSessionMessages = 20000
	d, err := daemon.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopTestDaemon(t, d) })
	return d
}

func stopTestDaemon(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Errorf("daemon shutdown: %v", err)
	}
}

// checkFor polls f until it returns nil, failing the test after timeout.
func checkFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("condition not met after %v: %v", timeout, err)
}

// syncBuffer is a bytes.Buffer safe for a process's output copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
