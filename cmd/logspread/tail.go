package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
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
	opts := &TailOptions{Spread: defaultSpread}
	cmd := &cobra.Command{
		Use:   "tail [--spread ADDR] GROUP...",
		Short: "Print the lines multicast to Spread groups, live, as delivered",
		Long: `Join the groups and print every line as it is delivered, in Spread's order: raw
messages (mod_log_spread) and logspread batches alike. A batch a shipper sends
again (after a reconnect, or re-read for a collector that was away) is printed
once: tail keeps, per stream, the end of what it printed. Raw messages are not
de-duplicated. A batch that fails its checksum is reported as a line starting
with '#'. tail never slows the shippers: when it
reads slower than the groups are written, logspread's daemon drops messages for
it and tail prints '# dropped N messages' where they are missing. With
--membership, joins, leaves and disconnects are printed as lines starting with '#'. When the daemon goes away (a
restart), tail says so on stderr and reconnects; what was sent meanwhile is missed.`,
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
				fmt.Fprintln(s.Out, "configuration ok")
				return nil
			}
			if runF != nil {
				return runF(opts)
			}
			return tailRun(cmd.Context(), s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Spread, "spread", opts.Spread, spreadUsage)
	cmd.Flags().BoolVar(&opts.Membership, "membership", false, "also print membership changes")
	opts.config.add(cmd)
	return cmd
}

// check validates the options; errors name the flag or YAML key.
func (o *TailOptions) check() error {
	if err := o.config.checkAddress("spread", o.Spread); err != nil {
		return err
	}
	if len(o.Groups) == 0 {
		return usageError("tail: name at least one group")
	}
	for _, grp := range o.Groups {
		if err := spreadlink.CheckGroupName(grp); err != nil {
			return usageError("tail: %v", err)
		}
	}
	return nil
}

// tailRun prints what is delivered to the groups until ctx is done. The first
// connection must succeed; after that, a lost connection (a daemon restart) is
// reported on stderr and replaced, and printing goes on.
func tailRun(ctx context.Context, s *streams, opts *TailOptions) error {
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return fmt.Errorf("tail: zstd: %w", err)
	}
	defer zd.Close()
	out := bufio.NewWriterSize(s.Out, 64<<10)
	defer out.Flush()
	t := &tailer{s: s, opts: opts, out: out, dec: envelope.Decoder{Decompressor: zd, MaxRawLen: 64 << 20}}
	t.sess, err = spreadlink.NewSession(spreadlink.SessionConfig{
		// Membership notices are always asked for: the own joins tell when a new
		// connection hears everything again. They are printed only with --membership.
		Config:  spreadlink.Config{Address: opts.Spread, Membership: true},
		Groups:  opts.Groups,
		Backoff: spreadlink.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second},
		OnConnectError: func(err error, failures int, _ time.Duration) {
			// The first attempt after the loss, then at doubling intervals (the
			// backoff tops at 2 s: about every minute at most), each with the error.
			if failures >= 2 && (failures&(failures-1) == 0 || failures%32 == 0) {
				fmt.Fprintf(s.ErrOut, "logspread: tail: cannot reach %s (%v); still trying (%d attempts)\n", opts.Spread, err, failures-1)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	conn, err := t.sess.TryConnect(ctx)
	if err != nil {
		if errors.Is(err, spreadlink.ErrCouldNotConnect) {
			return fmt.Errorf("tail: %w (is a Spread daemon running at %q? start one with 'logspread daemon')", err, opts.Spread)
		}
		return fmt.Errorf("tail: %w", err) // it runs, and said why it refused
	}
	for again := false; ; again = true {
		lost, err := t.receive(ctx, conn, again)
		if ctx.Err() != nil || err != nil {
			_ = conn.Close()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		_ = conn.Abort()
		t.sess.Lost()
		if err := out.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(s.ErrOut, "logspread: tail: lost the connection to %s (%v); reconnecting\n", opts.Spread, lost)
		if conn, err = t.sess.Connect(ctx); err != nil {
			return nil // ctx is done
		}
	}
}

// tailer is the state of one tail command across its connections.
type tailer struct {
	s    *streams
	opts *TailOptions
	sess *spreadlink.Session
	out  *bufio.Writer
	dec  envelope.Decoder
	m    spreadlink.Message
	seen printedStreams
}

// printedStreams holds, per stream, the end of what tail printed of it: a batch sent
// again (a resend after a reconnect, a re-read for a collector that was away, under
// --ack written a legitimate part of the protocol) is printed once. Beyond
// maxPrintedStreams streams it starts afresh (a resend of a forgotten stream is then
// printed again).
type printedStreams map[uint64]uint64

const maxPrintedStreams = 1 << 16

// fresh returns the part of b's body not printed yet (nil for none) and records it.
func (p *printedStreams) fresh(h envelope.BatchHeader, body []byte) []byte {
	if len(body) == 0 {
		return nil // a loss or settled notice, or an empty batch: nothing printed
	}
	if *p == nil || len(*p) >= maxPrintedStreams {
		*p = printedStreams{}
	}
	end := h.Offset + h.Span
	done, ok := (*p)[h.Stream]
	if ok && end <= done {
		return nil
	}
	(*p)[h.Stream] = max(done, end)
	if ok && h.Offset < done && h.Span == uint64(len(body)) {
		return body[done-h.Offset:] // a batch cut differently that ends beyond
	}
	return body
}

// receive prints the deliveries of conn until receiving fails (lost) or printing
// does (err). Once the daemon has delivered the connection's own joins it marks the
// session healthy and, on a reconnection (again), says so on stderr.
func (t *tailer) receive(ctx context.Context, conn *spreadlink.Conn, again bool) (lost, err error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	joins := t.sess.JoinWait()
	for {
		if conn.Buffered() == 0 {
			if err := t.out.Flush(); err != nil {
				return nil, err
			}
		}
		if err := conn.Receive(&t.m); err != nil {
			return err, nil
		}
		if joins.Observe(&t.m) {
			t.sess.Healthy()
			if again {
				if err := t.out.Flush(); err != nil {
					return nil, err
				}
				fmt.Fprintf(t.s.ErrOut, "logspread: tail: reconnected to %s; printing %s again\n", t.opts.Spread, strings.Join(t.opts.Groups, " "))
			}
		}
		if t.m.Service.IsMembership() && !t.opts.Membership {
			continue
		}
		if err := printDelivery(t.out, &t.dec, &t.seen, &t.m); err != nil {
			return nil, err
		}
	}
}

// printDelivery writes the lines carried by one delivery. Batches are decoded and
// verified (checksum included) by dec; a bad one is reported as a '#' line; what seen
// says was printed already is not printed again.
func printDelivery(out *bufio.Writer, dec *envelope.Decoder, seen *printedStreams, m *spreadlink.Message) error {
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
	if n, ok := spreadlink.DropNotice(m); ok {
		// The daemon dropped what this tail could not keep up with.
		_, err := fmt.Fprintf(out, "# dropped %d messages (this tail reads slower than they arrive)\n", n)
		return err
	}
	switch m.MessType {
	case envelope.MessTypeRaw:
		_, err := out.Write(m.Data)
		if err == nil && len(m.Data) > 0 && m.Data[len(m.Data)-1] != '\n' {
			err = out.WriteByte('\n')
		}
		return err
	case envelope.MessTypeBatch:
		b, err := dec.Decode(m.Data)
		if err != nil {
			_, err = fmt.Fprintf(out, "# bad batch from %s: %v\n", m.Sender, err)
			return err
		}
		_, err = out.Write(seen.fresh(b.Header, b.Body))
		return err
	}
	return nil
}
