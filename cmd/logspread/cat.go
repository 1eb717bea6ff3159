package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/logspread/logspread/collector/segment"
	"github.com/spf13/cobra"
)

// CatOptions are the options of the cat command.
type CatOptions struct {
	Files []string
}

func newCmdCat(s *streams, runF func(*CatOptions) error) *cobra.Command {
	opts := &CatOptions{}
	return &cobra.Command{
		Use:   "cat FILE...",
		Short: "Print the lines of collector segments (plain, gzip or zstd)",
		Long: `Print the lines of collector segments in order. The compression (none, gzip, zstd)
is detected from the file's first bytes. A segment whose last frame is torn (the
collector was killed mid-write) still yields every complete line before the tear; a
warning goes to stderr and the exit code is 3.`,
		Example: `  logspread cat /var/log/logspread/www-2026-11-28.log.zst
  logspread cat /var/log/logspread/*.zst | grep ' 500 '`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return catRun(s, opts)
		},
	}
}

func catRun(s *streams, opts *CatOptions) error {
	out := bufio.NewWriterSize(s.Out, 256<<10)
	var torn, failed int
	for _, name := range opts.Files {
		err := catFile(s, out, name)
		var te *segment.TornError
		switch {
		case err == nil:
		case errors.As(err, &te):
			torn++
			fmt.Fprintf(s.ErrOut, "logspread: warning: %s: last frame is torn (collector crashed mid-write?): %d complete bytes printed\n", name, te.OutputOffset)
		default:
			failed++
			fmt.Fprintf(s.ErrOut, "logspread: %s: %v\n", name, err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	switch {
	case failed > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d files could not be read", failed, len(opts.Files))}
	case torn > 0:
		return &exitError{code: exitData, err: fmt.Errorf("%d of %d files end in a torn frame", torn, len(opts.Files))}
	}
	return nil
}

func catFile(s *streams, out *bufio.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	p := newProgress(s.ErrOut, name, size)
	defer p.done()
	return segment.CatWith(f, out, segment.CatOptions{Progress: func(n int64) { p.update(n, "") }})
}
