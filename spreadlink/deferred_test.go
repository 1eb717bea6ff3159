package spreadlink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// TestMulticastDeferred checks that deferred frames stay queued until Flush, then go
// out in one write, byte-identical to what Multicast writes one by one.
func TestMulticastDeferred(t *testing.T) {
	chunks := loadSession1(t)
	client, daemon := net.Pipe()
	defer client.Close()
	defer daemon.Close()
	go func() {
		// Play the captured handshake, then hand the pipe over to the test.
		reads := 0
		for _, ch := range chunks {
			if ch.Conn != "conn1" || reads == 2 && ch.Dir == "C->D" {
				continue
			}
			if ch.Dir == "D->C" {
				if _, err := daemon.Write(ch.Data); err != nil {
					return
				}
				if len(ch.Data) == 16 { // the accept's private group name ends the handshake
					return
				}
				continue
			}
			reads++
			buf := make([]byte, len(ch.Data))
			if _, err := io.ReadFull(daemon, buf); err != nil {
				return
			}
		}
	}()
	hc := &holdConn{Conn: client}
	c, err := NewConn(context.Background(), hc, Config{Name: "cap", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing may be written before Flush: a write now fails the multicast at once.
	hc.held.Store(true)
	var want []byte
	for i := range 3 {
		body := bytes.Repeat([]byte{'a' + byte(i)}, 10)
		if err := c.MulticastDeferred(Agreed, "logs", 1, body); err != nil {
			t.Fatalf("deferred frame written before Flush: %v", err)
		}
		want = AppendHeader(want, Agreed, c.privateSlot, 1, 1, len(body))
		want = AppendGroupSlot(want, []byte("logs"))
		want = append(want, body...)
	}
	if n := hc.refused.Load(); n != 0 {
		t.Fatalf("%d writes before Flush", n)
	}
	hc.held.Store(false)
	errc := make(chan error, 1)
	go func() { errc <- c.Flush() }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(daemon, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("flushed bytes differ:\n got % x\nwant % x", got, want)
	}
}

// holdConn refuses (and counts) writes while held, so that a test can check that nothing
// is written without waiting for something not to happen.
type holdConn struct {
	net.Conn
	held    atomic.Bool
	refused atomic.Int64
}

func (c *holdConn) Write(b []byte) (int, error) {
	if c.held.Load() {
		c.refused.Add(1)
		return 0, errors.New("write while held")
	}
	return c.Conn.Write(b)
}
