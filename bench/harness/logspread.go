package harness

import (
	"context"
	"fmt"
	"time"
)

// Logspread is logspread's own end-to-end scenario: one `logspread ship` per input
// file (KindShipper, one unit each), the embedded daemon (KindDaemon), and
// Env.Collectors `logspread collect --compress zstd` (KindCollector), all on
// 127.0.0.1.
//
// TODO(lead): this is the only stub of the harness. To fill it in:
//   - Start: write configs under r.Path(...), start the daemon, wait for it to listen
//     (WaitListening), start the collectors, then one shipper per r.Env.Inputs file
//     with --from-beginning, each with r.Exec(kind, unit, name, cmd) so it is measured
//     and always stopped.
//   - Wait: return the instant the last line's frame was flushed by every collector
//     (from the collectors' metrics, state files or logs), not a quiescence guess.
//   - Outputs: one Output per collector, its segment files in write order, with
//     Open: OpenZstd (segments are complete zstd frames) or OpenWith(bin, "cat").
type Logspread struct {
	Bin string // path of the logspread binary
}

// Name implements Scenario.
func (*Logspread) Name() string { return "logspread" }

// Describe implements Describer.
func (*Logspread) Describe() string {
	return "one `logspread ship` per input file -> embedded daemon -> collectors writing zstd segments. Merge behaviour: TODO(lead)."
}

// Start implements Scenario.
func (l *Logspread) Start(ctx context.Context, r *Run) error {
	return fmt.Errorf("logspread scenario: %w", ErrUnavailable)
}

// Wait implements Scenario.
func (l *Logspread) Wait(ctx context.Context, r *Run) (time.Time, error) {
	return time.Time{}, ErrUnavailable
}

// Outputs implements Scenario.
func (l *Logspread) Outputs(r *Run) ([]Output, error) {
	return nil, ErrUnavailable
}
