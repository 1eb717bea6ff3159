package spreadlink

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
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
	c, err := NewConn(context.Background(), client, Config{Name: "cap", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range 3 {
		body := bytes.Repeat([]byte{'a' + byte(i)}, 10)
		if err := c.MulticastDeferred(Agreed, "logs", 1, body); err != nil {
			t.Fatal(err)
		}
		want = AppendHeader(want, Agreed, c.privateSlot, 1, 1, len(body))
		want = AppendGroupSlot(want, []byte("logs"))
		want = append(want, body...)
	}
	// Nothing may have been written yet: a read must time out.
	_ = daemon.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := daemon.Read(make([]byte, 1)); err == nil {
		t.Fatalf("deferred frames written before Flush (%d bytes)", n)
	}
	_ = daemon.SetReadDeadline(time.Time{})
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
