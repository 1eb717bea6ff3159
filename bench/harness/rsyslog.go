package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Rsyslog is the job done by Debian's rsyslog 8.2302 (run from the unpacked .deb, see
// bench/run.sh): one shipper rsyslogd with one imfile input per input file (read from
// the beginning), forwarding with omfwd over TCP on 127.0.0.1 to Env.Collectors
// collector rsyslogds (imtcp -> omfile, zstd through rsyslog's own lmzstdw driver).
//
// Both daemons send only the line ("%msg%\n" on the shipper, "%rawmsg%\n" on the
// collector), so the output compares byte for byte with the input.
type Rsyslog struct {
	// OneWorker sets main_queue(queue.workerThreads="1") on both daemons, which keeps
	// file order; false leaves rsyslog's default main queue.
	OneWorker bool

	outs []string
}

// Name implements Scenario.
func (s *Rsyslog) Name() string {
	if s.OneWorker {
		return "rsyslog (1 queue worker)"
	}
	return "rsyslog (default queue)"
}

// Describe implements Describer.
func (s *Rsyslog) Describe() string {
	q := "default main queue (rsyslog may start a second worker under backlog)"
	if s.OneWorker {
		q = `main_queue(queue.workerThreads="1") on both daemons`
	}
	return "rsyslogd shipper: 4 x imfile (inotify mode, from the beginning) -> omfwd TCP 127.0.0.1, template `%msg%\\n`, one action per collector; " +
		"collector rsyslogd: imtcp (`SupportOctetCountedFraming=\"off\"`) -> omfile `compression.driver=\"zstd\"`, `zipLevel=\"1\"`, " +
		"`ioBufferSize=\"64k\"`, `flushOnTXEnd=\"off\"`, template `%rawmsg%\\n`; `maxMessageSize=\"64k\"`; " + q + ". " +
		"Merge: imfile reads one file to its end before the next when catching up. " +
		"Complete = last growth of the collectors' input (TCP bytes read) or output + measured time for the collectors to exit on SIGTERM " +
		"(rsyslog's zstd stream keeps its last block until the file is closed)."
}

func rsyslogBin(r *Run) (bin, mods string, err error) {
	bin = filepath.Join(r.Env.PeersRoot, "usr/sbin/rsyslogd")
	mods = filepath.Join(r.Env.PeersRoot, "usr/lib/x86_64-linux-gnu/rsyslog")
	if _, err := os.Stat(bin); err != nil {
		return "", "", fmt.Errorf("rsyslogd not unpacked (run bench/run.sh): %w", ErrUnavailable)
	}
	return bin, mods, nil
}

func (s *Rsyslog) queue() string {
	if s.OneWorker {
		return `main_queue(queue.workerThreads="1")` + "\n"
	}
	return ""
}

// Start implements Scenario.
func (s *Rsyslog) Start(ctx context.Context, r *Run) error {
	bin, mods, err := rsyslogBin(r)
	if err != nil {
		return err
	}
	daemon := func(kind, name, conf string) (*Proc, error) {
		work := r.Path(name + ".work")
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		conf = fmt.Sprintf("global(workDirectory=%q maxMessageSize=\"64k\")\n%s", work, s.queue()) + conf
		cf := r.Path(name + ".conf")
		if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-n", "-f", cf, "-i", r.Path(name+".pid"), "-M", mods)
		return r.Exec(kind, name, name, cmd)
	}

	var ports []int
	s.outs = nil
	for i := 1; i <= r.Env.Collectors; i++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		out := r.Path(fmt.Sprintf("collector-%d.zst", i))
		conf := fmt.Sprintf(`module(load="imtcp")
module(load="builtin:omfile" compression.driver="zstd")
template(name="rawline" type="string" string="%%rawmsg%%\n")
ruleset(name="store") {
  action(type="omfile" file=%q template="rawline" zipLevel="1" ioBufferSize="64k" flushOnTXEnd="off" asyncWriting="off")
}
input(type="imtcp" address="127.0.0.1" port="%d" SupportOctetCountedFraming="off" ruleset="store")
`, out, port)
		p, err := daemon(KindCollector, fmt.Sprintf("collector-%d", i), conf)
		if err != nil {
			return err
		}
		if err := WaitListening(ctx, port, p); err != nil {
			return err
		}
		ports = append(ports, port)
		s.outs = append(s.outs, out)
	}

	var b strings.Builder
	b.WriteString(`module(load="imfile" mode="inotify")
template(name="lineonly" type="string" string="%msg%\n")
ruleset(name="fwd") {
`)
	for _, port := range ports {
		fmt.Fprintf(&b, "  action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"tcp\" template=\"lineonly\")\n", port)
	}
	b.WriteString("}\n")
	for i, in := range r.Env.Inputs {
		abs, err := filepath.Abs(in)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "input(type=\"imfile\" file=%q tag=\"host%d\" ruleset=\"fwd\")\n", abs, i+1)
	}
	_, err = daemon(KindShipper, "shipper", b.String())
	return err
}

// Wait implements Scenario.
func (s *Rsyslog) Wait(ctx context.Context, r *Run) (time.Time, error) {
	last, err := WaitQuiet(ctx, r, r.Env.Quiet, s.outs, r.Procs(KindCollector))
	if err != nil {
		return time.Time{}, err
	}
	StopUnitsTimed(r, 10*time.Second, KindShipper)
	stop := StopUnitsTimed(r, 30*time.Second, KindCollector)
	r.Env.Logf("  last progress %.2fs after start; collectors took %.3fs to stop", last.Sub(r.Start).Seconds(), stop.Seconds())
	return last.Add(stop), nil
}

// Outputs implements Scenario.
func (s *Rsyslog) Outputs(r *Run) ([]Output, error) {
	var outs []Output
	for i, f := range s.outs {
		outs = append(outs, Output{Name: fmt.Sprintf("collector-%d", i+1), Files: []string{f}, Open: OpenZstd})
	}
	return outs, nil
}
