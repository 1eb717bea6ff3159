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

	// level is the level of the logger built by logger; a reload changes it.
	level slog.LevelVar
	// levelFlag is true when --log-level was given on the command line (it wins over
	// a configuration file's log_level, also on reload).
	levelFlag bool
}

// parseLevel reads a --log-level value.
func parseLevel(s string) (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		return 0, usageError("--log-level %q: want debug, info, warn or error", s)
	}
	return lvl, nil
}

// fileLevel applies a config file's log_level (level, "" if not set) unless
// --log-level was given on the command line.
func (g *globalOptions) fileLevel(c *configFlags, level string) error {
	if c.set != nil && c.set.Changed("log-level") {
		g.levelFlag = true
	}
	if level == "" || g.levelFlag {
		return nil
	}
	if _, err := parseLevel(level); err != nil {
		return c.invalid("log-level", level, "debug, info, warn or error")
	}
	g.LogLevel = level
	return nil
}

// logger returns the process's logger, writing to w at --log-level in --log-format;
// every key appears once in a line (see uniqueKeys).
func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	lvl, err := parseLevel(g.LogLevel)
	if err != nil {
		return nil, err
	}
	g.level.Set(lvl)
	hopts := &slog.HandlerOptions{Level: &g.level}
	switch g.LogFormat {
	case "text":
		return slog.New(newUniqueKeys(slog.NewTextHandler(w, hopts))), nil
	case "json":
		return slog.New(newUniqueKeys(slog.NewJSONHandler(w, hopts))), nil
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
		// --log-level and --log-format are checked before any command (and so by
		// --check-config), not only when the logger is made.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if _, err := parseLevel(g.LogLevel); err != nil {
				return err
			}
			if g.LogFormat != "text" && g.LogFormat != "json" {
				return usageError("--log-format %q: want text or json", g.LogFormat)
			}
			return nil
		},
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
	root.PersistentFlags().StringVar(&g.LogLevel, "log-level", g.LogLevel, "log `LEVEL`: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.LogFormat, "log-format", g.LogFormat, "log `FORMAT`: text or json")
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
