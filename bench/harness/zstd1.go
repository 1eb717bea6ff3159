package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Zstd1 is the limit: `zstd -1` alone compressing the four input files, one after the
// other, into one file on the same disk (one process, one thread, as zstd runs by
// default). Its wall time is the process's.
type Zstd1 struct {
	out  string
	proc *Proc
}

// Name implements Scenario.
func (*Zstd1) Name() string { return "zstd -1 (limit)" }

// Describe implements Describer.
func (*Zstd1) Describe() string {
	return "`zstd -1 -q -c FILE1 FILE2 FILE3 FILE4 > out.zst`: the four inputs in one process, one thread, one frame per file, written to disk."
}

// Start implements Scenario.
func (z *Zstd1) Start(ctx context.Context, r *Run) error {
	z.out = r.Path("out.zst")
	f, err := os.Create(z.out)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "zstd", append([]string{"-1", "-q", "-c"}, r.Env.Inputs...)...)
	cmd.Stdout = f
	z.proc, err = r.Exec(KindZstd, "zstd", "zstd", cmd)
	return err
}

// Wait implements Scenario.
func (z *Zstd1) Wait(ctx context.Context, r *Run) (time.Time, error) {
	select {
	case <-z.proc.Done():
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	if err := z.proc.Err(); err != nil {
		return time.Time{}, fmt.Errorf("zstd: %w", err)
	}
	z.proc.mu.Lock()
	defer z.proc.mu.Unlock()
	return z.proc.exitedAt, nil
}

// Measure implements Measurer: the size of zstd's output.
func (z *Zstd1) Measure(r *Run, res *Result) {
	if fi, err := os.Stat(z.out); err == nil {
		res.OutputBytes = fi.Size()
	}
}

// Outputs implements Scenario.
func (z *Zstd1) Outputs(r *Run) ([]Output, error) {
	return []Output{{Name: "zstd", Files: []string{z.out}, Open: OpenZstd}}, nil
}
