package main

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// SIGHUP re-reads the configuration: a fresh command of the same kind parses the
// command line the process was started with (remembered by configFlags.load), so the
// configuration file's new contents apply and flags still override it, with the same
// checks and error messages as at start. The command then applies what changed (see
// reloadPlan): the log level at once; settings of the component by building a new one
// in place of the old (restarter), which loses nothing because both the shipper (from
// its checkpoints and journal) and the collector (presence, de-duplication by its
// state) are made to be stopped and started; settings that only a new process can
// take are logged by name.

// rereadOptions builds a fresh command with newCmd, runs it on args with a run
// function that captures its options, and returns them (nil and the error when the
// configuration no longer checks).
func rereadOptions[T any](args []string, newCmd func(s *streams, runF func(*T) error) *cobra.Command) (*T, error) {
	var got *T
	s := &streams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
	cmd := newCmd(s, func(o *T) error {
		got = o
		return nil
	})
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		return nil, err
	}
	return got, nil
}

// replayArgs returns the command line of cmd as parsed: every flag set on it, but the
// global ones (logger settings, which a reload takes from the file's log_level), and
// the positional arguments.
func replayArgs(cmd *cobra.Command, positional []string) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "log-level" || f.Name == "log-format" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			if len(sv.GetSlice()) == 0 {
				args = append(args, "--"+f.Name+"=")
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return append(append(args, "--"), positional...)
}

// changedKeys returns the YAML keys whose values differ between old and new, two
// pointers to the same options struct; log_level is applied apart (applyLevel).
func changedKeys(old, new any) []string {
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	var keys []string
	for key, i := range yamlFields(ov.Type()) {
		if key != "log_level" && !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// split divides keys into those in restart (which need a new process) and the others.
func split(keys, restart []string) (live, needRestart []string) {
	for _, k := range keys {
		if slices.Contains(restart, k) {
			needRestart = append(needRestart, k)
		} else {
			live = append(live, k)
		}
	}
	return live, needRestart
}

// applyLevel applies the log level of a re-read configuration and logs a change.
func applyLevel(log *slog.Logger, g, g2 *globalOptions) {
	changed, err := g.reloadLevel(g2)
	if err != nil {
		log.Error("SIGHUP: log level not changed", "err", err)
		return
	}
	if changed {
		log.Info("SIGHUP: log level changed", "level", g.level.Level().String())
	}
}

// reloadLevel applies the log level of a re-read configuration (g2, the fresh
// command's global options) and reports whether it changed.
func (g *globalOptions) reloadLevel(g2 *globalOptions) (bool, error) {
	lvl, err := parseLevel(g2.LogLevel)
	if err != nil {
		return false, err
	}
	if lvl == g.level.Level() {
		return false, nil
	}
	g.level.Set(lvl)
	return true, nil
}

// forReload returns the global options a fresh command starts from on a reload: the
// --log-level given on the command line, if any (it wins over the file), else the
// default, which the file's log_level may change.
func (g *globalOptions) forReload() *globalOptions {
	g2 := &globalOptions{LogLevel: "info", LogFormat: g.LogFormat, levelFlag: g.levelFlag}
	if g.levelFlag {
		g2.LogLevel = g.LogLevel
	}
	return g2
}

// quoteKeys renders YAML keys for a log line.
func quoteKeys(keys []string) string { return strings.Join(keys, ", ") }

// restarter runs one component at a time, built from a configuration of type C, and
// replaces it with one built from a newer configuration offered while it runs.
type restarter[C any] struct {
	next chan C // capacity 1: a newer offer replaces one not taken yet
}

func newRestarter[C any]() *restarter[C] { return &restarter[C]{next: make(chan C, 1)} }

// offer hands c to run; it never blocks.
func (r *restarter[C]) offer(c C) {
	for {
		select {
		case r.next <- c:
			return
		default:
		}
		select {
		case <-r.next:
		default:
		}
	}
}

// run runs start(ctx, cfg) until it returns or ctx is done; when a configuration is
// offered meanwhile, it cancels the running component, waits for it, and starts one
// with the new configuration. start must return once its context is done. If start
// fails for a new configuration before running (failed reports whether it had not
// started), the previous configuration is started again.
func (r *restarter[C]) run(ctx context.Context, cfg C, start func(ctx context.Context, cfg C) (failed bool, err error), onFail func(error)) error {
	prev := cfg
	for {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		var wg sync.WaitGroup
		var failed bool
		wg.Go(func() {
			var err error
			failed, err = start(cctx, cfg)
			done <- err
		})
		select {
		case err := <-done:
			cancel()
			wg.Wait()
			if failed && ctx.Err() == nil && !reflect.DeepEqual(any(cfg), any(prev)) {
				onFail(err)
				cfg = prev
				continue
			}
			return err
		case n := <-r.next:
			cancel()
			err := <-done
			wg.Wait()
			if err != nil && ctx.Err() == nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			prev, cfg = cfg, n
		}
	}
}

// swapRegisterer registers a component's metrics in reg and unregisters them all when
// the component is replaced, so that its successor can register the same names.
type swapRegisterer struct {
	reg prometheus.Registerer

	mu sync.Mutex // Guards cs.
	cs []prometheus.Collector
}

func (s *swapRegisterer) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.cs = append(s.cs, c)
	s.mu.Unlock()
	return nil
}

func (s *swapRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

func (s *swapRegisterer) Unregister(c prometheus.Collector) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cs = slices.DeleteFunc(s.cs, func(x prometheus.Collector) bool { return x == c })
	return s.reg.Unregister(c)
}

// unregisterAll removes every collector registered through s.
func (s *swapRegisterer) unregisterAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cs {
		s.reg.Unregister(c)
	}
	s.cs = nil
}
