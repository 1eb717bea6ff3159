package daemon

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBestEffortReaderNeverPauses: with the default lossless prefixes, a reader whose
// name does not start with 'c' (a `logspread tail`) and that takes nothing while a
// sender floods its group never pauses the daemon: its messages beyond the soft mark
// are dropped and counted, and once it reads again a drop notice says how many are
// missing, before the next message. A collector ('c') in the same group gets every
// message. Every message is accounted for: received or in a notice.
func TestBestEffortReaderNeverPauses(t *testing.T) {
	cfg := testConfig(t)
	cfg.LosslessPrefixes = nil // the default: collectors only
	cfg.MaxSessionMessages = 100
	cfg.StallTimeout = time.Hour // a pause would last: the test would time out
	d := startDaemon(t, cfg)
	addr := d.addr(t, "unix")
	col := dial(t, addr, "c1", false)
	tail := dial(t, addr, "tail1", false)
	for _, c := range []*spreadlink.Conn{col, tail} {
		if err := c.Join("g"); err != nil {
			t.Fatal(err)
		}
		syncConn(t, c)
	}
	tx := dial(t, addr, "s1", false)
	const n, size = 3000, 1000
	sent := sendNumbered(tx, "g", n, size)
	// The collector reads everything while the tail reads nothing: the sender is done
	// without a pause that lasts (the tail is never waited for).
	if got, err := receiveNumbered(t, col, n, func(int) {}); got != n || err != nil {
		t.Fatalf("collector got %d of %d: %v", got, n, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The tail now reads: what was queued for it, a notice for the dropped ones, and
	// a message sent after the drops.
	if err := tx.Multicast(spreadlink.Agreed, "g", 0, binary.BigEndian.AppendUint32(nil, n)); err != nil {
		t.Fatal(err)
	}
	var m spreadlink.Message
	got, dropped, next := 0, uint64(0), 0
	for next <= n {
		_ = tail.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := tail.Receive(&m); err != nil {
			t.Fatalf("tail after %d messages and %d dropped: %v", got, dropped, err)
		}
		if k, ok := spreadlink.DropNotice(&m); ok {
			dropped += k
			next += int(k)
			continue
		}
		if !m.Service.IsRegular() {
			continue
		}
		if k := int(binary.BigEndian.Uint32(m.Data)); k != next {
			t.Fatalf("tail: message %d where %d was due (%d dropped so far)", k, next, dropped)
		}
		got++
		next++
	}
	if dropped == 0 || got+int(dropped) != n+1 {
		t.Errorf("tail got %d, dropped %d; want drops and %d in all", got, dropped, n+1)
	}
	if c := testutil.ToFloat64(d.m.dropped); uint64(c) != dropped {
		t.Errorf("dropped_messages_total %v, notices say %d", c, dropped)
	}
	if k := testutil.ToFloat64(d.m.kickedFull) + testutil.ToFloat64(d.m.kickedStalled); k != 0 {
		t.Errorf("%v sessions kicked", k)
	}
}

// TestSlowLosslessReaderNotStalled: a collector that reads slowly, far less than a
// write chunk per stall timeout but never nothing, is slow, not stalled: it is not
// disconnected, and gets every message.
//
// The daemon sees what its client takes only as the kernel taking bytes: after the
// client has emptied its read buffer and most of the daemon's socket send buffer. With
// the defaults (256 KiB, about 200 KiB) a reader of a few hundred KB/s takes nothing the
// daemon can see for most of a second, and a loaded -race run slowed it past the stall
// timeout (1114 of 2000, then disconnected as stalled). Both buffers are small here, so
// the reader takes bytes every few tens of milliseconds at its nominal rate: it would
// have to be slower twenty-fold to look stalled.
func TestSlowLosslessReaderNotStalled(t *testing.T) {
	cfg := testConfig(t)
	cfg.LosslessPrefixes = nil
	cfg.MaxSessionMessages = 100
	cfg.StallTimeout = time.Second
	d := startDaemon(t, cfg)
	addr := d.addr(t, "unix")
	col, err := spreadlink.Dial(context.Background(), spreadlink.Config{Address: addr, Name: "c1", ReadBufferSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	if err := col.Join("g"); err != nil {
		t.Fatal(err)
	}
	syncConn(t, col)
	d.mu.Lock()
	nc := d.names["c1"].nc
	d.mu.Unlock()
	if err := nc.(*net.UnixConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	tx := dial(t, addr, "s1", false)
	const n, size = 2000, 1000
	sent := sendNumbered(tx, "g", n, size)
	// About 500 KB/s: a write chunk (4 MiB) would take 8 s, eight stall timeouts, and
	// the pause lasts for most of the run.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	got, err := receiveNumbered(t, col, n, func(int) { <-tick.C })
	if got != n || err != nil {
		t.Fatalf("slow collector got %d of %d: %v", got, n, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if k := testutil.ToFloat64(d.m.kickedStalled); k != 0 {
		t.Errorf("slow reader kicked as stalled (%v)", k)
	}
	if testutil.ToFloat64(d.m.flowPauses) == 0 {
		t.Error("the slow collector never paused the sender")
	}
}
