package testsupport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logspreadPkg is the package Binary builds.
const logspreadPkg = "github.com/logspread/logspread/cmd/logspread"

// The binary, built at most once per test binary.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of the logspread binary, built (with go build, without -race)
// the first time a test of this test binary asks for it, into a temporary directory that
// RemoveBinary deletes. It fails the test if the build fails.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "logspread-test-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		path := filepath.Join(dir, "logspread")
		if out, err := exec.Command("go", "build", "-o", path, logspreadPkg).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build %s: %v\n%s", logspreadPkg, err, out)
			return
		}
		built.path = path
	})
	if built.err != nil {
		t.Fatalf("%v", built.err)
	}
	return built.path
}

// RemoveBinary deletes what Binary built; a TestMain calls it after m.Run.
func RemoveBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Command returns an unstarted command that runs the logspread binary (see Binary) with
// args. Set its Stdin, Env or Dir, then pass it to Start.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(Binary(t), args...)
}

// stopGrace is how long a process has to exit after SIGTERM at the end of a test before
// it is killed.
const stopGrace = 10 * time.Second

// Process is a process started by a test (Start, StartProcess), its output captured.
type Process struct {
	// Cmd is the started command.
	Cmd *exec.Cmd
	// Stdout and Stderr hold what the process wrote (unless the command came with its
	// own Stdout or Stderr).
	Stdout, Stderr *Buffer

	done chan struct{} // closed once the process was waited for
	err  error         // from Wait; read after done
}

// StartProcess starts the logspread binary with args, stdin from /dev/null (see Start).
func StartProcess(t testing.TB, args ...string) *Process {
	t.Helper()
	return Start(t, Command(t, args...))
}

// Start starts cmd, capturing its stdout and stderr unless they are set, and waits for it
// in the background. At the end of the test a process still running gets SIGTERM (and
// SIGCONT, in case it is stopped), then SIGKILL if it has not exited after a grace
// period; if the test failed, its stderr is logged.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() { // owned: the cleanup waits for done
		defer close(p.done)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Process.Signal(syscall.SIGCONT)
			timer := time.NewTimer(stopGrace)
			select {
			case <-p.done:
			case <-timer.C:
				t.Logf("%v did not exit %v after SIGTERM: killed", cmd.Args, stopGrace)
				_ = cmd.Process.Kill()
				<-p.done
			}
			timer.Stop()
		}
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", cmd.Args, p.Stderr)
		}
	})
	return p
}

// Signal sends sig to the process; it fails the test if that fails (unless the process
// has exited).
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil && !p.Exited() {
		t.Fatalf("signal %v to %v: %v", sig, p.Cmd.Args, err)
	}
}

// Freeze stops the process (SIGSTOP), as a long disk or GC stall would: it neither reads
// nor writes until Thaw. It returns once every thread of the process is stopped (Linux:
// /proc/PID/task/*/stat; the signal is delivered asynchronously, and a thread running on
// another CPU goes on for a moment), so that what the test does next happens while the
// process is stopped.
func (p *Process) Freeze(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGSTOP)
	EventuallyErr(t, func() error {
		if p.Exited() {
			return nil
		}
		return p.stopped()
	})
}

// stopped reports, as an error naming the thread, whether a thread of the process still
// runs; nil where /proc cannot tell (not Linux).
func (p *Process) stopped() error {
	task := fmt.Sprintf("/proc/%d/task", p.Cmd.Process.Pid)
	ents, err := os.ReadDir(task)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(task, e.Name(), "stat"))
		if err != nil {
			continue // the thread exited
		}
		// pid (comm) state ...: comm may hold spaces and parentheses; the state follows
		// the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return fmt.Errorf("thread %s of %v not stopped yet (state %c)", e.Name(), p.Cmd.Args, st)
		}
	}
	return nil
}

// Thaw lets a frozen process go on (SIGCONT).
func (p *Process) Thaw(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGCONT)
}

// Kill kills the process (SIGKILL) and waits until it is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	<-p.done
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit (failing the test if it still runs at Deadline(t))
// and returns its exit code.
func (p *Process) Wait(t testing.TB) int {
	t.Helper()
	Done(t, p.done, "%v still running; stderr:\n%s", p.Cmd.Args, p.Stderr)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait for %v: %v", p.Cmd.Args, p.err)
	}
	return 0
}

// Terminate sends SIGTERM, waits for the process to exit and returns its exit code.
func (p *Process) Terminate(t testing.TB) int {
	t.Helper()
	p.Signal(t, syscall.SIGTERM)
	return p.Wait(t)
}

// MetricsAddr waits until the process logs the address it serves metrics on
// (--metrics-addr 127.0.0.1:0) and returns it.
func (p *Process) MetricsAddr(t testing.TB) string {
	t.Helper()
	return p.WaitLog(t, `msg="serving metrics" .*\baddr=(\S+)`)[1]
}

// WaitLog waits until the process's stderr (its log) matches the regular expression
// pattern and returns the match and its submatches. It fails the test at once if the
// process exits without writing it.
func (p *Process) WaitLog(t testing.TB, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	EventuallyErr(t, func() error {
		exited := p.Exited() // before the match: what it wrote before exiting is there
		if m = re.FindStringSubmatch(p.Stderr.String()); m != nil {
			return nil
		}
		if exited {
			t.Fatalf("%v exited (%v) without logging %q:\n%s", p.Cmd.Args, p.err, pattern, p.Stderr)
		}
		return fmt.Errorf("%v has not logged %q:\n%s", p.Cmd.Args, pattern, p.Stderr)
	})
	return m
}
