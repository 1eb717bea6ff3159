package daemon

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// Reconfigure (SIGHUP in `logspread daemon`).
//
// A running daemon takes these settings of a new Config: the session bounds
// (MaxSessionMessages, MaxSessionBytes, MaxSessionGroups), MaxSessions, HandshakeTimeout, Allow,
// SocketMode and SocketGroup, and, with flow control, the soft marks and StallTimeout.
// Each applies from the next event it governs, never retroactively:
//   - a bound or soft mark is checked at the next delivery queued for a session (a
//     lowered hard bound disconnects a session whose queue passes it then, as at start;
//     a lowered soft mark pauses the readers then);
//   - MaxSessionGroups is checked at the next join (a session above a lowered bound
//     keeps its groups and may join no more);
//   - MaxSessions, Allow and HandshakeTimeout apply to the connections accepted after
//     the change; sessions already served stay (Reconfigure returns how many of them
//     come from networks no longer allowed, so that the caller can say so);
//   - SocketMode and SocketGroup are applied to the unix sockets at once; clients
//     already connected stay;
//   - StallTimeout: the stall watcher recomputes its deadlines at once.
//
// The listeners (Listen, AllowNonLoopback), the daemon's Name (part of every private
// group name its clients hold), FlowControl and LosslessPrefixes (which decide, per
// session, at its connect, whether it pauses the readers or is dropped from) and
// ShutdownFlush are fixed for the daemon's life: Reconfigure refuses a Config that
// changes them (ErrFixedSetting names the fields).

// ErrFixedSetting is returned by Reconfigure for a Config that changes a setting only a
// new daemon takes.
var ErrFixedSetting = errors.New("setting fixed while the daemon runs")

// Reconfigure applies the live settings of cfg (zero fields take their defaults, as in
// New) to the running daemon; see above. It returns the number of sessions served now
// whose TCP address the new Allow would refuse (they stay connected). Nothing is
// changed when it returns an error.
func (d *Daemon) Reconfigure(cfg Config) (disallowed int, err error) {
	cfg.Listen = append([]string(nil), cfg.Listen...)
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	cur := d.config()
	var fixed []string
	if !slices.Equal(cfg.Listen, cur.Listen) {
		fixed = append(fixed, "Listen")
	}
	if cfg.AllowNonLoopback != cur.AllowNonLoopback {
		fixed = append(fixed, "AllowNonLoopback")
	}
	if cfg.Name != cur.Name {
		fixed = append(fixed, "Name")
	}
	if cfg.FlowControl != cur.FlowControl {
		fixed = append(fixed, "FlowControl")
	}
	if !slices.Equal(cfg.LosslessPrefixes, cur.LosslessPrefixes) {
		fixed = append(fixed, "LosslessPrefixes")
	}
	if cfg.ShutdownFlush != cur.ShutdownFlush {
		fixed = append(fixed, "ShutdownFlush")
	}
	if len(fixed) > 0 {
		return 0, fmt.Errorf("%w: %v", ErrFixedSetting, fixed)
	}
	if cfg.SocketMode != cur.SocketMode || cfg.SocketGroup != cur.SocketGroup {
		if err := d.resetSockets(cfg); err != nil {
			return 0, err
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutdown {
		return 0, ErrShutdown
	}
	// Field by field: the fixed ones are read without mu.
	c := &d.cfg
	c.MaxSessionMessages, c.MaxSessionBytes, c.MaxSessions = cfg.MaxSessionMessages, cfg.MaxSessionBytes, cfg.MaxSessions
	c.MaxSessionGroups = cfg.MaxSessionGroups
	c.HandshakeTimeout, c.Allow = cfg.HandshakeTimeout, slices.Clone(cfg.Allow)
	c.SocketMode, c.SocketGroup = cfg.SocketMode, cfg.SocketGroup
	c.SoftSessionMessages, c.SoftSessionBytes, c.StallTimeout = cfg.SoftSessionMessages, cfg.SoftSessionBytes, cfg.StallTimeout
	d.tick.Store(int64(progressTick(cfg.StallTimeout)))
	for s := range d.conns {
		if !s.dead && !cfg.allowed(s.nc.RemoteAddr()) {
			disallowed++
		}
	}
	if cfg.FlowControl {
		select { // the stall watcher recomputes its deadlines
		case d.flowArm <- struct{}{}:
		default:
		}
	}
	return disallowed, nil
}

// config returns a copy of the running configuration.
func (d *Daemon) config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// resetSockets gives the bound unix sockets cfg's group and mode.
func (d *Daemon) resetSockets(cfg Config) error {
	gid := os.Getgid()
	if g := cfg.SocketGroup; g != "" {
		var err error
		if gid, err = lookupGroup(g); err != nil {
			return err
		}
	}
	for _, a := range d.Addrs() {
		if a.Network != "unix" {
			continue
		}
		if err := os.Lchown(a.Addr, -1, gid); err != nil {
			return fmt.Errorf("socket group %d: %w (the daemon's user must be root or a member of the group)", gid, err)
		}
		if err := os.Chmod(a.Addr, cfg.SocketMode); err != nil {
			return fmt.Errorf("socket mode %#o: %w", uint32(cfg.SocketMode), err)
		}
	}
	return nil
}

// progressTick bounds one blocked Write with flow control on (a quarter of the stall
// timeout, at most a second), so that the bytes a slow client takes within a chunk
// count as progress for the stall watcher.
func progressTick(stall time.Duration) time.Duration { return min(time.Second, stall/4) }
