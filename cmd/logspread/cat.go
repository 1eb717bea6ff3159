package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
		Long: `Print the lines of collector segments in order; "-" reads standard input. The
compression (none, gzip, zstd) is detected from the first bytes. Damage is skipped,
reported on stderr and never printed: a frame that cannot be decoded in the middle
of a segment is skipped and printing goes on with the next frame (the next zstd frame
magic, the next gzip member header); a torn last frame (the collector was killed
mid-write) still yields every complete line before it. Either makes the exit code 3.
A file that is no segment (a directory, binary data) is an error (exit 1).`,
		Example: `  logspread cat /var/log/logspread/www-2026-11-28.log.zst
  logspread cat /var/log/logspread/*.zst | grep ' 500 '
  ssh loghost cat /var/log/logspread/www.log.zst | logspread cat -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("cat: name at least one segment (FILE, or - for standard input)\n\n%s", strings.TrimRight(cmd.UsageString(), "\n"))
			}
			return nil
		},
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
	var damaged, failed int
	for _, name := range opts.Files {
		err := catFile(s, out, name)
		if err == nil {
			continue
		}
		te, torn := errors.AsType[*segment.TornError](err)
		se, skipped := errors.AsType[*segment.SkippedError](err)
		if !torn && !skipped {
			failed++
			fmt.Fprintf(s.ErrOut, "logspread: cat: %s: %v\n", name, err)
			continue
		}
		damaged++
		if skipped {
			fmt.Fprintf(s.ErrOut, "logspread: cat: warning: %s: skipped %d damaged frame(s), %d bytes (the first at byte %d: %v); printed the lines of every other frame\n",
				name, se.Frames, se.Bytes, se.First, se.Err)
		}
		if torn {
			fmt.Fprintf(s.ErrOut, "logspread: cat: warning: %s: last frame is torn (collector crashed mid-write?): %d complete bytes printed\n", name, te.OutputOffset)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	switch {
	case failed > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d files could not be read", failed, len(opts.Files))}
	case damaged > 0:
		return &exitError{code: exitData, err: fmt.Errorf("%d of %d files are damaged (torn or skipped frames); every intact line was printed", damaged, len(opts.Files))}
	}
	return nil
}

func catFile(s *streams, out *bufio.Writer, name string) error {
	var in io.Reader
	var size int64
	if name == "-" {
		in = s.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("%w: a directory (name its segment files, e.g. %s)", segment.ErrNotSegment, filepath.Join(name, "*.zst"))
		}
		in, size = f, st.Size()
	}
	p := newProgress(s.ErrOut, name, size)
	defer p.done()
	return segment.CatWith(in, out, segment.CatOptions{Progress: func(n int64) { p.update(n, "") }})
}
