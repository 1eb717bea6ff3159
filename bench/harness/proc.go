package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Process kinds, the rows of the CPU and RSS breakdown. A scenario may use others.
const (
	KindShipper   = "shipper"
	KindDaemon    = "daemon"
	KindCollector = "collector"
	KindZstd      = "zstd"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Proc is one process started by a Run. Its CPU time is sampled from /proc while it
// runs and taken from wait4's rusage when it exits. Its peak RSS is VmHWM sampled from
// /proc only: ru_maxrss is useless here, as exec saves the parent's (the driver's)
// high-water mark into it.
//
// Methods are safe for concurrent use.
type Proc struct {
	Kind string // process kind, see KindShipper etc.
	Unit string // logical unit: processes of one unit add up (a collector and its compressor)
	Name string // for logs and errors
	cmd  *exec.Cmd
	done chan struct{}

	mu       sync.Mutex
	waitErr  error
	cpu      time.Duration // last sampled or final utime+stime
	hwm      int64         // peak RSS in bytes, sampled or final
	rchar    int64         // bytes read (any fd), last sample
	wchar    int64         // bytes written (any fd), last sample
	exited   bool
	signaled bool // stopped by us: a non-zero exit is expected
	exitedAt time.Time
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns the exit error, nil while running, or when the process exited 0 or was
// stopped by the harness.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.signaled {
		return nil
	}
	return p.waitErr
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// CPU returns the CPU time (user+system) used so far, or in all once exited.
func (p *Proc) CPU() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpu
}

// PeakRSS returns the highest resident set size seen, in bytes.
func (p *Proc) PeakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwm
}

// IO returns the bytes read and written through any file descriptor (sockets and
// pipes included), as of the last sample.
func (p *Proc) IO() (rchar, wchar int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rchar, p.wchar
}

// Sample refreshes CPU, peak RSS and I/O counters from /proc. It is a no-op once the
// process has exited.
func (p *Proc) Sample() {
	if p.Exited() {
		return
	}
	pid := p.Pid()
	cpu, errCPU := readCPU(pid)
	hwm, errHWM := readHWM(pid)
	rchar, wchar, errIO := readIO(pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	if errCPU == nil && cpu > p.cpu {
		p.cpu = cpu
	}
	if errHWM == nil && hwm > p.hwm {
		p.hwm = hwm
	}
	if errIO == nil {
		p.rchar, p.wchar = rchar, wchar
	}
}

func (p *Proc) wait() {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.exited = true
	p.exitedAt = time.Now()
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if cpu > p.cpu {
			p.cpu = cpu
		}
	}
	p.mu.Unlock()
	close(p.done)
}

// Signal sends sig to the process group of p (every process is its own group leader).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	p.mu.Lock()
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL || sig == syscall.SIGINT {
		p.signaled = true
	}
	p.mu.Unlock()
	err := syscall.Kill(-p.Pid(), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Stop sends SIGTERM, waits up to grace for the exit, then SIGKILLs and waits. It
// returns how long the process took to exit after SIGTERM.
func (p *Proc) Stop(grace time.Duration) time.Duration {
	start := time.Now()
	if p.Exited() {
		return 0
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
	return time.Since(start)
}

// startProc starts cmd as a group leader with stdout and stderr appended to logPath.
func startProc(kind, unit, name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	if cmd.Stdout == nil || cmd.Stderr == nil {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, err
		}
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer lf.Close() // the child has its own copy
		if cmd.Stdout == nil {
			cmd.Stdout = lf
		}
		if cmd.Stderr == nil {
			cmd.Stderr = lf
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Kind: kind, Unit: unit, Name: name, cmd: cmd, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat times")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

func readHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return procField(b, "VmHWM:", 1024)
}

func readIO(pid int) (rchar, wchar int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, 0, err
	}
	if rchar, err = procField(b, "rchar:", 1); err != nil {
		return 0, 0, err
	}
	wchar, err = procField(b, "wchar:", 1)
	return rchar, wchar, err
}

// procField finds "name value" in a /proc key-value file and returns value*unit.
func procField(b []byte, name string, unit int64) (int64, error) {
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return 0, fmt.Errorf("no %s", name)
	}
	rest := b[i+len(name):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty %s", name)
	}
	v, err := strconv.ParseInt(string(f[0]), 10, 64)
	return v * unit, err
}
