package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

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
		Args: rootArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.PersistentFlags().StringVar(&g.LogLevel, "log-level", g.LogLevel, "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.LogFormat, "log-format", g.LogFormat, "log format: text or json")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newCmdDaemon(s, g, nil),
		newCmdShip(s, g, nil),
		newCmdCollect(s, g, nil),
		newCmdCat(s, nil),
		newCmdTail(s, nil),
		newCmdVersion(s),
	)
	return root
}

// Main runs logspread with args and returns the process exit code.
func Main(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	s := &streams{In: in, Out: out, ErrOut: errOut}
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(errOut, "logspread: %v\n", err)
	}
	return exitCode(err)
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
