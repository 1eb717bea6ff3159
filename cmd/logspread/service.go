package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
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
	// early: the metrics server started before run (serveEarly), stopped by run's end or
	// by close.
	early *earlyServer
}

// earlyServer is a metrics server serving before run.
type earlyServer struct {
	stop context.CancelFunc
	done chan error // the server's run returned (buffered)
	once sync.Once
	err  error
}

// wait stops the server and returns its error (once; later calls return it again).
func (e *earlyServer) wait() error {
	e.once.Do(func() {
		e.stop()
		e.err = <-e.done
	})
	return e.err
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

// close releases the metrics listener and stops a server serveEarly started; it does
// nothing after run.
func (s *service) close() {
	if s.early != nil {
		_ = s.early.wait()
	}
	s.metrics.close()
}

// serveEarly serves /metrics and /healthz from now on, before run, for a start that may
// wait long (the state directory's file system full): a scrape or health check then gets
// an answer, not a connection that hangs. run goes on serving them; close stops them if
// run is never reached.
func (s *service) serveEarly() {
	if s.metrics == nil || s.early != nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	s.early = &earlyServer{stop: stop, done: make(chan error, 1)}
	go func() { s.early.done <- s.metrics.run(ctx, s.log) }()
}

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
	if e := s.early; e != nil {
		eg.Go(func() error {
			select {
			case err := <-e.done: // failed before the end
				e.once.Do(func() { e.err = err })
				return err
			case <-auxCtx.Done():
				return e.wait()
			}
		})
	} else {
		eg.Go(func() error { return s.metrics.run(auxCtx, s.log) })
	}
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
