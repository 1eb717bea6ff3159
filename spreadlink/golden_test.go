package spreadlink

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/spreadlink/internal/capture"
)

const session1 = "testdata/captures/session1.hex"

func loadSession1(t *testing.T) []capture.Chunk {
	t.Helper()
	chunks, err := capture.Load(session1)
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

// describe renders a delivery the way the capture's decoded.txt shows what the C
// library reported to the client.
func describe(w io.Writer, m *Message) {
	endian := 0
	if m.EndianMismatch {
		endian = 1
	}
	fmt.Fprintf(w, "RECV svc=0x%08x sender=%s ngroups=%d mess_type=%d endian_mismatch=%d len=%d\n",
		uint32(m.Service), m.Sender, len(m.Groups), m.MessType, endian, len(m.Data))
	for i, g := range m.Groups {
		fmt.Fprintf(w, "    group[%d]=%s\n", i, g)
	}
	switch {
	case m.Service.IsRegMemb():
		mi := m.Membership
		my := 0
		if mi.MyVSSet >= 0 {
			my = len(mi.VSSets[mi.MyVSSet])
		}
		fmt.Fprintf(w, "    gid=%s changed=%s num_vs_sets=%d my_vs_members=%d\n", mi.ID, mi.Changed, len(mi.VSSets), my)
	case m.Service.IsRegular():
		fmt.Fprintf(w, "    body=%s\n", m.Data)
	}
}

// TestDecodeCapture feeds the daemon's bytes to client "cap" through a real Conn and
// checks that it reports exactly what libspread 5.0.1 reported.
func TestDecodeCapture(t *testing.T) {
	chunks := loadSession1(t)
	want, err := os.ReadFile("testdata/captures/session1.client-cap.decoded.txt")
	if err != nil {
		t.Fatal(err)
	}
	client, daemon := net.Pipe()
	defer client.Close()
	go func() {
		defer daemon.Close()
		replayDaemon(daemon, chunks, "conn1")
	}()
	c, err := NewConn(context.Background(), client, Config{Name: "cap", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	fmt.Fprintf(&got, "connected as %s\n", c.PrivateGroup())
	var m Message
	for {
		if err := c.Receive(&m); err != nil {
			break
		}
		describe(&got, &m)
	}
	if d := cmp.Diff(string(want), got.String()); d != "" {
		t.Errorf("decoded deliveries differ from libspread's (-want +got):\n%s", d)
	}
}

// replayDaemon plays the daemon side of one captured connection: it writes each D->C
// chunk in its original pieces, reading the client's two handshake writes on the way.
func replayDaemon(nc net.Conn, chunks []capture.Chunk, conn string) {
	reads := 0
	for _, ch := range chunks {
		if ch.Conn != conn || ch.EOF {
			continue
		}
		if ch.Dir == "D->C" {
			if _, err := nc.Write(ch.Data); err != nil {
				return
			}
			continue
		}
		if reads++; reads > 2 {
			continue
		}
		buf := make([]byte, len(ch.Data))
		if _, err := io.ReadFull(nc, buf); err != nil {
			return
		}
	}
}

// TestRequestsMatchCapture drives our client through what client "cap" did and
// compares every byte it writes, write by write, with the capture.
func TestRequestsMatchCapture(t *testing.T) {
	chunks := loadSession1(t)
	client, daemon := net.Pipe()
	defer client.Close()

	type write struct{ got, want []byte }
	writes := make(chan write, 16)
	go func() {
		defer close(writes)
		defer daemon.Close()
		// net.Pipe delivers each Write as one unit, so a read returns exactly one client write.
		for _, ch := range chunks {
			if ch.Conn != "conn1" || ch.EOF {
				continue
			}
			if ch.Dir == "D->C" {
				if _, err := daemon.Write(ch.Data); err != nil {
					return
				}
				continue
			}
			buf := make([]byte, 64<<10)
			_ = daemon.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := daemon.Read(buf)
			if err != nil {
				return
			}
			writes <- write{buf[:n], ch.Data}
		}
	}()
	c, err := NewConn(context.Background(), client, Config{Name: "cap", Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bufio.NewReader(client)) //nolint:errcheck // drains deliveries; ends when the pipe closes
	steps := []func() error{
		func() error { return c.Join("logs") },
		func() error { return c.Multicast(Agreed, "logs", 0x1234, []byte("hello")) },
		func() error {
			return c.MulticastGroups(Agreed|SelfDiscard, []string{"logs", "#bob#localhost"}, 7, []byte("two"))
		},
		func() error { return c.Leave("logs") },
		c.Close,
	}
	go func() {
		for _, step := range steps {
			if err := step(); err != nil {
				t.Errorf("step: %v", err)
				return
			}
		}
	}()
	n := 0
	for w := range writes {
		n++
		if w.want[0] == 0x80 && w.want[2] == 0x04 && len(w.got) == len(w.want) {
			// The C library pads the disconnect's group slot with stack garbage; we zero it.
			if !bytes.Equal(w.got[:48+14], w.want[:48+14]) || strings.Trim(string(w.got[48+14:]), "\x00") != "" {
				t.Errorf("write %d (disconnect) = % x, want % x with a zeroed slot", n, w.got, w.want)
			}
			continue
		}
		if !bytes.Equal(w.got, w.want) {
			t.Errorf("write %d:\n got % x\nwant % x", n, w.got, w.want)
		}
	}
	if n != 7 {
		t.Errorf("compared %d client writes, want 7", n)
	}
}
