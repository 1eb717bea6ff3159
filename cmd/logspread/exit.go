package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of the logspread command. An error chooses its code by its type, never by
// its text: an *exitError carries one, an *unknownCommandError is a usage error, and
// every other error is a failure.
const (
	exitOK      = 0 // success
	exitFailure = 1 // runtime failure (daemon gone for good, write error, ...)
	exitUsage   = 2 // bad command, flags, arguments or configuration
	exitData    = 3 // input was read but some of it is damaged (cat of a torn segment)
)

// exitError carries an exit code through cobra's error return (caddy's exitError).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError returns an error with exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// unknownCommandError is the root command's answer to a word that names no command.
type unknownCommandError struct {
	name        string
	suggestions []string
}

func (e *unknownCommandError) Error() string {
	msg := fmt.Sprintf("unknown command %q (see 'logspread --help')", e.name)
	if len(e.suggestions) > 0 {
		msg += "; did you mean " + strings.Join(e.suggestions, " or ") + "?"
	}
	return msg
}

// exitCode returns the exit code err asks for; nil is exitOK.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	if _, ok := errors.AsType[*unknownCommandError](err); ok {
		return exitUsage
	}
	return exitFailure
}

// usageArgs wraps a cobra argument validator so that its errors are usage errors
// that name the command.
func usageArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd.Name(), err)}
		}
		return nil
	}
}

// rootArgs accepts no arguments: the root command runs no work of its own, so a word
// after "logspread" that cobra did not find as a command is an unknown command.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return &unknownCommandError{name: args[0], suggestions: cmd.SuggestionsFor(args[0])}
}

// flagError turns pflag's parse errors into usage errors that name the command, as
// every other error does ("ship: --batch-size ..."); a bad value names the flag, the
// value and what the flag takes.
func flagError(cmd *cobra.Command, err error) error {
	prefix := ""
	if cmd.HasParent() {
		prefix = cmd.Name() + ": "
	}
	if ive, ok := errors.AsType[*pflag.InvalidValueError](err); ok {
		f := ive.GetFlag()
		return usageError("%s--%s %s: want %s", prefix, f.Name, strconv.Quote(ive.GetValue()), wantFor(f.Value.Type()))
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%s%w", prefix, err)}
}
