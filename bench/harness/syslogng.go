package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SyslogNG is the job done by Debian's syslog-ng 3.38 (run from the unpacked .deb): one
// shipper syslog-ng with one file() source per input file -> network() TCP on
// 127.0.0.1 -> Env.Collectors collector syslog-ngs, network() source -> pipe() read by
// `zstd -1` (syslog-ng 3.38 has no compressing file destination). Each zstd counts as
// part of its collector (CPU and RSS).
type SyslogNG struct {
	outs []string
}

// Name implements Scenario.
func (*SyslogNG) Name() string { return "syslog-ng" }

// Describe implements Describer.
func (*SyslogNG) Describe() string {
	return "syslog-ng shipper: 4 x file() `flags(no-parse)`, `log-fetch-limit(1000)`, `log-iw-size(10000)` -> network() TCP 127.0.0.1, " +
		"template `${MSG}\\n`, `flags(flow-control)`, one destination per collector; collector syslog-ng: network() `flags(no-parse)`, " +
		"`log-iw-size(100000)` -> pipe() -> `zstd -1` (its CPU and RSS counted as the collector's); `log-msg-size(65536)`. " +
		"Merge: file sources are read in turns (about every log-fetch-limit lines). " +
		"Complete = last growth of the collectors' input or output + measured time for syslog-ng to exit on SIGTERM and zstd to finish."
}

func syslogNGCmd(r *Run, name, conf string) (*exec.Cmd, error) {
	root := r.Env.PeersRoot
	bin := filepath.Join(root, "usr/sbin/syslog-ng")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("syslog-ng not unpacked (run bench/run.sh): %w", ErrUnavailable)
	}
	cf := r.Path(name + ".conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-F", "-e", "--no-caps",
		"-f", cf,
		"--module-path", filepath.Join(root, "usr/lib/syslog-ng/3.38"),
		"--persist-file", r.Path(name+".persist"),
		"--pidfile", r.Path(name+".pid"),
		"--control", r.Path(name+".ctl"),
	)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(root, "usr/lib/syslog-ng"))
	return cmd, nil
}

const syslogNGOptions = `@version: 3.38
options {
  log-msg-size(65536);
  stats-freq(0);
  use-dns(no);
  use-fqdn(no);
  chain-hostnames(no);
  keep-hostname(yes);
  create-dirs(no);
};
`

// Start implements Scenario.
func (s *SyslogNG) Start(ctx context.Context, r *Run) error {
	var ports []int
	s.outs = nil
	for i := 1; i <= r.Env.Collectors; i++ {
		name := fmt.Sprintf("collector-%d", i)
		port, err := FreePort()
		if err != nil {
			return err
		}
		fifo := r.Path(name + ".fifo")
		out := r.Path(name + ".zst")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		// The shell blocks opening the fifo until syslog-ng opens it, then becomes zstd.
		z := exec.Command("sh", "-c", `exec zstd -1 -q -c < "$1" > "$2"`, "sh", fifo, out)
		if _, err := r.Exec(KindCollector, name, name+"-zstd", z); err != nil {
			return err
		}
		conf := syslogNGOptions + fmt.Sprintf(`source s_net {
  network(ip("127.0.0.1") port(%d) transport("tcp") flags(no-parse)
          max-connections(10) log-iw-size(100000) log-fetch-limit(1000) log-msg-size(65536));
};
destination d_out { pipe(%q template("${MSG}\n") log-fifo-size(200000)); };
log { source(s_net); destination(d_out); flags(flow-control); };
`, port, fifo)
		cmd, err := syslogNGCmd(r, name, conf)
		if err != nil {
			return err
		}
		p, err := r.Exec(KindCollector, name, name, cmd)
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
	b.WriteString(syslogNGOptions)
	b.WriteString("source s_files {\n")
	for _, in := range r.Env.Inputs {
		abs, err := filepath.Abs(in)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  file(%q flags(no-parse) follow-freq(1) log-fetch-limit(1000) log-iw-size(10000) log-msg-size(65536));\n", abs)
	}
	b.WriteString("};\n")
	var dests []string
	for i, port := range ports {
		d := fmt.Sprintf("d_c%d", i+1)
		dests = append(dests, "destination("+d+");")
		fmt.Fprintf(&b, "destination %s { network(\"127.0.0.1\" port(%d) transport(\"tcp\") template(\"${MSG}\\n\") log-fifo-size(100000)); };\n", d, port)
	}
	fmt.Fprintf(&b, "log { source(s_files); %s flags(flow-control); };\n", strings.Join(dests, " "))
	cmd, err := syslogNGCmd(r, "shipper", b.String())
	if err != nil {
		return err
	}
	_, err = r.Exec(KindShipper, "shipper", "shipper", cmd)
	return err
}

// Wait implements Scenario.
func (s *SyslogNG) Wait(ctx context.Context, r *Run) (time.Time, error) {
	last, err := WaitQuiet(ctx, r, r.Env.Quiet, s.outs, r.Procs(KindCollector))
	if err != nil {
		return time.Time{}, err
	}
	StopUnitsTimed(r, 10*time.Second, KindShipper)
	start := time.Now()
	var daemons, zstds []*Proc
	for _, p := range r.Procs(KindCollector) {
		if strings.HasSuffix(p.Name, "-zstd") {
			zstds = append(zstds, p)
		} else {
			daemons = append(daemons, p)
		}
	}
	for _, p := range daemons {
		_ = p.Signal(syscall.SIGTERM)
	}
	WaitExit(30*time.Second, daemons...)
	WaitExit(30*time.Second, zstds...) // they end at EOF of the pipe
	stop := time.Since(start)
	r.Env.Logf("  last progress %.2fs after start; collectors took %.3fs to stop", last.Sub(r.Start).Seconds(), stop.Seconds())
	return last.Add(stop), nil
}

// Outputs implements Scenario.
func (s *SyslogNG) Outputs(r *Run) ([]Output, error) {
	var outs []Output
	for i, f := range s.outs {
		outs = append(outs, Output{Name: fmt.Sprintf("collector-%d", i+1), Files: []string{f}, Open: OpenZstd})
	}
	return outs, nil
}
