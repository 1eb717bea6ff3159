package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/logspread/logspread/bench/loggen"
	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// shipReceiver joins a group as a collector does (private name "c…", the group, then
// its presence group) and feeds every delivery to a collector.Sequencer, which
// de-duplicates by stream and offset, keeping the lines it would write.
type shipReceiver struct {
	conn *spreadlink.Conn
	done chan struct{}
	// As a collector: its name in progress reports and its presence group.
	name, presence string

	mu  sync.Mutex // Guards the fields below.
	seq *collector.Sequencer
	out []byte
	raw int
	err error
}

// startShipTest starts what a ship test runs against: a daemon on a unix socket in dir
// (a temporary directory, returned) and a receiver of group www acknowledging as a
// collector; spread is the daemon's address for --spread.
func startShipTest(t *testing.T) (dir, spread string, r *shipReceiver) {
	t.Helper()
	dir = t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	spread = "unix:" + sock
	return dir, spread, startShipReceiver(t, spread, "www")
}

func startShipReceiver(t *testing.T, addr, group string) *shipReceiver {
	t.Helper()
	return startShipReceiverAs(t, addr, group, true)
}

// startShipReceiverAs starts a receiver; unless asCollector it joins only the group
// under a name the daemon picks, as spreadlogd does.
func startShipReceiverAs(t *testing.T, addr, group string, asCollector bool) *shipReceiver {
	t.Helper()
	seq, err := collector.NewSequencer(collector.DefaultSequencerConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	groups := []string{group}
	presence := envelope.PresenceGroup(group)
	if asCollector {
		name = envelope.RandomPrivateName(envelope.CollectorPrefix)
		groups = append(groups, presence)
	}
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: name, Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := c.Join(g); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for our own last join (the presence group's: shippers count us from there on).
	var m spreadlink.Message
	for {
		if err := c.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Group == groups[len(groups)-1] && m.Membership.Changed == c.PrivateGroup() {
			break
		}
	}
	r := &shipReceiver{conn: c, seq: seq, done: make(chan struct{})}
	if asCollector {
		// It reports, as a collector does, what it has "written" (received: it keeps the
		// lines in memory), so that shippers acknowledge with --ack written.
		r.name, r.presence = "recv-"+name[1:], presence
		r.report()
	}
	go r.run() // owned: the cleanup closes the connection and waits for done
	t.Cleanup(func() {
		c.Abort()
		<-r.done
		seq.Close()
	})
	return r
}

func (r *shipReceiver) run() {
	defer close(r.done)
	var m spreadlink.Message
	for {
		if err := r.conn.Receive(&m); err != nil {
			return
		}
		if !m.Service.IsRegular() {
			continue
		}
		r.mu.Lock()
		var err error
		r.out, err = r.seq.Process(r.out, m.MessType, m.Data)
		if m.MessType == 0 {
			r.raw++
		}
		if err != nil && r.err == nil {
			r.err = err
		}
		if r.presence != "" {
			r.report()
		}
		r.mu.Unlock()
	}
}

// report multicasts a progress report with the end of every stream that moved (a hello
// when none did). Called from run with mu held, or before run starts.
func (r *shipReceiver) report() {
	ids := r.seq.TakeTouched()
	p := envelope.Progress{Name: r.name}
	if len(ids) > 0 {
		snap := r.seq.Snapshot()
		for _, id := range ids {
			f := snap[id].Front()
			p.Streams = append(p.Streams, envelope.StreamProgress{Stream: id, From: f.From, End: f.To})
		}
	}
	b, err := envelope.AppendProgress(nil, &p)
	if err == nil {
		err = r.conn.Multicast(spreadlink.Agreed, r.presence, envelope.MessTypeProgress, b)
	}
	if err != nil && r.err == nil {
		r.err = err
	}
}

func (r *shipReceiver) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.out)
}

// expect waits until the receiver holds len(want) bytes and compares them.
func (r *shipReceiver) expect(t *testing.T, want []byte) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		if n := r.len(); n < len(want) {
			return fmt.Errorf("receiver has %d bytes, want %d", n, len(want))
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		t.Errorf("bad message: %v", r.err)
	}
	if !bytes.Equal(r.out, want) {
		i := 0
		for i < min(len(r.out), len(want)) && r.out[i] == want[i] {
			i++
		}
		t.Fatalf("received %d bytes, differ from the %d sent at byte %d (stats %+v)", len(r.out), len(want), i, r.seq.Stats())
	}
}

func (r *shipReceiver) stats() collector.SequencerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq.Stats()
}

// startWithStdin starts the logspread binary with args reading stdin from pr (the read
// end of a pipe), which it closes once the child has it.
func startWithStdin(t *testing.T, pr *os.File, args ...string) *testsupport.Process {
	t.Helper()
	cmd := testsupport.Command(t, args...)
	cmd.Stdin = pr
	p := testsupport.Start(t, cmd)
	pr.Close()
	return p
}

// genLines returns n loggen lines (deterministic for seed).
func genLines(seed int64, n int) []byte {
	g := loggen.New(seed, loggen.Options{})
	var b []byte
	for range n {
		b = g.AppendLine(b)
	}
	return b
}

func TestShipUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badKey, []byte("group: www\npathz: [a.log]\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("group: www\nspread: 4803@localhost\nservice: safe\nbatch_delay: 10ms\nbatch_size: 32768\npaths:\n  - /var/log/a.log\n  - '/var/log/*.log'\n"), 0o644)
	badSvc := filepath.Join(dir, "badsvc.yaml")
	os.WriteFile(badSvc, []byte("group: www\nservice: bogus\npaths: [a.log]\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{name: "no group", args: []string{"ship", "a.log"}, code: 2, msg: "--group is required"},
		{name: "no paths", args: []string{"ship", "--group", "www"}, code: 2, msg: "at least one"},
		{name: "bad group", args: []string{"ship", "--group", "#x", "a.log"}, code: 2, msg: "group"},
		{name: "bad service", args: []string{"ship", "--group", "www", "--service", "unreliable", "a.log"}, code: 2, msg: "--service"},
		{name: "bad spread", args: []string{"ship", "--group", "www", "--spread", "x:y:z", "a.log"}, code: 2, msg: "address"},
		{name: "big batch", args: []string{"ship", "--group", "www", "--batch-size", "1000000", "a.log"}, code: 2, msg: "batch"},
		{name: "small max line", args: []string{"ship", "--group", "www", "--max-line", "1", "a.log"}, code: 2, msg: "--max-line 1"},
		{name: "two stdins", args: []string{"ship", "--group", "www", "-", "-"}, code: 2, msg: "more than once"},
		{name: "unknown flag", args: []string{"ship", "--group", "www", "--nope", "a.log"}, code: 2, msg: "unknown flag"},
		{name: "bad duration", args: []string{"ship", "--group", "www", "--batch-delay", "soon", "a.log"}, code: 2, msg: "batch-delay"},
		{name: "unknown yaml key", args: []string{"ship", "--config", badKey}, code: 2, msg: "pathz"},
		{name: "missing config", args: []string{"ship", "--config", filepath.Join(dir, "none.yaml")}, code: 2, msg: "none.yaml"},
		{name: "good config", args: []string{"ship", "--config", good, "--check-config"}, code: 0},
		{name: "flag overrides file", args: []string{"ship", "--config", badSvc, "--service", "fifo", "--check-config"}, code: 0},
		{name: "file value checked", args: []string{"ship", "--config", badSvc, "--check-config"}, code: 2, msg: "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runMain(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr %q", code, tc.code, errOut)
			}
			if tc.code == 0 {
				if errOut != "" {
					t.Errorf("stderr %q", errOut)
				}
				return
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("stderr %q: want one line mentioning %q", errOut, tc.msg)
			}
		})
	}
}

// TestShipUnreadableFile: a path that cannot be opened is one clear error, exit 1.
func TestShipUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("x\n"), 0o644)
	paths := map[string]string{"not a directory": filepath.Join(notDir, "access.log"), "directory": dir}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "secret.log")
		os.WriteFile(unreadable, []byte("x\n"), 0o000)
		paths["permission"] = unreadable
	}
	for name, p := range paths {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runMain(t, "", "ship", "--group", "www", "--spread", "unix:"+filepath.Join(dir, "nosock"),
				"--state-dir", filepath.Join(t.TempDir(), "state"), p)
			if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, p) {
				t.Fatalf("exit %d, stderr %q: want 1 and one line naming %s", code, errOut, p)
			}
		})
	}
}

// TestShipStdinExitsAfterAck: `... | logspread ship -` exits 0 only after every line
// was acknowledged, so the receiver has them all. Over-long lines are truncated to
// --max-line bytes (its '\n' not counted: a line of exactly that many arrives whole).
func TestShipStdinExitsAfterAck(t *testing.T) {
	dir, spread, r := startShipTest(t)
	in := genLines(1, 50000)
	long := bytes.Repeat([]byte("L"), 10000)
	exact := bytes.Repeat([]byte("E"), 4096)
	in = append(append(append(append(append(in, long...), '\n'), exact...), '\n'), "after\n"...)
	want := append(append(append(append(genLines(1, 50000), long[:4096]...), '\n'), exact...), "\nafter\n"...)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--max-line", "4096", "-")
	var wg sync.WaitGroup
	wg.Go(func() {
		pw.Write(in)
		pw.Close()
	})
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr.String())
	}
	wg.Wait()
	// Acknowledged means ordered and queued for the receiver; it may still be reading.
	r.expect(t, want)
	if st := r.stats(); st.Truncated != 1 {
		t.Errorf("truncated lines %d, want 1", st.Truncated)
	}
	// The stop line says what did not arrive whole.
	p.WaitLog(t, `msg="stopped; every line read was acknowledged" .*journal_disk_bytes=\d+ truncated_lines=1 lost_bytes=0 unacked_destroyed_bytes=0 journal_dropped_bytes=0`)
}

// TestShipStdinDaemonDown: with no daemon, stdin is journaled and the process keeps
// running; once a daemon appears it waits for a collector; once one joins everything
// arrives and the process exits 0.
func TestShipStdinDaemonDown(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "4803")
	state := filepath.Join(dir, "state")
	in := genLines(2, 20000)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startWithStdin(t, pr, "ship", "--group", "www", "--spread", "unix:"+link, "--state-dir", state, "-")
	if _, err := pw.Write(in); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	testsupport.EventuallyErr(t, func() error {
		if p.Exited() {
			t.Fatalf("ship exited without a daemon; stderr:\n%s", p.Stderr.String())
		}
		if n := journalBytes(t, state); n < int64(len(in)) {
			return fmt.Errorf("journal holds %d bytes, want %d", n, len(in))
		}
		if !strings.Contains(p.Stderr.String(), "cannot reach the Spread daemon; stdin goes to the journal") {
			return errors.New("no warning about the daemon with the journal's fill")
		}
		return nil
	})
	// The daemon appears; the shipper connects and waits for a collector, which comes
	// later: nothing is lost meanwhile.
	startTestDaemon(t, link)
	p.WaitLog(t, "no collector in the presence group")
	if p.Exited() {
		t.Fatalf("ship exited without a collector; stderr:\n%s", p.Stderr.String())
	}
	r := startShipReceiver(t, "unix:"+link, "www")
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr.String())
	}
	r.expect(t, in)
}

// journalBytes sums the sizes of the journal segments under state.
func journalBytes(t *testing.T, state string) int64 {
	var n int64
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jnl") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestShipKill9 kills `logspread ship FILE` with SIGKILL at random points, several
// times, while the file grows; after restarts every line arrived exactly once after
// de-duplication.
func TestShipKill9(t *testing.T) {
	const seed = 42
	rng := rand.New(rand.NewPCG(seed, 7))
	dir, spread, r := startShipTest(t)
	path := filepath.Join(dir, "access.log")
	state := filepath.Join(dir, "state")
	content := genLines(3, 200000) // ~45 MB
	parts := []int{0, len(content) / 4, len(content) / 2, len(content)}
	for i := range parts[1:] { // cut at line ends
		parts[i+1] = bytes.LastIndexByte(content[:parts[i+1]], '\n') + 1
	}
	if err := os.WriteFile(path, content[:parts[1]], 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", state, "--from-beginning", path}
	written := parts[1]
	for round := range 8 {
		if round == 3 || round == 6 {
			k := 2
			if round == 6 {
				k = 3
			}
			appendTo(t, path, content[written:parts[k]])
			written = parts[k]
		}
		p := testsupport.StartProcess(t, args...)
		// A random point: right away, or after a random amount more has arrived.
		target := r.len()
		if rng.IntN(4) > 0 {
			target = min(target+rng.IntN(8<<20), written)
		}
		testsupport.EventuallyErr(t, func() error {
			if p.Exited() {
				t.Fatalf("ship exited; stderr:\n%s", p.Stderr.String())
			}
			if n := r.len(); n < target {
				return fmt.Errorf("round %d: receiver at %d, killing at %d", round, n, target)
			}
			return nil
		})
		p.Kill(t)
		t.Logf("round %d: killed with %d of %d bytes received", round, r.len(), written)
	}
	p := testsupport.StartProcess(t, args...)
	r.expect(t, content)
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
	t.Logf("sequencer %+v", r.stats())
}

func appendTo(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestShipLegacyProcess: --legacy sends raw messages, one per line.
func TestShipLegacyProcess(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	// Like spreadlogd: joins the group only; --legacy does not wait for a collector.
	r := startShipReceiverAs(t, "unix:"+sock, "www", false)
	in := genLines(4, 3000)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startWithStdin(t, pr, "ship", "--legacy", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"), "-")
	pw.Write(in)
	pw.Close()
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	r.expect(t, in)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw != 3000 {
		t.Errorf("%d raw messages, want 3000", r.raw)
	}
}
