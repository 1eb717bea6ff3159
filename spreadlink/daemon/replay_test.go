package daemon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/internal/capture"
)

// TestCaptureReplay replays the requests two libspread 5.0.1 clients sent to a real Spread
// daemon (spreadlink/testdata/captures/session1.hex) over real sockets, in the captured
// order, and checks that this daemon answers each connection with the captured bytes,
// except for the daemon id and membership timestamp of group ids.
func TestCaptureReplay(t *testing.T) {
	chunks, err := capture.Load("../testdata/captures/session1.hex")
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			d := startDaemon(t, testConfig(t))
			replay(t, d.addr(t, network), chunks)
		})
	}
}

func replay(t *testing.T, addr string, chunks []capture.Chunk) {
	type conn struct {
		raw     *rawConn
		sent    int    // C->D chunks sent
		pending []byte // D->C bytes expected and not read yet
		eof     bool   // the daemon closes after pending
	}
	conns := map[string]*conn{}
	var ids []int32 // the first two ints of every group id seen
	check := func(name string, c *conn) {
		t.Helper()
		if len(c.pending) > 0 {
			want := c.pending
			got := c.raw.read(len(want))
			if c.sent >= 3 { // past the handshake: whole frames
				ids = append(ids, maskGroupIDs(t, got)...)
				maskGroupIDs(t, want)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: daemon sent\n% x\nwant\n% x", name, got, want)
			}
			c.pending = nil
		}
		if c.eof {
			_ = c.raw.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.raw.nc.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("%s: read %d bytes, %v; want EOF", name, n, err)
			}
			c.eof = false
		}
	}
	checkAll := func() {
		t.Helper()
		for _, name := range []string{"conn1", "conn2"} {
			if c := conns[name]; c != nil {
				check(name, c)
			}
		}
	}
	for _, ch := range chunks {
		c := conns[ch.Conn]
		if c == nil {
			c = &conn{raw: dialRaw(t, addr)}
			conns[ch.Conn] = c
		}
		switch {
		case ch.Dir == "D->C" && ch.EOF:
			c.eof = true
		case ch.Dir == "D->C":
			c.pending = append(c.pending, ch.Data...)
		case ch.EOF:
			checkAll()
			c.raw.nc.(interface{ CloseWrite() error }).CloseWrite()
		default:
			checkAll()
			c.raw.write(ch.Data)
			c.sent++
		}
	}
	checkAll()
	if len(ids) == 0 {
		t.Fatal("no membership message seen")
	}
	for i := 0; i < len(ids); i += 2 {
		if ids[i] != ids[0] || ids[i+1] != ids[1] {
			t.Errorf("group ids differ in daemon id or timestamp: %v", ids)
		}
	}
}

// maskGroupIDs zeroes the daemon id and timestamp of the group id in every membership
// message of a run of whole frames, and returns the values it zeroed.
func maskGroupIDs(t *testing.T, b []byte) []int32 {
	t.Helper()
	var ids []int32
	for len(b) > 0 {
		var h spreadlink.Header
		if err := spreadlink.DecodeHeader(b, &h); err != nil {
			t.Fatalf("bad frame: %v: % x", err, b)
		}
		groupsLen := int(h.NumGroups) * spreadlink.GroupNameLen
		n := spreadlink.HeaderLen + groupsLen + int(h.DataLen)
		if n > len(b) {
			t.Fatalf("frame of %d bytes in %d", n, len(b))
		}
		if h.Service.IsRegMemb() || h.Service.IsTransition() {
			body := b[spreadlink.HeaderLen+groupsLen:]
			ids = append(ids, int32(binary.LittleEndian.Uint32(body)), int32(binary.LittleEndian.Uint32(body[4:])))
			clear(body[:8])
		}
		b = b[n:]
	}
	return ids
}
