package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
)

// fuzzDaemon is a daemon on a unix socket, for fuzzing.
func fuzzDaemon(t testing.TB) *testDaemon {
	t.Helper()
	cfg := testConfig(t)
	cfg.Listen = cfg.Listen[1:]
	cfg.HandshakeTimeout = time.Second
	cfg.MaxSessionMessages = 64
	return startDaemon(t, cfg)
}

// feed writes input on a new connection and half-closes it, reads whatever the daemon
// answers until it closes, and waits until the daemon has let go of the connection.
func feed(t testing.TB, d *testDaemon, input []byte) []byte {
	t.Helper()
	r := dialRaw(t, d.addr(t, "unix"))
	out := make(chan []byte)
	go func() {
		_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(r.nc)
		out <- b
	}()
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = r.nc.Write(input)
	_ = r.nc.(*net.UnixConn).CloseWrite()
	got := <-out
	r.nc.Close()
	waitFor(t, fmt.Sprintf("the daemon to let go of the connection after %q", input), func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.conns) == 0
	})
	return got
}

func helloSeeds() [][]byte {
	auth := spreadlink.AppendAuthChoice(nil, "NULL")
	return [][]byte{
		append(spreadlink.AppendHello(nil, "cap", true, false), auth...),
		append(spreadlink.AppendHello(nil, "", false, true), auth...),
		[]byte("\x03\x0e\x01\x02zz"),
		[]byte("\x03\x0f\x00\x01\x02zz"),
		[]byte("\x03\x00\x01\x02zz"),
		[]byte("\x05\x00\x01\x00\x0babcdefghijk"),
		append([]byte("\x05\x00\x01\x00\x02a "), auth...),
		append(spreadlink.AppendHello(nil, "x", true, false), make([]byte, 90)...),
		append(spreadlink.AppendHello(nil, "y", true, false), spreadlink.AppendAuthChoice(nil, "FOO")...),
		{5},
		{},
	}
}

// FuzzHello feeds arbitrary handshakes to the parser and to a live daemon: no panic, no
// hang, and what parses is what a client would have written.
func FuzzHello(f *testing.F) {
	for _, s := range helloSeeds() {
		f.Add(s)
	}
	d := fuzzDaemon(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		h, code, err := readHello(bytes.NewReader(in))
		if err == nil && code == 0 {
			if !spreadlink.ValidPrivateName(h.name) {
				t.Fatalf("accepted name %q", h.name)
			}
			if h.version >= authVersion {
				var flags byte
				if h.membership {
					flags |= spreadlink.MembershipFlag
				}
				if h.priority {
					flags |= spreadlink.PriorityFlag
				}
				re := append([]byte{in[0], in[1], in[2], flags, byte(len(h.name))}, h.name...)
				if !bytes.Equal(re, in[:len(re)]) && in[3]&^(spreadlink.MembershipFlag|spreadlink.PriorityFlag) == 0 {
					t.Fatalf("hello %q re-encodes as %q", in, re)
				}
			}
		}
		if len(in) >= 90 {
			_ = acceptAuth(in[:90])
		}
		out := feed(t, d, in)
		if len(out) > 0 && out[0] == 1 && len(out) < 5 {
			t.Fatalf("short accept %q", out)
		}
	})
}

func frameSeeds(priv string) [][]byte {
	m := uint32(0x80000080)
	join := rawFrame(uint32(spreadlink.JoinMess)|m, priv, []string{"g"}, m, nil)
	data := rawFrame(uint32(spreadlink.Agreed)|m, priv, []string{"g", priv}, m|0x123400, []byte("hello"))
	leave := rawFrame(uint32(spreadlink.LeaveMess)|m, priv, []string{"g"}, m, nil)
	kill := rawFrame(uint32(spreadlink.KillMess)|m, priv, []string{priv}, m, nil)
	big := rawFrame(uint32(spreadlink.Safe|spreadlink.SelfDiscard)|m, priv, []string{priv}, m, make([]byte, 3000))
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return [][]byte{
		cat(join, data, data, leave, kill),
		cat(join, big, data[:30]),
		cat(data, data, data),
		rawFrame(uint32(spreadlink.Agreed)|m, priv, make([]string, 101), m, nil),
		rawFrame(0x10, priv, []string{"g"}, 0, []byte("be?")),
		data[:47],
	}
}

// FuzzFrame feeds arbitrary request streams, after a valid handshake, to the request
// parser and to a live daemon: no panic, no hang, and the daemon serves the next session.
func FuzzFrame(f *testing.F) {
	const priv = "#fz#localhost"
	for _, s := range frameSeeds(priv) {
		f.Add(s)
	}
	d := fuzzDaemon(f)
	handshake := append(spreadlink.AppendHello(nil, "fz", true, false), spreadlink.AppendAuthChoice(nil, "NULL")...)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) >= spreadlink.HeaderLen {
			hdr := bytes.Clone(in[:spreadlink.HeaderLen])
			if r, err := parseRequest(hdr); err == nil {
				if r.numGroups < 0 || r.numGroups > 100 || r.dataLen < 0 || r.size() > spreadlink.HeaderLen+spreadlink.MaxPayload {
					t.Fatalf("accepted %+v", r)
				}
				if !spreadlink.IsLittle(hdr) {
					t.Fatalf("delivered type word not marked: % x", hdr[:4])
				}
			}
		}
		out := feed(t, d, append(bytes.Clone(handshake), in...))
		if !bytes.HasPrefix(out, []byte("\x05NULL \x01\x05\x00\x01\x0d"+priv)) {
			t.Fatalf("handshake answered %q", out)
		}
	})
}
