package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves /metrics (the component's registry plus process and Go metrics
// from a separate registry) and /healthz.
type metricsServer struct {
	ln  net.Listener
	srv *http.Server
}

// newMetricsServer binds addr; an empty addr gives nil and no server.
func newMetricsServer(addr string, reg *prometheus.Registry, healthy func() error) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError("--metrics-addr %s: %v", addr, err)
	}
	proc := prometheus.NewRegistry()
	proc.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, proc}, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if healthy != nil {
			if err := healthy(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// close releases the listener of a server that never ran (nil is fine).
func (m *metricsServer) close() {
	if m != nil {
		_ = m.ln.Close()
	}
}

// run serves until ctx is done.
func (m *metricsServer) run(ctx context.Context, log *slog.Logger) error {
	if m == nil {
		<-ctx.Done()
		return nil
	}
	log.Info("serving metrics", "addr", m.ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(m.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
