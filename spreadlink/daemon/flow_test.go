package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sendNumbered multicasts n messages of size bytes to group from c, each starting with its
// number, in a goroutine; the result arrives on the returned channel.
func sendNumbered(c *spreadlink.Conn, group string, n, size int) <-chan error {
	done := make(chan error, 1)
	go func() {
		body := make([]byte, size)
		for i := range n {
			binary.BigEndian.PutUint32(body, uint32(i))
			if err := c.Multicast(spreadlink.Agreed, group, 0, body); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// receiveNumbered receives data messages on c until n arrived, the connection ends or
// nothing comes for a few seconds, checking that they are 0, 1, 2, ... ; pace is called
// after every message (a slow reader sleeps there). It returns how many arrived and the
// error that ended the stream, if any.
func receiveNumbered(t *testing.T, c *spreadlink.Conn, n int, pace func(i int)) (int, error) {
	t.Helper()
	var m spreadlink.Message
	got := 0
	for got < n {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.Receive(&m); err != nil {
			return got, err
		}
		if !m.Service.IsRegular() {
			continue
		}
		if k := int(binary.BigEndian.Uint32(m.Data)); k != got {
			t.Fatalf("%s: message %d where %d was due", c.PrivateGroup(), k, got)
		}
		got++
		pace(got)
	}
	return got, nil
}

// TestFlowControlSlowReader: a reader that stops reading for a while (a disk or GC
// stall, far shorter than the stall timeout) while a sender floods its group. With flow
// control the daemon pauses the sender, and the reader, reading on, gets everything;
// without it (Spread's rule) the reader is disconnected and loses messages, which shows
// the stall is long enough. The reader stalls until the daemon has reacted, however long
// that takes.
func TestFlowControlSlowReader(t *testing.T) {
	for _, flow := range []bool{true, false} {
		name := map[bool]string{true: "flow control", false: "spread"}[flow]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.FlowControl = flow
			cfg.MaxSessionMessages = 100
			cfg.StallTimeout = time.Hour // TestFlowControlStalledReaderKicked tests the stall rule
			d := startDaemon(t, cfg)
			addr := d.addr(t, "unix")
			rx := dial(t, addr, "rx", false)
			if err := rx.Join("g"); err != nil {
				t.Fatal(err)
			}
			syncConn(t, rx)
			tx := dial(t, addr, "tx", false)
			const n, size = 3000, 1000
			start := time.Now()
			sent := sendNumbered(tx, "g", n, size)
			got, err := receiveNumbered(t, rx, n, func(i int) {
				if i != 10 {
					return
				}
				// The stall: the sender fills the reader's socket, then its queue.
				if flow {
					waitFor(t, "the queue above its soft mark to pause the sender", func() bool { return d.paused.Load() })
				} else {
					waitFor(t, "the queue past its bound to disconnect the reader", func() bool { return testutil.ToFloat64(d.m.kickedFull) == 1 })
				}
			})
			t.Logf("received %d of %d in %v (%v); pauses %v, paused %.3fs", got, n, time.Since(start), err,
				testutil.ToFloat64(d.m.flowPauses), d.pausedSeconds())
			if !flow {
				if got == n || !errors.Is(err, spreadlink.ErrConnectionClosed) {
					t.Fatalf("without flow control the slow reader got %d of %d (%v), want a disconnect", got, n, err)
				}
				if k := testutil.ToFloat64(d.m.kickedFull); k != 1 {
					t.Errorf("kicked (queue full) = %v, want 1", k)
				}
				if err := <-sent; err != nil {
					t.Errorf("sender: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("received %d of %d: %v", got, n, err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("sender: %v", err)
			}
			if k := testutil.ToFloat64(d.m.kickedFull) + testutil.ToFloat64(d.m.kickedStalled); k != 0 {
				t.Errorf("%v sessions kicked", k)
			}
			if testutil.ToFloat64(d.m.flowPauses) == 0 || d.pausedSeconds() == 0 {
				t.Error("the sender was never paused")
			}
			waitFor(t, "resumed", func() bool { return !d.paused.Load() })
		})
	}
}

// TestFlowControlStalledReaderKicked: a member that never reads pauses the daemon until
// StallTimeout, then is disconnected as stalled; a fast member gets everything (and the
// disconnect notice) and the sender goes on.
//
// The sender keeps at most half the soft mark of messages ahead of the fast member, so
// that member is never above its soft mark: only a session above it can be taken for
// stalled, and the test's reader, however loaded the machine, is then never one (with
// no window, a loaded CI run disconnected it while it sat above the mark: "fast reader
// after 2029: CONNECTION_CLOSED", with 200 ms and, more rarely, with 1 s).
func TestFlowControlStalledReaderKicked(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionMessages = 100
	cfg.StallTimeout = 200 * time.Millisecond
	d := startDaemon(t, cfg)
	addr := d.addr(t, "unix")
	fast := dial(t, addr, "fast", true)
	if err := fast.Join("g"); err != nil {
		t.Fatal(err)
	}
	recv(t, fast)
	dead := dialRaw(t, addr)
	deadPriv := dead.handshake("dead", false)
	dead.write(rawFrame(uint32(spreadlink.JoinMess)|0x80000080, deadPriv, []string{"g"}, 0x80000080, nil))
	recv(t, fast)
	tx := dial(t, addr, "tx", false)
	const n, size = 3000, 1000
	start := time.Now()
	// The sender takes a credit per message, the fast reader returns one per message read.
	credits := make(chan struct{}, d.cfg.SoftSessionMessages/2)
	sent, stop := make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { close(stop) }) // a failed test reads no more: the sender ends
	go func() {
		body := make([]byte, size)
		for i := range n {
			select {
			case credits <- struct{}{}:
			case <-stop:
				sent <- errors.New("test ended")
				return
			}
			binary.BigEndian.PutUint32(body, uint32(i))
			if err := tx.Multicast(spreadlink.Agreed, "g", 0, body); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var m spreadlink.Message
	got, kickedAt := 0, time.Duration(0)
	for got < n {
		_ = fast.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := fast.Receive(&m); err != nil {
			t.Fatalf("fast reader after %d: %v", got, err)
		}
		if m.Service.IsRegular() {
			if k := int(binary.BigEndian.Uint32(m.Data)); k != got {
				t.Fatalf("message %d where %d was due", k, got)
			}
			got++
			<-credits
			continue
		}
		if m.Service != regDisc || m.Membership.Changed != deadPriv || kickedAt != 0 {
			t.Fatalf("got %v", &m)
		}
		kickedAt = time.Since(start)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if kickedAt == 0 {
		t.Fatal("stalled reader not disconnected")
	}
	t.Logf("stalled reader disconnected after %v; all %d in %v", kickedAt, n, time.Since(start))
	if kickedAt < cfg.StallTimeout {
		t.Errorf("disconnected after %v, before the stall timeout", kickedAt)
	}
	if s, f := testutil.ToFloat64(d.m.kickedStalled), testutil.ToFloat64(d.m.kickedFull); s != 1 || f != 0 {
		t.Errorf("kicked: stalled %v, queue_full %v; want 1, 0", s, f)
	}
	if testutil.ToFloat64(d.m.flowPauses) == 0 || d.pausedSeconds() < 0.1 {
		t.Errorf("pauses %v, paused %.3fs", testutil.ToFloat64(d.m.flowPauses), d.pausedSeconds())
	}
	// The dead reader can still read what the kernel held, then EOF.
	dead.readAll()
}

// pauseWithDeadReader makes the daemon pause for good: a raw member of "g" that does not
// read and a raw sender that floods "g" from a goroutine until its connection fails.
func pauseWithDeadReader(t *testing.T, d *testDaemon) (dead *rawConn, flooding <-chan struct{}) {
	t.Helper()
	addr := d.addr(t, "unix")
	dead = dialRaw(t, addr)
	deadPriv := dead.handshake("dead", false)
	dead.write(rawFrame(uint32(spreadlink.JoinMess)|0x80000080, deadPriv, []string{"g"}, 0x80000080, nil))
	tx := dialRaw(t, addr)
	txPriv := tx.handshake("tx", false)
	frame := spreadlink.AppendHeader(nil, spreadlink.Agreed, []byte(txPriv), 1, 0, 1000)
	frame = spreadlink.AppendGroupSlot(frame, []byte("g"))
	frame = append(frame, make([]byte, 1000)...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := tx.nc.Write(frame); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tx.nc.Close(); <-done })
	// Pauses come and go while the dead reader's socket buffer still takes data. Once
	// it is full (a write of its writer timed out having written nothing) nothing can
	// leave its queue, and once that queue is above its soft mark the pause lasts
	// (until StallTimeout): events, not a pause that has merely lasted a while, which
	// under load could still end.
	waitFor(t, "a lasting pause", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		s := d.names["dead"]
		return s != nil && s.over && d.over > 0 && s.full.Load()
	})
	return dead, done
}

// TestFlowControlShutdownWhilePaused: Shutdown wakes the paused readers and returns;
// goleak (TestMain) checks that no goroutine is left.
func TestFlowControlShutdownWhilePaused(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionMessages = 100
	cfg.StallTimeout = time.Minute
	d := startDaemon(t, cfg)
	other := dial(t, d.addr(t, "tcp"), "other", false)
	_, flooding := pauseWithDeadReader(t, d)
	// A second client's reader waits too (its join, read when the pause began, was still
	// ordered).
	if err := other.Join("h"); err != nil {
		t.Fatal(err)
	}
	waitParked(t, d, "other")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown must end the pause and return: waiting out the paused readers would run
	// into ctx's deadline and return its error.
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-flooding
}

// waitParked waits until the reader of the session with the private name name has
// stopped before its next request because the daemon is paused.
func waitParked(t *testing.T, d *testDaemon, name string) {
	t.Helper()
	waitFor(t, name+"'s reader to wait for the pause to end", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		s := d.names[name]
		return s != nil && s.parked
	})
}

// TestFlowControlJoinWaits: membership requests are requests like data, so a join sent
// during a pause takes effect only once the pause ends (but for the one request each
// reader may already be reading when the pause begins).
func TestFlowControlJoinWaits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionMessages = 100
	cfg.StallTimeout = time.Minute
	d := startDaemon(t, cfg)
	c := dial(t, d.addr(t, "tcp"), "c", true)
	dead, _ := pauseWithDeadReader(t, d)
	// c's reader was already reading when the pause began: its next request is ordered,
	// the one after waits.
	if err := c.Multicast(spreadlink.Agreed, "nobody", 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Join("h"); err != nil {
		t.Fatal(err)
	}
	// Once c's reader waits for the pause to end, the join (sent after the request it
	// could admit) has not been read; it cannot be ordered before the pause ends.
	waitParked(t, d, "c")
	d.mu.Lock()
	early := d.groups["h"] != nil
	d.mu.Unlock()
	if early {
		t.Fatal("join ordered during a pause")
	}
	// The dead reader wakes up: the queues drain, the pause ends, the join is ordered
	// (and the flood goes on, paused now and then).
	go func() { _, _ = io.Copy(io.Discard, dead.nc) }()
	for {
		m := recv(t, c)
		if m.Service == spreadlink.RegMemb|spreadlink.CausedByJoin && m.Sender == "h" {
			break
		}
	}
	if testutil.ToFloat64(d.m.kickedStalled)+testutil.ToFloat64(d.m.kickedFull) != 0 {
		t.Error("a session was kicked")
	}
}
