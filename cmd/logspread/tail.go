package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/spreadlink"
	"github.com/spf13/cobra"
)

// TailOptions are the options of the tail command.
type TailOptions struct {
	Spread     string   `yaml:"spread"`
	Groups     []string `yaml:"groups"`
	Membership bool     `yaml:"membership"`
	config     configFlags
}

func newCmdTail(s *streams, runF func(*TailOptions) error) *cobra.Command {
	opts := &TailOptions{Spread: "4803"}
	cmd := &cobra.Command{
		Use:   "tail [--spread ADDR] GROUP...",
		Short: "Print the lines multicast to Spread groups, live, as delivered",
		Long: `Join the groups and print every line as it is delivered, in Spread's order: raw
messages (mod_log_spread) and logspread batches alike. Nothing is de-duplicated:
a batch a shipper resends is printed again. With --membership, joins, leaves and
disconnects are printed as lines starting with '#'.`,
		Example: `  logspread tail www
  logspread tail --spread 4803@loghost --membership www api`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.config.load(cmd, opts); err != nil {
				return err
			}
			if len(args) > 0 {
				opts.Groups = args
			}
			if err := opts.check(); err != nil {
				return err
			}
			if opts.config.Check {
				return nil
			}
			if runF != nil {
				return runF(opts)
			}
			return tailRun(cmd.Context(), s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Spread, "spread", opts.Spread, "Spread daemon: PORT (unix socket /tmp/PORT), PORT@HOST, HOST:PORT or unix:PATH")
	cmd.Flags().BoolVar(&opts.Membership, "membership", false, "also print membership changes")
	opts.config.add(cmd)
	return cmd
}

// check validates the options; errors name the flag or YAML key.
func (o *TailOptions) check() error {
	if _, err := spreadlink.ParseAddress(o.Spread); err != nil {
		return o.config.invalid("spread", o.Spread, wantSpreadAddress)
	}
	if len(o.Groups) == 0 {
		return usageError("tail: name at least one group")
	}
	for _, grp := range o.Groups {
		if !spreadlink.ValidGroupName(grp) {
			return usageError("tail: group %q: want 1..31 characters of '$'..'~' (no '#', no spaces)", grp)
		}
	}
	return nil
}

func tailRun(ctx context.Context, s *streams, opts *TailOptions) error {
	conn, err := spreadlink.Dial(ctx, spreadlink.Config{Address: opts.Spread, Membership: opts.Membership})
	if err != nil {
		return fmt.Errorf("tail: %w (is a Spread daemon running at %q? start one with 'logspread daemon')", err, opts.Spread)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	defer conn.Close()
	for _, grp := range opts.Groups {
		if err := conn.Join(grp); err != nil {
			return fmt.Errorf("tail: join %s: %w", grp, err)
		}
	}
	out := bufio.NewWriterSize(s.Out, 64<<10)
	defer out.Flush()
	bodies, err := newBatchBodies()
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	defer bodies.close()
	var m spreadlink.Message
	for {
		if conn.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				return err
			}
		}
		if err := conn.Receive(&m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tail: %w", err)
		}
		if err := printDelivery(out, bodies, &m); err != nil {
			return err
		}
	}
}

// printDelivery writes the lines carried by one delivery.
func printDelivery(out *bufio.Writer, bodies *batchBodies, m *spreadlink.Message) error {
	switch {
	case m.Service.IsMembership() && m.Membership != nil:
		_, err := fmt.Fprintf(out, "# %s %s: %s, members %v\n", m.Service, m.Membership.Group, m.Membership.Changed, m.Membership.Members)
		return err
	case m.Service.IsMembership():
		_, err := fmt.Fprintf(out, "# %s %s\n", m.Service, m.Sender)
		return err
	case !m.Service.IsRegular():
		return nil
	}
	switch m.MessType {
	case envelope.MessTypeRaw:
		_, err := out.Write(m.Data)
		if err == nil && len(m.Data) > 0 && m.Data[len(m.Data)-1] != '\n' {
			err = out.WriteByte('\n')
		}
		return err
	case envelope.MessTypeBatch:
		h, body, err := envelope.ParseBatch(m.Data)
		if err != nil {
			_, err = fmt.Fprintf(out, "# bad batch from %s: %v\n", m.Sender, err)
			return err
		}
		if h.Flags&envelope.FlagZstd != 0 {
			if body, err = bodies.decode(body, int(h.RawLen)); err != nil {
				_, err = fmt.Fprintf(out, "# bad batch from %s: %v\n", m.Sender, err)
				return err
			}
		}
		_, err = out.Write(body)
		return err
	}
	return nil
}
