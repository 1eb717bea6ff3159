package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logspread/logspread/spreadlink"
)

// memb describes a membership message for comparison.
type memb struct {
	Service spreadlink.ServiceType
	Group   string
	Members []string
	Changed string
	Counter int32
}

func expectMemb(t *testing.T, c *spreadlink.Conn, want memb) {
	t.Helper()
	m := recv(t, c)
	got := memb{Service: m.Service, Group: m.Sender, Members: slices.Clone(m.Groups)}
	if m.Membership != nil {
		got.Changed = m.Membership.Changed
		got.Counter = m.Membership.ID[2]
		if len(m.Membership.VSSets) != 1 || m.Membership.MyVSSet != 0 {
			t.Errorf("%s: vs sets %v, my set %d", c.PrivateGroup(), m.Membership.VSSets, m.Membership.MyVSSet)
		}
	}
	if len(got.Members) == 0 {
		got.Members = nil
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s: membership message (-want +got):\n%s", c.PrivateGroup(), d)
	}
}

func expectData(t *testing.T, c *spreadlink.Conn, sender string, groups []string, body string) *spreadlink.Message {
	t.Helper()
	m := recv(t, c)
	if !m.Service.IsRegular() || m.Sender != sender || !slices.Equal(m.Groups, groups) || string(m.Data) != body {
		t.Fatalf("%s: got %v %q, want data from %s to %v %q", c.PrivateGroup(), m, m.Data, sender, groups, body)
	}
	return m
}

// expectNothing checks that nothing is delivered to c before a unicast marker it sends
// itself comes back.
func expectNothing(t *testing.T, c *spreadlink.Conn) {
	t.Helper()
	if err := c.Multicast(spreadlink.Agreed, c.PrivateGroup(), 0, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	expectData(t, c, c.PrivateGroup(), []string{c.PrivateGroup()}, "marker")
}

const (
	regJoin  = spreadlink.RegMemb | spreadlink.CausedByJoin
	regLeave = spreadlink.RegMemb | spreadlink.CausedByLeave
	regDisc  = spreadlink.RegMemb | spreadlink.CausedByDisconnect
)

func TestMembership(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "unix")
	carol := dial(t, addr, "carol", true)
	bob := dial(t, addr, "bob", true)
	quiet := dial(t, addr, "quiet", false) // no membership messages
	const (
		c, b, q = "#carol#localhost", "#bob#localhost", "#quiet#localhost"
	)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(carol.Join("g"))
	expectMemb(t, carol, memb{regJoin, "g", []string{c}, c, 1})
	must(bob.Join("g"))
	expectMemb(t, carol, memb{regJoin, "g", []string{b, c}, b, 2})
	expectMemb(t, bob, memb{regJoin, "g", []string{b, c}, b, 2})
	must(quiet.Join("g"))
	expectMemb(t, carol, memb{regJoin, "g", []string{b, c, q}, q, 3})
	expectMemb(t, bob, memb{regJoin, "g", []string{b, c, q}, q, 3})
	expectNothing(t, quiet)

	// Joining twice and leaving a group one is not in are ignored: no message, no count.
	must(bob.Join("g"))
	must(bob.Leave("other"))
	expectNothing(t, bob)

	must(bob.Leave("g"))
	expectMemb(t, bob, memb{Service: spreadlink.CausedByLeave, Group: "g"}) // self-leave
	expectMemb(t, carol, memb{regLeave, "g", []string{c, q}, b, 4})

	must(quiet.Leave("g")) // no self-leave for a session without membership messages
	expectMemb(t, carol, memb{regLeave, "g", []string{c}, q, 5})
	expectNothing(t, quiet)

	// Disconnect by request, by closing the socket, all with CAUSED_BY_DISCONNECT,
	// in every group of the departed session.
	must(bob.Join("g"))
	expectMemb(t, carol, memb{regJoin, "g", []string{b, c}, b, 6})
	expectMemb(t, bob, memb{regJoin, "g", []string{b, c}, b, 6})
	must(bob.Join("h"))
	expectMemb(t, bob, memb{regJoin, "h", []string{b}, b, 1})
	must(carol.Join("h"))
	expectMemb(t, carol, memb{regJoin, "h", []string{b, c}, c, 2})
	expectMemb(t, bob, memb{regJoin, "h", []string{b, c}, c, 2})
	must(bob.Close())
	expectMemb(t, carol, memb{regDisc, "g", []string{c}, b, 7})
	expectMemb(t, carol, memb{regDisc, "h", []string{c}, b, 3})

	dave := dial(t, addr, "dave", false)
	must(dave.Join("g"))
	expectMemb(t, carol, memb{regJoin, "g", []string{c, "#dave#localhost"}, "#dave#localhost", 8})
	must(dave.Abort())
	expectMemb(t, carol, memb{regDisc, "g", []string{c}, "#dave#localhost", 9})

	// A group that empties is gone; joining it again starts a new count.
	must(carol.Leave("h"))
	expectMemb(t, carol, memb{Service: spreadlink.CausedByLeave, Group: "h"})
	must(carol.Join("h"))
	expectMemb(t, carol, memb{regJoin, "h", []string{c}, c, 1})
}

func TestDataDelivery(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "tcp")
	a := dial(t, addr, "a", false)
	b := dial(t, addr, "b", false)
	s := dial(t, addr, "sender", false) // in no group
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Join("g1"))
	must(a.Join("g2"))
	must(b.Join("g2"))
	must(s.Join("g1"))
	expectNothing(t, a) // the joins are done
	expectNothing(t, b)
	expectNothing(t, s)

	const sp = "#sender#localhost"
	// Several groups: once per session in any of them, with the full list.
	groups := []string{"g1", "g2", "nobody", "#b#localhost"}
	must(s.MulticastGroups(spreadlink.Agreed, groups, 3, []byte("multi")))
	m := expectData(t, a, sp, groups, "multi")
	if m.MessType != 3 || m.Service != spreadlink.Agreed {
		t.Errorf("a got %v", m)
	}
	expectData(t, b, sp, groups, "multi")
	expectData(t, s, sp, groups, "multi") // the sender is in g1

	// SELF_DISCARD: not back to the sender, visible to the others.
	must(s.Multicast(spreadlink.Safe|spreadlink.SelfDiscard, "g1", 0, []byte("sd")))
	if m := expectData(t, a, sp, []string{"g1"}, "sd"); m.Service != spreadlink.Safe|spreadlink.SelfDiscard {
		t.Errorf("service %v", m.Service)
	}
	expectNothing(t, s)

	// Private group: unicast, also to oneself, unknown ones dropped.
	must(s.Multicast(spreadlink.FIFO, "#a#localhost", 0, []byte("uni")))
	must(s.Multicast(spreadlink.FIFO, "#zz#localhost", 0, []byte("lost")))
	must(s.Multicast(spreadlink.Reliable, "empty", 0, []byte("lost"))) // no members
	expectData(t, a, sp, []string{"#a#localhost"}, "uni")
	expectNothing(t, s) // s's requests are all done
	must(b.Multicast(spreadlink.Unreliable, "g2", 0, []byte("from b")))
	expectData(t, a, "#b#localhost", []string{"g2"}, "from b")
	expectData(t, b, "#b#localhost", []string{"g2"}, "from b")
	expectNothing(t, a)

	// The largest body one group takes.
	big := make([]byte, spreadlink.MaxBody)
	must(s.Multicast(spreadlink.Agreed, "g2", 0, big))
	if m := recv(t, a); len(m.Data) != spreadlink.MaxBody {
		t.Errorf("got %d bytes", len(m.Data))
	}
}

// TestClientErrors covers spreadlink's error paths against the real daemon.
func TestClientErrors(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	c := dial(t, d.addr(t, "unix"), "c", false)
	if err := c.Multicast(spreadlink.Agreed, "g", 0, make([]byte, spreadlink.MaxBody+1)); !errorsIs(err, spreadlink.ErrMessageTooLong) {
		t.Errorf("too long: %v", err)
	}
	for _, g := range []string{"", "has space", "#priv", string(make([]byte, 32))} {
		if err := c.Join(g); !errorsIs(err, spreadlink.ErrIllegalGroup) {
			t.Errorf("join %q: %v", g, err)
		}
	}
	if err := c.Multicast(spreadlink.Agreed|spreadlink.Safe, "g", 0, nil); !errorsIs(err, spreadlink.ErrIllegalService) {
		t.Errorf("two levels: %v", err)
	}
	expectNothing(t, c) // still connected
	// A Receive blocked when the daemon shuts down, or called after: either way it
	// reports the closed connection.
	done := make(chan error, 1)
	go func() {
		var m spreadlink.Message
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		done <- c.Receive(&m)
	}()
	if err := d.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errorsIs(err, spreadlink.ErrConnectionClosed) {
		t.Errorf("receive after daemon shutdown: %v, want ErrConnectionClosed", err)
	}
}
