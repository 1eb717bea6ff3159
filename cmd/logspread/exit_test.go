package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestExitCodes checks the exit code rules: 0 success, 2 usage (unknown command, bad
// flag or argument, bad configuration), 1 any other failure, 3 a torn segment (see
// TestCat). The code comes from the error's type, whatever its text.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("max_sessions: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  int
		lines int  // lines on stderr, if not one (cat: one per bad file and a summary)
		usage bool // one error line, then the command's usage
	}{
		{name: "version", args: []string{"version"}, want: exitOK},
		{name: "help", args: []string{"--help"}, want: exitOK},
		{name: "no command", args: nil, want: exitOK},
		{name: "command help", args: []string{"ship", "--help"}, want: exitOK},
		{name: "check config", args: []string{"daemon", "--check-config"}, want: exitOK},
		{name: "unknown command", args: []string{"shiip"}, want: exitUsage},
		{name: "unknown flag", args: []string{"daemon", "--nope"}, want: exitUsage},
		{name: "unknown global flag", args: []string{"--nope", "version"}, want: exitUsage},
		{name: "bad flag value", args: []string{"collect", "--flush-interval", "soon"}, want: exitUsage},
		{name: "flag without value", args: []string{"ship", "--group"}, want: exitUsage},
		{name: "argument to daemon", args: []string{"daemon", "extra"}, want: exitUsage},
		{name: "argument to version", args: []string{"version", "extra"}, want: exitUsage},
		{name: "cat without files", args: []string{"cat"}, want: exitUsage, usage: true},
		{name: "bad log level", args: []string{"--log-level", "loud", "daemon", "--listen", "unix:" + filepath.Join(dir, "s")}, want: exitUsage},
		{name: "bad setting", args: []string{"daemon", "--max-sessions", "0", "--check-config"}, want: exitUsage},
		{name: "bad setting in file", args: []string{"daemon", "--config", badYAML, "--check-config"}, want: exitUsage},
		{name: "missing config file", args: []string{"tail", "--config", filepath.Join(dir, "none.yaml"), "www"}, want: exitUsage},
		{name: "unreadable segment", args: []string{"cat", filepath.Join(dir, "none.zst")}, want: exitFailure, lines: 2},
		{name: "no daemon", args: []string{"tail", "--spread", "unix:" + filepath.Join(dir, "none.sock"), "www"}, want: exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, "", tc.args...)
			if code != tc.want {
				t.Fatalf("logspread %s: exit %d, want %d (stderr %q)", strings.Join(tc.args, " "), code, tc.want, stderr)
			}
			if tc.usage {
				first, rest, _ := strings.Cut(stderr, "\n")
				if !strings.HasPrefix(first, "logspread: ") || !strings.Contains(rest, "Usage:") {
					t.Errorf("stderr %q: want an error line, then the usage", stderr)
				}
				return
			}
			lines := max(tc.lines, 1)
			if tc.want != exitOK && (!strings.HasPrefix(stderr, "logspread: ") || strings.Count(stderr, "\n") != lines) {
				t.Errorf("stderr %q: want %d line(s) starting with %q", stderr, lines, "logspread: ")
			}
		})
	}
}

// TestExitCodeFromType checks that exitCode looks at the error's type only.
func TestExitCodeFromType(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: exitOK},
		{name: "plain error that reads like a usage error", err: errors.New(`unknown command "x" for "logspread"`), want: exitFailure},
		{name: "usage error", err: usageError("--x 1: want 2"), want: exitUsage},
		{name: "wrapped usage error", err: errors.Join(errors.New("context"), usageError("bad")), want: exitUsage},
		{name: "unknown command", err: &unknownCommandError{name: "x"}, want: exitUsage},
		{name: "data error", err: &exitError{code: exitData, err: errors.New("torn")}, want: exitData},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestExitCodesProcess checks that the codes reach the process's exit status.
func TestExitCodesProcess(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{args: []string{"version"}, want: exitOK},
		{args: []string{"shiip"}, want: exitUsage},
		{args: []string{"cat", filepath.Join(t.TempDir(), "none.zst")}, want: exitFailure},
	} {
		err := exec.Command(testsupport.Binary(t), tc.args...).Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("logspread %s: exit status %d, want %d", strings.Join(tc.args, " "), code, tc.want)
		}
	}
}
