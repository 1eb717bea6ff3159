package daemon

import (
	"encoding/binary"
	"testing"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// frame builds a raw little-endian request; tweak edits the header before the slots and
// body are appended.
func rawFrame(typ uint32, sender string, groups []string, hint uint32, body []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, typ)
	b = spreadlink.AppendGroupSlot(b, []byte(sender))
	b = le.AppendUint32(b, uint32(len(groups)))
	b = le.AppendUint32(b, hint)
	b = le.AppendUint32(b, uint32(len(body)))
	for _, g := range groups {
		b = spreadlink.AppendGroupSlot(b, []byte(g))
	}
	return append(b, body...)
}

// TestViolations sends each request §5.1 forbids from its own session, which is a member
// of "g": the daemon closes that session only, the observer sees it disconnect, and the
// daemon keeps serving.
func TestViolations(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "tcp")
	obs := dial(t, addr, "obs", true)
	if err := obs.Join("g"); err != nil {
		t.Fatal(err)
	}
	recv(t, obs)
	const m = 0x80000080
	agreed := uint32(spreadlink.Agreed) | m
	setLen := func(b []byte, n int32) []byte { binary.LittleEndian.PutUint32(b[44:], uint32(n)); return b }
	setGroups := func(b []byte, n int32) []byte { binary.LittleEndian.PutUint32(b[36:], uint32(n)); return b }
	tests := []struct {
		name  string
		frame func(priv string) []byte
	}{
		{"no service bit", func(p string) []byte { return rawFrame(m, p, []string{"g"}, m, nil) }},
		{"self discard alone", func(p string) []byte { return rawFrame(0x40|m, p, []string{"g"}, m, nil) }},
		{"agreed and safe", func(p string) []byte { return rawFrame(0x30|m, p, []string{"g"}, m, nil) }},
		{"agreed and join", func(p string) []byte { return rawFrame(0x10010|m, p, []string{"g"}, m, nil) }},
		{"join and leave", func(p string) []byte { return rawFrame(0x30000|m, p, []string{"g"}, m, nil) }},
		{"wrong sender", func(p string) []byte { return rawFrame(agreed, "#obs#localhost", []string{"g"}, m, nil) }},
		{"sender without daemon", func(p string) []byte { return rawFrame(agreed, p[:len(p)-len("#localhost")], []string{"g"}, m, nil) }},
		{"101 groups", func(p string) []byte { return rawFrame(agreed, p, make([]string, 101), m, nil) }},
		{"negative groups", func(p string) []byte { return setGroups(rawFrame(agreed, p, nil, m, nil), -1) }},
		{"stray hint bits", func(p string) []byte { return rawFrame(agreed, p, []string{"g"}, m|0x01000000, nil) }},
		{"stray hint bits low", func(p string) []byte { return rawFrame(agreed, p, []string{"g"}, m|0x1, nil) }},
		{"negative data_len", func(p string) []byte { return setLen(rawFrame(agreed, p, []string{"g"}, m, nil), -1) }},
		{"data_len over the real limit", func(p string) []byte {
			return setLen(rawFrame(agreed, p, []string{"g"}, m, nil), spreadlink.MaxBody+1)
		}},
		{"100 groups and too much data", func(p string) []byte {
			return setLen(rawFrame(agreed, p, make([]string, 100), m, nil), spreadlink.MaxPayload-3200+1)
		}},
		{"data_len 144000", func(p string) []byte { return setLen(rawFrame(agreed, p, nil, m, nil), 144000) }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			name := string(rune('a'+i)) + "v"
			priv := r.handshake(name, false)
			r.write(rawFrame(uint32(spreadlink.JoinMess)|m, priv, []string{"g"}, m, nil))
			if mm := recv(t, obs); mm.Service != regJoin || mm.Membership.Changed != priv {
				t.Fatalf("observer got %v", mm)
			}
			r.write(tc.frame(priv))
			if got := r.readAll(); len(got) != 0 {
				t.Errorf("offender got %q", got)
			}
			if mm := recv(t, obs); mm.Service != regDisc || mm.Membership.Changed != priv {
				t.Fatalf("observer got %v, want %s to disconnect", mm, priv)
			}
		})
	}
	if got := testutil.ToFloat64(d.m.violations); got != float64(len(tests)) {
		t.Errorf("protocol_violations_total = %v, want %d", got, len(tests))
	}
	// Edge cases that are allowed: the exact limit, 100 groups, 0 groups, unchecked bits.
	r := dialRaw(t, addr)
	priv := r.handshake("edge", false)
	r.write(rawFrame(agreed, priv, []string{"g"}, m, make([]byte, spreadlink.MaxBody)))
	r.write(rawFrame(agreed, priv, make([]string, 100), m, make([]byte, spreadlink.MaxPayload-3200)))
	r.write(rawFrame(agreed, priv, nil, m, []byte("nowhere")))
	r.write(rawFrame(agreed|uint32(spreadlink.RegMemb), priv, []string{"g"}, m|0x00ffff00, []byte("odd")))
	r.write(rawFrame(uint32(spreadlink.JoinMess)|m, priv, nil, m, nil)) // join without a group
	if got := recv(t, obs); len(got.Data) != spreadlink.MaxBody {
		t.Fatalf("got %v", got)
	}
	// Unchecked type bits are dropped on delivery.
	if got := expectData(t, obs, priv, []string{"g"}, "odd"); got.Service != spreadlink.Agreed || got.MessType != -1 {
		t.Fatalf("got %v, mess type %d", got.Service, got.MessType)
	}
	expectNothing(t, obs)
}

// TestBigEndianClient sends requests the way a big-endian libspread writes them: no
// marker, integers big-endian. The daemon delivers them in its own order with the
// sender's hint untouched.
func TestBigEndianClient(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "unix")
	obs := dial(t, addr, "obs", false)
	raw := dialRaw(t, addr)
	rawPriv := raw.handshake("rawobs", false)
	be := dialRaw(t, addr)
	priv := be.handshake("be", true)
	beFrame := func(typ uint32, groups []string, hint uint32, body []byte) []byte {
		o := binary.BigEndian
		b := o.AppendUint32(nil, typ)
		b = spreadlink.AppendGroupSlot(b, []byte(priv))
		b = o.AppendUint32(b, uint32(len(groups)))
		b = o.AppendUint32(b, hint)
		b = o.AppendUint32(b, uint32(len(body)))
		for _, g := range groups {
			b = spreadlink.AppendGroupSlot(b, []byte(g))
		}
		return append(b, body...)
	}
	if err := obs.Join("g"); err != nil {
		t.Fatal(err)
	}
	raw.write(rawFrame(uint32(spreadlink.JoinMess)|0x80000080, rawPriv, []string{"g"}, 0x80000080, nil))
	// Neither obs nor raw gets membership messages: wait for the daemon to order their
	// joins, which each reader may still hold (be's notice below lists all three members).
	waitMember(t, d, "g", obs.PrivateGroup())
	waitMember(t, d, "g", rawPriv)
	be.write(beFrame(uint32(spreadlink.JoinMess), []string{"g"}, 0, nil))
	// The big-endian session's own join notice: in daemon (little-endian) order.
	join := be.read(spreadlink.HeaderLen + 3*spreadlink.GroupNameLen + membershipBodyLen)
	var h spreadlink.Header
	if err := spreadlink.DecodeHeader(join, &h); err != nil || !h.Little || h.Service != regJoin {
		t.Fatalf("join notice %v %+v", err, h)
	}
	expectNothing(t, obs)

	be.write(beFrame(uint32(spreadlink.Agreed|spreadlink.SelfDiscard), []string{"g"}, 0x0102<<8, []byte("big")))
	m := expectData(t, obs, priv, []string{"g"}, "big")
	if !m.EndianMismatch || m.MessType != 0x0102 || m.Service != spreadlink.Agreed|spreadlink.SelfDiscard {
		t.Errorf("got %v, endian mismatch %v, mess type %#x", m, m.EndianMismatch, m.MessType)
	}
	got := raw.read(spreadlink.HeaderLen + spreadlink.GroupNameLen + 3)
	wantHdr := []byte{0xd0, 0, 0, 0x80}
	if string(got[0:4]) != string(wantHdr) || string(got[36:40]) != "\x01\x00\x00\x00" ||
		string(got[40:44]) != "\x00\x01\x02\x00" || string(got[44:48]) != "\x03\x00\x00\x00" {
		t.Errorf("delivered header % x", got[:48])
	}
}
