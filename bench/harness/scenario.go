package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// ErrUnavailable is returned by a Scenario that cannot run here (a binary is missing,
// or the scenario is not written yet). The table shows the row as not available.
var ErrUnavailable = errors.New("not yet available")

// Scenario is one way of doing the job: ship every line of Env.Inputs (files that
// exist, complete, before Start) to the collector(s) and write them compressed.
//
// The harness calls Start, then Wait, then Outputs, each once, from one goroutine.
// Every process must be started with Run.Start so that it is measured and always
// stopped; the harness stops whatever is still running after Wait returns (SIGTERM,
// then SIGKILL), and before it reads Outputs.
type Scenario interface {
	// Name is the row label in the results table.
	Name() string
	// Start writes the scenario's configuration under r.Dir and starts its processes.
	// It returns ErrUnavailable (possibly wrapped) when the scenario cannot run.
	Start(ctx context.Context, r *Run) error
	// Wait blocks until every line is in the outputs by the scenario's completion
	// rule, and returns the instant the job counts as complete. It may stop processes
	// (the peers only finish their compressed streams on exit) and should account for
	// the time that takes.
	Wait(ctx context.Context, r *Run) (time.Time, error)
	// Outputs lists what the collectors wrote: one Output per collector, each holding
	// the whole job's lines. With more than one, all must be identical.
	Outputs(r *Run) ([]Output, error)
}

// Describer is optionally implemented by a Scenario to add notes (configuration,
// merge behaviour) under the results table.
type Describer interface {
	Describe() string
}

// Output is the complete output of one collector: its files, in order, and how to
// read them back as plain lines.
type Output struct {
	Name  string   // collector name, e.g. "collector-1"
	Files []string // in the order their lines were written
	// Open returns the plain (decompressed) content of one file.
	Open func(path string) (io.ReadCloser, error)
}

// OpenZstd decompresses a zstd file (any number of frames) with the zstd tool.
func OpenZstd(path string) (io.ReadCloser, error) { return openCmd("zstd", "-dcq", path) }

// OpenGzip decompresses a gzip file with the gzip tool.
func OpenGzip(path string) (io.ReadCloser, error) { return openCmd("gzip", "-dc", path) }

// OpenPlain opens an uncompressed file.
func OpenPlain(path string) (io.ReadCloser, error) { return os.Open(path) }

// OpenWith returns an Open function that runs name args... path and reads its stdout,
// e.g. OpenWith("logspread", "cat").
func OpenWith(name string, args ...string) func(string) (io.ReadCloser, error) {
	return func(path string) (io.ReadCloser, error) {
		return openCmd(name, append(append([]string{}, args...), path)...)
	}
}

type cmdReader struct {
	io.ReadCloser
	cmd *exec.Cmd
}

func (c *cmdReader) Close() error {
	c.ReadCloser.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", c.cmd, err)
	}
	return nil
}

func openCmd(name string, args ...string) (io.ReadCloser, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdReader{ReadCloser: out, cmd: cmd}, nil
}

// Env is what every scenario of one benchmark run shares.
type Env struct {
	Inputs     []string      // the input files ("web hosts"), complete before any Start
	Lines      int64         // lines in all inputs
	Bytes      int64         // bytes in all inputs
	OutDir     string        // bench/out: scratch space, kept after the run
	PeersRoot  string        // where the peers' .debs were unpacked (usr/sbin/...)
	Collectors int           // collectors per scenario (each writes a full copy)
	Quiet      time.Duration // peers: no progress for this long means done
	Timeout    time.Duration // per scenario
	Logf       func(format string, args ...any)

	indexOnce sync.Once // the index of Inputs, built by the first Verify
	ix        *inputIndex
	ixErr     error
}

// Run is one execution of one Scenario: its scratch directory and its processes.
type Run struct {
	Env   *Env
	Dir   string    // scratch directory for configs, state, outputs and logs
	Start time.Time // set by the harness just before Scenario.Start

	mu    sync.Mutex
	procs []*Proc
}

// Exec starts a measured process of the given kind and unit. Its output goes to
// Dir/logs/NAME.log.
func (r *Run) Exec(kind, unit, name string, cmd *exec.Cmd) (*Proc, error) {
	p, err := startProc(kind, unit, name, cmd, filepath.Join(r.Dir, "logs", name+".log"))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	r.Env.Logf("  started %s (pid %d): %s", name, p.Pid(), cmd)
	return p, nil
}

// Procs returns the processes started so far, optionally only those of some kinds.
func (r *Run) Procs(kinds ...string) []*Proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Proc
	for _, p := range r.procs {
		if len(kinds) == 0 || contains(kinds, p.Kind) {
			out = append(out, p)
		}
	}
	return out
}

// Path returns a path under the run's directory.
func (r *Run) Path(elem ...string) string {
	return filepath.Join(append([]string{r.Dir}, elem...)...)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitListening waits until something accepts TCP connections on 127.0.0.1:port.
func WaitListening(ctx context.Context, port int, p *Proc) error {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before listening on %s: %v", p.Name, addr, p.Err())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sampleLoop samples every live process of r until ctx ends.
func (r *Run) sampleLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, p := range r.Procs() {
				p.Sample()
			}
		}
	}
}

// StopAll stops every process still running, in order: shippers, daemons, collectors,
// then the rest, and waits for all of them.
func (r *Run) StopAll(grace time.Duration) {
	order := map[string]int{KindShipper: 0, KindDaemon: 1, KindCollector: 2}
	procs := r.Procs()
	sort.SliceStable(procs, func(i, j int) bool { return rank(order, procs[i].Kind) < rank(order, procs[j].Kind) })
	for _, p := range procs {
		p.Stop(grace)
	}
}

func rank(order map[string]int, k string) int {
	if v, ok := order[k]; ok {
		return v
	}
	return len(order)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
