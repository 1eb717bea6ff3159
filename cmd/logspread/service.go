package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// service is the one skeleton of the long-running commands (daemon, ship, collect):
// the component's Prometheus registry, the metrics HTTP server (/metrics, /healthz),
// systemd notification (ready, watchdog, stopping), signals, and one errgroup that owns
// every goroutine. A command builds its component with reg, sets healthy and reload,
// and calls run.
//
// Signals: SIGINT and SIGTERM cancel the context main installs for every command
// (signal.NotifyContext); run then stops the component and waits for it. SIGHUP calls
// reload (it never kills the process).
type service struct {
	log *slog.Logger
	// reg holds the component's metrics; process and Go metrics are served from a
	// registry of their own.
	reg     *prometheus.Registry
	metrics *metricsServer // nil without --metrics-addr
	notify  systemdNotifier

	// healthy backs /healthz and gates the systemd watchdog; nil means always healthy.
	// Set it before run.
	healthy func() error
	// reload handles SIGHUP; nil logs that there is nothing to reload. Set it before run.
	reload func()
}

// newService creates the registry and binds the metrics address (empty: no server),
// so that a bad --metrics-addr fails before anything starts. Call close when run is
// not reached.
func newService(log *slog.Logger, metricsAddr string) (*service, error) {
	s := &service{log: log, reg: prometheus.NewRegistry(), notify: systemdNotifier{log: log}}
	ms, err := newMetricsServer(metricsAddr, s.reg, func() error {
		if s.healthy == nil {
			return nil
		}
		return s.healthy()
	})
	if err != nil {
		return nil, err
	}
	s.metrics = ms
	return s, nil
}

// close releases the metrics listener; it does nothing after run.
func (s *service) close() { s.metrics.close() }

// run reports ready, then runs main, the component, until it returns or ctx is done,
// and with it the metrics server, the watchdog, the SIGHUP handler and aux (helpers
// such as an embedded daemon or a progress report). The helpers keep running while main
// shuts down after ctx is done (an embedded daemon outlives its collector, /healthz
// answers during the drain) and stop once main has returned. The first error of any of
// them stops the others and is returned.
func (s *service) run(ctx context.Context, main func(context.Context) error, aux ...func(context.Context) error) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	eg, gctx := errgroup.WithContext(ctx)
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(gctx))
	defer stopAux()
	s.notify.ready()
	eg.Go(func() error {
		defer stopAux()
		return main(gctx)
	})
	eg.Go(func() error { return s.metrics.run(auxCtx, s.log) })
	eg.Go(func() error {
		s.notify.watchdog(auxCtx, s.healthy)
		return nil
	})
	eg.Go(func() error {
		s.signals(gctx, auxCtx, hup)
		return nil
	})
	for _, f := range aux {
		eg.Go(func() error { return f(auxCtx) })
	}
	return eg.Wait()
}

// signals handles SIGHUP until shutdown begins (stop: a signal or an error; done: main
// returned), then tells systemd that the service is stopping.
func (s *service) signals(stop, done context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-stop.Done():
		case <-done.Done():
		case <-hup:
			if s.reload == nil {
				s.log.Info("SIGHUP: nothing to reload (restart to change the configuration)")
			} else {
				s.reload()
			}
			continue
		}
		s.notify.stopping()
		s.log.Info("shutting down")
		return
	}
}
