// Command flood measures the throughput of a daemon speaking the Spread client protocol:
// one sender connection multicasts N messages of a given size to a group, one receiver
// connection that joined the group counts them. By default it starts the embedded daemon
// (spreadlink/daemon) in-process and measures the unix socket and loopback TCP; with
// --spread it measures an external daemon instead, and with --mode send|recv the two ends
// run as separate processes.
//
//	go run ./bench/flood                         # embedded daemon, unix and tcp, 100/1024/65536 B
//	go run ./bench/flood --spread 4803 -n 100000 # a real Spread daemon on /tmp/4803
//	go run ./bench/flood --spread 4803 --mode recv & go run ./bench/flood --spread 4803 --mode send
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
)

type options struct {
	spread   string
	mode     string
	n        int
	sizes    []int
	senders  int
	deferred bool
	window   int
	group    string
	service  spreadlink.ServiceType
	cpuprof  string
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	var o options
	var sizes, svc string
	fs.StringVar(&o.spread, "spread", "", "daemon address (PORT, PORT@HOST, HOST:PORT, unix:PATH); empty starts the embedded daemon")
	fs.StringVar(&o.mode, "mode", "both", "both (sender and receiver here), send, or recv")
	fs.IntVar(&o.n, "n", 200000, "messages per run")
	fs.StringVar(&sizes, "sizes", "100,1024,65536", "comma-separated message sizes in bytes")
	fs.IntVar(&o.senders, "senders", 2, "goroutines sending on the one sender connection (its writes coalesce)")
	fs.BoolVar(&o.deferred, "deferred", false, "send with MulticastDeferred and Flush (many frames per write even from one goroutine)")
	fs.IntVar(&o.window, "window", 20000, "most messages sent and not yet received (bounded to 64 MiB)")
	fs.StringVar(&o.group, "group", "flood", "group name")
	fs.StringVar(&svc, "service", "agreed", "service level")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > spreadlink.MaxBody {
			return fmt.Errorf("bad size %q", s)
		}
		o.sizes = append(o.sizes, n)
	}
	var err error
	if o.service, err = spreadlink.ParseService(svc); err != nil {
		return err
	}
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	targets := []target{{name: "external", addr: o.spread}}
	if o.spread == "" {
		dir, err := os.MkdirTemp("", "flood")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg := daemon.DefaultConfig()
		cfg.Listen = []string{"unix:" + filepath.Join(dir, "4803"), "127.0.0.1:0"}
		cfg.MaxSessionMessages = 1 << 20
		cfg.MaxSessionBytes = 1 << 30
		d, err := daemon.New(cfg, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			return err
		}
		if err := d.Start(); err != nil {
			return err
		}
		defer d.Shutdown(ctx) //nolint:errcheck // best effort at exit
		targets = nil
		for _, a := range d.Addrs() {
			targets = append(targets, target{name: a.Network, addr: a.String()})
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tsize B\tmessages\tseconds\tmsg/s\tMB/s\t")
	for _, tg := range targets {
		for _, size := range o.sizes {
			r, err := flood(ctx, o, tg.addr, size)
			if err != nil {
				return fmt.Errorf("%s, %d B: %w", tg.name, size, err)
			}
			sec := r.elapsed.Seconds()
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.0f\t%.1f\t\n", tg.name, size, r.n, sec,
				float64(r.n)/sec, float64(r.n)*float64(size)/sec/1e6)
		}
	}
	return tw.Flush()
}

type target struct{ name, addr string }

type result struct {
	n       int
	elapsed time.Duration
}

// flood runs one measurement: the receiver joins, the sender sends o.n messages of size
// bytes, the clock stops when the receiver has them all.
func flood(ctx context.Context, o options, addr string, size int) (result, error) {
	window := max(1, min(o.window, (64<<20)/max(size, 1)))
	var sent, received atomic.Int64
	progress := make(chan struct{}, 1)
	cfg := spreadlink.Config{Address: addr, Membership: true}

	var recvConn *spreadlink.Conn
	if o.mode == "both" || o.mode == "recv" {
		c, err := spreadlink.Dial(ctx, cfg)
		if err != nil {
			return result{}, err
		}
		defer c.Close()
		if err := c.Join(o.group); err != nil {
			return result{}, err
		}
		var m spreadlink.Message
		if err := c.Receive(&m); err != nil { // our own join
			return result{}, err
		}
		recvConn = c
	}
	var sendConn *spreadlink.Conn
	if o.mode == "both" || o.mode == "send" {
		c, err := spreadlink.Dial(ctx, cfg)
		if err != nil {
			return result{}, err
		}
		defer c.Close()
		sendConn = c
		if o.mode == "send" {
			// Pace ourselves on our own messages, as spflooder does.
			if err := c.Join(o.group); err != nil {
				return result{}, err
			}
			recvConn = c
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, o.senders+1)
	if recvConn != nil {
		wg.Go(func() {
			var m spreadlink.Message
			for received.Load() < int64(o.n) {
				if err := recvConn.Receive(&m); err != nil {
					errs <- err
					return
				}
				if !m.Service.IsRegular() {
					continue
				}
				if received.Add(1) == 1 && o.mode == "recv" {
					start = time.Now()
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	if sendConn != nil {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte('a' + i%26)
		}
		var next atomic.Int64
		for range o.senders {
			wg.Go(func() {
				defer func() {
					if o.deferred {
						if err := sendConn.Flush(); err != nil {
							errs <- err
						}
					}
				}()
				for {
					if next.Add(1) > int64(o.n) {
						return
					}
					for sent.Load()-received.Load() >= int64(window) && (recvConn != nil) {
						if o.deferred {
							if err := sendConn.Flush(); err != nil {
								errs <- err
								return
							}
						}
						select {
						case <-progress:
						case <-time.After(10 * time.Millisecond):
						}
					}
					send := sendConn.Multicast
					if o.deferred {
						send = sendConn.MulticastDeferred
					}
					if err := send(o.service, o.group, 1, body); err != nil {
						errs <- err
						return
					}
					sent.Add(1)
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return result{}, err
	}
	return result{n: o.n, elapsed: elapsed}, nil
}

func drain(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}
