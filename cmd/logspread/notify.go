package main

import (
	"context"
	"log/slog"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// systemdNotifier tells systemd (Type=notify units) about readiness, reloads and
// shutdown, and keeps its watchdog fed. Outside systemd every call does nothing.
type systemdNotifier struct {
	log *slog.Logger
}

func (n systemdNotifier) send(state string) {
	if ok, err := sddaemon.SdNotify(false, state); err != nil && ok {
		n.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// ready reports that the service is up: listeners bound or the Spread session is up.
func (n systemdNotifier) ready() { n.send(sddaemon.SdNotifyReady) }

// stopping reports that shutdown has begun.
func (n systemdNotifier) stopping() { n.send(sddaemon.SdNotifyStopping) }

// watchdog pings systemd's watchdog at half its interval while healthy returns nil,
// until ctx is done. Run it in a goroutine owned by the caller.
func (n systemdNotifier) watchdog(ctx context.Context, healthy func() error) {
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy != nil {
				if err := healthy(); err != nil {
					n.log.Warn("not feeding the systemd watchdog", "err", err)
					continue
				}
			}
			n.send(sddaemon.SdNotifyWatchdog)
		}
	}
}
