package harness

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// WaitQuiet is the completion rule for programs that cannot tell when they are done
// (the peers). It polls every 10 ms the sizes of files and the bytes read by the
// watched processes (a collector's rchar grows with every TCP read, even while its
// compressor holds the data back), and returns the last instant any of them grew,
// once nothing has grown for quiet and the CPU time of every process of r together
// grew by less than 1% of quiet. It fails if a watched process exits.
func WaitQuiet(ctx context.Context, r *Run, quiet time.Duration, files []string, watch []*Proc) (time.Time, error) {
	type state struct {
		sizes []int64
		reads []int64
	}
	read := func() state {
		s := state{sizes: make([]int64, len(files)), reads: make([]int64, len(watch))}
		for i, f := range files {
			if fi, err := os.Stat(f); err == nil {
				s.sizes[i] = fi.Size()
			}
		}
		for i, p := range watch {
			p.Sample()
			s.reads[i], _ = p.IO()
		}
		return s
	}
	cpu := func() time.Duration {
		var sum time.Duration
		for _, p := range r.Procs() {
			p.Sample()
			sum += p.CPU()
		}
		return sum
	}
	equal := func(a, b state) bool {
		for i := range a.sizes {
			if a.sizes[i] != b.sizes[i] {
				return false
			}
		}
		for i := range a.reads {
			if a.reads[i] != b.reads[i] {
				return false
			}
		}
		return true
	}

	last := read()
	lastGrowth := time.Now()
	cpuMark, cpuMarkAt := cpu(), lastGrowth
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
		for _, p := range watch {
			if p.Exited() {
				return time.Time{}, fmt.Errorf("%s exited early: %v", p.Name, p.Err())
			}
		}
		now := time.Now()
		if cur := read(); !equal(cur, last) {
			last, lastGrowth = cur, now
			cpuMark, cpuMarkAt = cpu(), now
			continue
		}
		if now.Sub(cpuMarkAt) < quiet {
			continue
		}
		// Output has been still for quiet; is anything still computing (a program
		// catching up without output yet)? Allow 1% of one CPU for timers.
		if c := cpu(); c-cpuMark > quiet/100 {
			cpuMark, cpuMarkAt = c, now
			continue
		}
		return lastGrowth, nil
	}
}

// StopUnitsTimed stops all processes of the given kinds at once (SIGTERM, SIGKILL
// after grace) and returns how long until the last of them had exited.
func StopUnitsTimed(r *Run, grace time.Duration, kinds ...string) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range r.Procs(kinds...) {
		wg.Add(1)
		go func(p *Proc) {
			defer wg.Done()
			p.Stop(grace)
		}(p)
	}
	wg.Wait()
	return time.Since(start)
}

// WaitExit waits for processes to exit on their own (a compressor reading a pipe
// whose writer was stopped), up to grace, then stops them.
func WaitExit(grace time.Duration, procs ...*Proc) {
	deadline := time.After(grace)
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-deadline:
			p.Stop(time.Second)
		}
	}
}
