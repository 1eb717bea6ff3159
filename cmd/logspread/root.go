package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the logspread command.
const (
	exitOK      = 0 // success
	exitFailure = 1 // runtime failure (daemon gone for good, write error, ...)
	exitUsage   = 2 // bad flags, arguments or configuration
	exitData    = 3 // input was read but some of it is damaged (cat of a torn segment)
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// streams are the process's standard streams, injected so tests can run commands in-process.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// globalOptions are the flags every command has.
type globalOptions struct {
	LogLevel  string
	LogFormat string
}

func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", g.LogLevel)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch g.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, usageError("--log-format %q: want text or json", g.LogFormat)
}

// newRootCmd builds the command tree.
func newRootCmd(s *streams) *cobra.Command {
	g := &globalOptions{LogLevel: "info", LogFormat: "text"}
	root := &cobra.Command{
		Use:   "logspread",
		Short: "Ship web-server logs over Spread and write totally ordered, compressed, merged logs",
		Long: `logspread aggregates web-server access logs over Spread group communication.

Shippers tail access logs (or read Apache piped logs on stdin) and multicast the lines
into a Spread group; collectors subscribed to the group write the lines in one global
order into compressed segments. Every collector hearing the same messages writes the
same lines in the same order.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.PersistentFlags().StringVar(&g.LogLevel, "log-level", g.LogLevel, "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.LogFormat, "log-format", g.LogFormat, "log format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	for _, add := range commands {
		root.AddCommand(add(s, g))
	}
	return root
}

// commands lists the subcommand constructors; each command file registers itself.
var commands []func(*streams, *globalOptions) *cobra.Command

// Main runs logspread with args and returns the process exit code.
func Main(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	s := &streams{In: in, Out: out, ErrOut: errOut}
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts ") || strings.Contains(err.Error(), "requires ") {
		code = exitUsage
	}
	fmt.Fprintf(errOut, "logspread: %v\n", err)
	return code
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
