package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/collector"
	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShipNoCollectorAtStart: shippers started while no collector is present fill
// their window and hold: nothing is multicast or acknowledged, no checkpoint is saved,
// the sources are not read further. Members of the presence group that are not
// collectors (another shipper, a "tail" with another name prefix) do not count. When
// a collector joins, every line arrives exactly once and the checkpoints advance.
func TestShipNoCollectorAtStart(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	dir := t.TempDir()
	var paths []string
	var contents [][]byte
	var srcs []source.Source
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("access%d.log", i))
		c := testContent(uint64(10+i), 20000)
		writeFile(t, p, c)
		paths, contents = append(paths, p), append(contents, c)
		srcs = append(srcs, openTailer(t, s, p))
	}
	// A receiver that joins the group and the presence group under a name that is not
	// a collector's ("r…", as the daemon would pick for `logspread tail`).
	other := startReceiverOpts(t, addr, "www", receiverOptions{prefix: 'r'})
	sc := testSendConfig(addr, "www")
	sc.Window = 8
	rs1 := startShipper(t, sc, srcs[0])
	rs2 := startShipper(t, sc, srcs[1]) // a second shipper: a member of the presence group too

	for i, rs := range []*runningShipper{rs1, rs2} {
		testsupport.EventuallyErr(t, func() error {
			if st := rs.Stats(); st.InFlight < sc.Window || !st.WaitingForCollector {
				return fmt.Errorf("shipper %d: stats %+v, want a full window waiting for a collector", i, st)
			}
			return nil
		})
	}
	// The window is taken, and the pumps are held back (nothing is acknowledged, so the
	// window stays full), but nothing is multicast (a collector joining meanwhile would
	// see later batches before the earlier ones: a gap, see the package doc) and no
	// checkpoint moves. That nothing was multicast is checked below, whenever it would
	// have happened: the non-collector member sees no batch ordered before the
	// collector's join.
	for i, rs := range []*runningShipper{rs1, rs2} {
		if st := rs.Stats(); st.AckedBytes != 0 || st.SentBatches != uint64(sc.Window) || st.Collectors != 0 {
			t.Fatalf("shipper %d without a collector: %+v", i, st)
		}
	}
	for _, p := range paths {
		if cp, found, err := s.Store().Load(p); err != nil || (found && cp.Offset != 0) {
			t.Fatalf("checkpoint of %s advanced without a collector: %+v %v", p, cp, err)
		}
	}

	r := startReceiver(t, addr, "www")
	want := len(contents[0]) + len(contents[1])
	r.waitLen(want)
	for i, rs := range []*runningShipper{rs1, rs2} {
		rs.waitAcked(t, uint64(len(contents[i])))
		testsupport.EventuallyErr(t, func() error {
			cp, _, err := s.Store().Load(paths[i])
			if err != nil || cp.Offset != uint64(len(contents[i])) {
				return fmt.Errorf("checkpoint %+v (%v), want offset %d", cp, err, len(contents[i]))
			}
			return nil
		})
		st := rs.Stats()
		if st.PresenceResends < 1 || st.Collectors != 1 || st.WaitingForCollector {
			t.Errorf("shipper %d: stats %+v, want the window resent once the collector came", i, st)
		}
		if got := testutil.ToFloat64(rs.m.NoCollector); got <= 0 {
			t.Errorf("shipper %d: no collector seconds %v", i, got)
		}
		if got := testutil.ToFloat64(rs.m.Collectors); got != 1 {
			t.Errorf("shipper %d: collectors gauge %v", i, got)
		}
		if got := testutil.ToFloat64(rs.m.PresenceResends); got != float64(st.PresenceResends) {
			t.Errorf("shipper %d: presence resends metric %v, stats %d", i, got, st.PresenceResends)
		}
	}
	if early := other.waitCollector(t); early != 0 {
		t.Errorf("the non-collector member received %d messages ordered before a collector joined, want 0", early)
	}
	// Every line once: the merged output holds each file's lines in order.
	out := r.bytes()
	if len(out) != want {
		t.Fatalf("received %d bytes, want %d", len(out), want)
	}
	if st := r.stats(); st.Gaps != 0 || st.Lines != 40000 {
		t.Errorf("sequencer stats %+v", st)
	}
	for i, rs := range []*runningShipper{rs1, rs2} {
		if err := rs.stop(); err != nil {
			t.Errorf("shipper %d: %v", i, err)
		}
	}
}

// TestShipRequireCollectorOff: without RequireCollector the shipper neither joins the
// presence group nor waits: a batch ordered while no receiver is in the group is
// acknowledged, as before (and lost).
func TestShipRequireCollectorOff(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(12, 3000)
	writeFile(t, path, content)
	sc := testSendConfig("unix:"+sock, "www")
	sc.RequireCollector = false
	rs := startShipper(t, sc, openTailer(t, s, path))
	rs.waitAcked(t, uint64(len(content)))
	if st := rs.Stats(); st.Collectors != 0 || st.PresenceResends != 0 || st.WaitingForCollector {
		t.Errorf("stats %+v", st)
	}
}

// TestSendConfigName: a shipper's own private name must start with 's'.
func TestSendConfigName(t *testing.T) {
	for name, ok := range map[string]bool{"": true, "s1": true, "shipper-01": true, "c1": false, "x": false, "s23456789ab": false} {
		c := DefaultConfig()
		c.Group = "www"
		c.Name = name
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("name %q: Validate = %v", name, err)
		}
	}
}

// shipCollector runs a real collector.Collector writing the group "www" as plain
// segments into dir, its state into dir too.
type shipCollector struct {
	c      *collector.Collector
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startShipCollector(t *testing.T, addr, dir string) *shipCollector {
	t.Helper()
	cfg := collector.DefaultConfig()
	cfg.Spread = addr
	cfg.Dir = dir
	cfg.Logs = []collector.LogConfig{{Group: "www", Template: "www.log"}}
	cfg.Compression = segment.CompressNone
	cfg.FlushInterval = 10 * time.Millisecond
	cfg.ReconnectMin = 10 * time.Millisecond
	cfg.ReconnectMax = 50 * time.Millisecond
	c, err := collector.New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &shipCollector{c: c, cancel: cancel, done: make(chan struct{})}
	go func() { // owned: stop waits for done
		defer close(sc.done)
		sc.err = c.Run(ctx)
	}()
	t.Cleanup(func() { sc.stop(t) })
	testsupport.EventuallyErr(t, c.Healthy)
	return sc
}

// stop stops the collector gracefully (it leaves the presence group first).
func (sc *shipCollector) stop(t *testing.T) {
	t.Helper()
	sc.cancel()
	<-sc.done
	if sc.err != nil {
		t.Errorf("collector: %v", sc.err)
		sc.err = nil
	}
}

// collectorOutput concatenates the plain segments of dir in write order.
func collectorOutput(t *testing.T, dir string) []byte {
	t.Helper()
	var out bytes.Buffer
	for n := 0; ; n++ {
		name := "www.log"
		if n > 0 {
			name = fmt.Sprintf("www.log.%d", n)
		}
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return out.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		err = segment.Cat(f, &out)
		f.Close()
		if err != nil && !errors.Is(err, segment.ErrTornFrame) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestShipCollectorRestart restarts the only collector (a real collector.Collector,
// stopped gracefully) three times while a writer appends to the shipped file at a
// steady pace. With RequireCollector nothing is acknowledged while the collector is
// away, and the collector's output holds every line exactly once. The same run without
// RequireCollector loses the lines ordered while the collector was away: the test
// detects the loss the presence group prevents.
func TestShipCollectorRestart(t *testing.T) {
	for _, require := range []bool{true, false} {
		t.Run(fmt.Sprintf("require=%v", require), func(t *testing.T) {
			testShipCollectorRestart(t, require)
		})
	}
}

func testShipCollectorRestart(t *testing.T, require bool) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	out := t.TempDir()
	col := startShipCollector(t, addr, out)
	cfg, w := testConfig(t)
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, nil)
	sc := testSendConfig(addr, "www")
	sc.RequireCollector = require
	sc.Window = 16
	rs := startShipper(t, sc, openTailer(t, s, path))

	// The writer appends about 40k lines/s until stopped.
	writer := startAppender(t, path, time.Millisecond, func(i int) []byte {
		var b []byte
		for j := range 40 {
			b = fmt.Appendf(b, "line %d.%d %s\n", i, j, strings.Repeat("x", (i+j)%80))
		}
		return b
	})
	backstop := make(chan struct{})
	defer close(backstop)
	go func() { // owned: ends with the test (backstop); poll ticks, not synchronisation
		for {
			select {
			case <-backstop:
				return
			case <-time.After(20 * time.Millisecond):
				w.Tick()
			}
		}
	}()

	var ackedAway uint64 // bytes acknowledged while the collector was away
	for restart := range 3 {
		rs.waitAcked(t, rs.Stats().AckedBytes+256<<10)
		col.stop(t)
		if require {
			testsupport.EventuallyErr(t, func() error {
				if st := rs.Stats(); !st.WaitingForCollector {
					return fmt.Errorf("restart %d: shipper not waiting for a collector: %+v", restart, st)
				}
				return nil
			})
			// The shipper has seen the collector leave: the acknowledgements of what was
			// ordered before the leave came before it, and nothing ordered since counts.
			// Lines keep coming: once the shipper has taken a full window of them, none
			// may have been acknowledged.
			acked := rs.Stats().AckedBytes
			testsupport.EventuallyErr(t, func() error {
				if st := rs.Stats(); st.InFlight < sc.Window {
					return fmt.Errorf("restart %d: window not full while the collector is away: %+v", restart, st)
				}
				return nil
			})
			if st := rs.Stats(); st.AckedBytes != acked || !st.WaitingForCollector {
				t.Fatalf("restart %d: %d bytes acknowledged while no collector was present (%+v)", restart, st.AckedBytes-acked, st)
			}
		} else {
			acked := rs.Stats().AckedBytes
			rs.waitAcked(t, acked+64<<10) // ordered (and acknowledged) while nobody listens
			ackedAway += rs.Stats().AckedBytes - acked
		}
		col = startShipCollector(t, addr, out)
	}
	all := writer.stop()
	rs.waitAcked(t, uint64(len(all)))
	lastLine := all[bytes.LastIndexByte(all[:len(all)-1], '\n')+1:]
	var got []byte
	testsupport.EventuallyErr(t, func() error {
		got = collectorOutput(t, out)
		if !bytes.HasSuffix(got, lastLine) {
			return fmt.Errorf("collector has %d of %d bytes", len(got), len(all))
		}
		return nil
	})
	st := rs.Stats()
	t.Logf("require=%v: shipper %+v; output %d bytes of %d; acknowledged while away %d", require, st, len(got), len(all), ackedAway)
	if require {
		if !bytes.Equal(got, all) {
			t.Fatalf("collector output: %d bytes, want %d, first difference at %d", len(got), len(all), firstDiff(got, all))
		}
		if st.PresenceResends < 3 {
			t.Errorf("presence resends %d, want one per restart", st.PresenceResends)
		}
		return
	}
	if len(got) >= len(all) || bytes.Equal(got, all) {
		t.Fatalf("without RequireCollector the lines ordered while the collector was away should be lost: got %d bytes of %d", len(got), len(all))
	}
	// What did arrive is not doubled: every line at most once.
	seen := map[string]bool{}
	for line := range bytes.Lines(got) {
		if seen[string(line)] {
			t.Fatalf("line %q twice", line)
		}
		seen[string(line)] = true
	}
}
