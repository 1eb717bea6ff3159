package spreadlink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/logspread/logspread/spreadlink/internal/capture"
)

// frames returns the daemon-to-client bytes of the captured session after the
// handshake (both connections), as seeds for the decoders.
func captureFrames(tb testing.TB) [][]byte {
	tb.Helper()
	chunks, err := capture.Load(session1)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, ch := range chunks {
		if ch.Dir == "D->C" && len(ch.Data) >= HeaderLen {
			out = append(out, ch.Data)
		}
	}
	return out
}

// FuzzDecodeFrame feeds arbitrary daemon-to-client bytes to the receive path: it must
// never panic, never allocate beyond the protocol's bounds, and stop at an error.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range captureFrames(f) {
		f.Add(fr)
		f.Add(fr[:len(fr)/2])
	}
	reject := AppendHeader(nil, Agreed|RejectMess, []byte("#a#b"), 2, 9, 3)
	reject = binary.LittleEndian.AppendUint32(reject, uint32(Agreed)|endianMarker)
	reject = AppendGroupSlot(reject, []byte("g"))
	reject = AppendGroupSlot(reject, []byte("#a#b"))
	f.Add(append(reject, "abc"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := frameReader{r: bufio.NewReader(bytes.NewReader(b))}
		var m Message
		for range 64 {
			if err := fr.next(&m); err != nil {
				return
			}
			if len(m.Data) > MaxPayload+GroupNameLen+4 || len(m.Groups) > MaxGroupsPerMessage {
				t.Fatalf("decoded %d bytes, %d groups: beyond protocol bounds", len(m.Data), len(m.Groups))
			}
		}
	})
}

// FuzzMembershipBody checks the membership body decoder in both byte orders.
func FuzzMembershipBody(f *testing.F) {
	f.Add(AppendMembershipBody(nil, GroupID{1, 2, 3}, [][]string{{"#a#b"}}, 0), true)
	f.Add(AppendMembershipBody(nil, GroupID{1, 2, 3}, [][]string{{"#a#b", "#c#d"}, {"#e#f"}}, 1), false)
	f.Add(make([]byte, 12), true)
	f.Fuzz(func(t *testing.T, body []byte, little bool) {
		var info MembershipInfo
		if err := DecodeMembershipBody(body, little, &info); err != nil {
			return
		}
		members := 0
		for _, s := range info.VSSets {
			members += len(s)
		}
		if members*GroupNameLen > len(body) {
			t.Fatalf("%d members decoded from %d bytes", members, len(body))
		}
	})
}

// FuzzParseAddress checks that the address parser never panics and that what it
// accepts prints back to an address it accepts the same way.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"", "4803", "4803@localhost", "4803@::1", "[::1]:4803", "127.0.0.1:4803", "unix:/tmp/x", "x:y", "@", "4803@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		b, err := ParseAddress(a.String())
		if err != nil || a != b {
			t.Fatalf("ParseAddress(%q) = %v; reparsed %q as %v, %v", s, a, a.String(), b, err)
		}
	})
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		network string
		addr    string
		wantErr bool
	}{
		{in: "", network: "unix", addr: "/tmp/4803"},
		{in: "4803", network: "unix", addr: "/tmp/4803"},
		{in: "4804@localhost", network: "tcp", addr: "localhost:4804"},
		{in: "4803@::1", network: "tcp", addr: "[::1]:4803"},
		{in: "4803@[::1]", network: "tcp", addr: "[::1]:4803"},
		{in: "127.0.0.1:4803", network: "tcp", addr: "127.0.0.1:4803"},
		{in: "unix:/run/logspread/4803", network: "unix", addr: "/run/logspread/4803"},
		{in: "unix:", wantErr: true},
		{in: "99999", wantErr: true},
		{in: "abc@host", wantErr: true},
		{in: "4803@", wantErr: true},
		{in: "host", wantErr: true},
		{in: "host:port", wantErr: true},
		{in: "0@0[", wantErr: true},
		{in: ":4803", network: "tcp", addr: ":4803"},
		{in: "4803@a b", wantErr: true},
		{in: "[fe80::1%eth0]:4803", network: "tcp", addr: "[fe80::1%eth0]:4803"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseAddress(tc.in)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrIllegalSpread) {
					t.Fatalf("ParseAddress(%q) = %v, %v; want ILLEGAL_SPREAD", tc.in, a, err)
				}
				return
			}
			if err != nil || a.Network != tc.network || a.Addr != tc.addr {
				t.Fatalf("ParseAddress(%q) = %v, %v; want %s %s", tc.in, a, err, tc.network, tc.addr)
			}
		})
	}
}

// TestHeaderRoundTrip checks encode/decode of headers for both writer byte orders.
func TestHeaderRoundTrip(t *testing.T) {
	le := AppendHeader(nil, Safe|SelfDiscard, []byte("#cap#localhost"), 3, -2, 1000)
	var h Header
	if err := DecodeHeader(le, &h); err != nil {
		t.Fatal(err)
	}
	if h.Service != Safe|SelfDiscard || string(h.SenderName()) != "#cap#localhost" || h.NumGroups != 3 || h.MessType != -2 || h.DataLen != 1000 || !h.Little || !h.HintLittle {
		t.Fatalf("decoded %+v", h)
	}
	// A big-endian writer: no marker, integers big-endian.
	be := make([]byte, HeaderLen)
	binary.BigEndian.PutUint32(be[0:], uint32(Agreed))
	copy(be[4:], "#x#y")
	binary.BigEndian.PutUint32(be[36:], 1)
	binary.BigEndian.PutUint32(be[40:], 0x0102<<8)
	binary.BigEndian.PutUint32(be[44:], 7)
	if err := DecodeHeader(be, &h); err != nil {
		t.Fatal(err)
	}
	if h.Service != Agreed || h.NumGroups != 1 || h.MessType != 0x0102 || h.DataLen != 7 || h.Little || h.HintLittle {
		t.Fatalf("big-endian header decoded as %+v", h)
	}
	// Counts out of bounds are refused before anything is allocated.
	binary.BigEndian.PutUint32(be[36:], MaxGroupsPerMessage+1)
	if err := DecodeHeader(be, &h); !errors.Is(err, ErrIllegalMessage) {
		t.Fatalf("101 groups: %v, want ILLEGAL_MESSAGE", err)
	}
	binary.BigEndian.PutUint32(be[36:], 1)
	binary.BigEndian.PutUint32(be[44:], 1<<30)
	if err := DecodeHeader(be, &h); !errors.Is(err, ErrIllegalMessage) {
		t.Fatalf("1 GiB body: %v, want ILLEGAL_MESSAGE", err)
	}
}

// TestClientRefusesWhatKillsSessions checks that the client refuses, before sending,
// every request a daemon would answer by closing the session or crashing.
func TestClientRefusesWhatKillsSessions(t *testing.T) {
	c := &Conn{privateSlot: AppendGroupSlot(nil, []byte("#cap#localhost"))}
	groups := make([]string, MaxGroupsPerMessage+1)
	for i := range groups {
		groups[i] = "g"
	}
	tests := []struct {
		name string
		err  error
		call func() error
	}{
		{"no service", ErrIllegalService, func() error { return c.Multicast(0, "g", 0, nil) }},
		{"self discard alone", ErrIllegalService, func() error { return c.Multicast(SelfDiscard, "g", 0, nil) }},
		{"two services", ErrIllegalService, func() error { return c.Multicast(Agreed|Safe, "g", 0, nil) }},
		{"join bit", ErrIllegalService, func() error { return c.Multicast(Agreed|JoinMess, "g", 0, nil) }},
		{"body too long", ErrMessageTooLong, func() error { return c.Multicast(Agreed, "g", 0, make([]byte, MaxBody+1)) }},
		{"101 groups", ErrIllegalGroup, func() error { return c.MulticastGroups(Agreed, groups, 0, nil) }},
		{"no groups", ErrIllegalGroup, func() error { return c.MulticastGroups(Agreed, nil, 0, nil) }},
		{"too long for 100 groups", ErrMessageTooLong, func() error {
			return c.MulticastGroups(Agreed, groups[:100], 0, make([]byte, MaxPayload-100*GroupNameLen+1))
		}},
		{"group with space", ErrIllegalGroup, func() error { return c.Multicast(Agreed, "a b", 0, nil) }},
		{"group too long", ErrIllegalGroup, func() error { return c.Multicast(Agreed, string(make([]byte, 32)), 0, nil) }},
		{"join private group", ErrIllegalGroup, func() error { return c.Join("#bob#localhost") }},
		{"join empty", ErrIllegalGroup, func() error { return c.Join("") }},
		{"leave control byte", ErrIllegalGroup, func() error { return c.Leave("a\x01") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
	if _, err := Dial(context.Background(), Config{Name: "has space"}); !errors.Is(err, ErrRejectIllegalName) {
		t.Fatalf("Dial with an illegal name: %v, want REJECT_ILLEGAL_NAME", err)
	}
	if _, err := Dial(context.Background(), Config{Name: "elevenchars"}); !errors.Is(err, ErrRejectIllegalName) {
		t.Fatalf("Dial with an 11-byte name: %v, want REJECT_ILLEGAL_NAME", err)
	}
}

// TestHandshakeRejects checks that each reject byte a daemon may send becomes the
// matching typed error, whose text says why where the code tells it.
func TestHandshakeRejects(t *testing.T) {
	tests := []struct {
		name        string
		reply       []byte
		afterChoice []byte // sent once the 90-byte auth choice was read
		want        error
		say         string // in the error's text
	}{
		{"quota before auth", []byte{0xfd}, nil, ErrRejectQuota, "--max-sessions"},
		{"illegal name", []byte{0xfb}, nil, ErrRejectIllegalName, ""},
		{"not unique", []byte{0xfa}, nil, ErrRejectNotUnique, ""},
		{"version", []byte{0xf9}, nil, ErrRejectVersion, ""},
		{"auth after choice", []byte("\x05NULL "), []byte{0xf7}, ErrRejectAuth, "access control refuses this client (logspread daemon --allow"},
		{"no NULL offered", []byte("\x03IP "), nil, ErrRejectAuth, ""},
		{"closed mid accept", []byte("\x05NULL "), []byte("\x01\x05"), ErrConnectionClosed, ""},
		{"old daemon", []byte("\x05NULL "), []byte("\x01\x02\x00\x01\x04#a#b"), ErrRejectVersion, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, daemon := net.Pipe()
			defer client.Close()
			go func() {
				defer daemon.Close()
				buf := make([]byte, 256)
				if _, err := daemon.Read(buf); err != nil { // the hello
					return
				}
				if _, err := daemon.Write(tc.reply); err != nil || tc.afterChoice == nil {
					return
				}
				if _, err := io.ReadFull(daemon, buf[:AuthChoiceLen]); err != nil {
					return
				}
				_, _ = daemon.Write(tc.afterChoice)
			}()
			_, err := NewConn(context.Background(), client, Config{Name: "t"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %q does not say %q", err, tc.say)
			}
		})
	}
}

// TestReceiveNoAlloc checks that steady data traffic decodes without allocating.
func TestReceiveNoAlloc(t *testing.T) {
	frame := AppendHeader(nil, Agreed, []byte("#cap#localhost"), 1, 7, 200)
	frame = AppendGroupSlot(frame, []byte("www"))
	frame = append(frame, bytes.Repeat([]byte("x"), 200)...)
	stream := bytes.Repeat(frame, 2000)
	rd := bytes.NewReader(stream)
	fr := frameReader{r: bufio.NewReaderSize(rd, 64<<10)}
	var m Message
	if err := fr.next(&m); err != nil { // warm up: buffers and interned names
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := fr.next(&m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per received message, want 0", allocs)
	}
}

// TestMulticastNoAlloc checks that steady sending allocates nothing.
func TestMulticastNoAlloc(t *testing.T) {
	c := &Conn{nc: discardConn{}, privateSlot: AppendGroupSlot(nil, []byte("#cap#localhost")), maxQueued: 1 << 20}
	c.wcond = sync.NewCond(&c.wmu)
	body := bytes.Repeat([]byte("y"), 1000)
	for range 10 { // warm up both write buffers
		if err := c.Multicast(Agreed, "www", 1, body); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := c.Multicast(Agreed, "www", 1, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per multicast, want 0", allocs)
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	body := bytes.Repeat([]byte("z"), 1024)
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHeader(buf[:0], Agreed, []byte("#cap#localhost"), 1, 7, len(body))
		buf = AppendGroupSlot(buf, []byte("www"))
		buf = append(buf, body...)
	}
}

func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{100, 1024, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			frame := AppendHeader(nil, Agreed, []byte("#cap#localhost"), 1, 7, size)
			frame = AppendGroupSlot(frame, []byte("www"))
			frame = append(frame, bytes.Repeat([]byte("x"), size)...)
			stream := bytes.Repeat(frame, max(1, (4<<20)/len(frame)))
			rd := bytes.NewReader(stream)
			fr := frameReader{r: bufio.NewReaderSize(rd, 256<<10)}
			var m Message
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := fr.next(&m); err != nil {
					rd.Reset(stream)
					fr.r.Reset(rd)
				}
			}
		})
	}
}

func BenchmarkMulticast(b *testing.B) {
	for _, size := range []int{100, 1024, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			c := &Conn{nc: discardConn{}, privateSlot: AppendGroupSlot(nil, []byte("#cap#localhost")), maxQueued: 4 << 20}
			c.wcond = sync.NewCond(&c.wmu)
			body := bytes.Repeat([]byte("y"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.MulticastDeferred(Agreed, "www", 1, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// discardConn is a net.Conn whose writes vanish, to measure the client's send path alone.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }
