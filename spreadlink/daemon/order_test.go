package daemon

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTotalOrder runs several senders to overlapping groups while a session keeps
// joining and leaving: every receiver must see the events they share in the same order,
// and each sender's messages in send order.
func TestTotalOrder(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addrs := []string{d.addr(t, "unix"), d.addr(t, "tcp")}
	type recvSpec struct {
		name   string
		groups []string
	}
	specs := []recvSpec{{"ra", []string{"a"}}, {"rb", []string{"b"}}, {"rab", []string{"a", "b"}}, {"ra2", []string{"a"}}}
	var rcvs []*spreadlink.Conn
	for i, s := range specs {
		c := dial(t, addrs[i%2], s.name, true)
		for _, g := range s.groups {
			if err := c.Join(g); err != nil {
				t.Fatal(err)
			}
		}
		rcvs = append(rcvs, c)
	}
	for _, c := range rcvs { // consume the join notices
		syncConn(t, c)
	}
	const senders, perSender = 3, 300
	logs := make([][]string, len(rcvs))
	var rwg sync.WaitGroup
	for i, c := range rcvs {
		rwg.Go(func() {
			ends := 0
			var m spreadlink.Message
			for ends < senders {
				if err := c.Receive(&m); err != nil {
					t.Errorf("%s: %v", c.PrivateGroup(), err)
					return
				}
				switch {
				case m.Service.IsRegMemb():
					logs[i] = append(logs[i], fmt.Sprintf("memb %s %d", m.Sender, m.Membership.ID[2]))
				case m.Service.IsSelfLeave():
				case string(m.Data) == "end":
					ends++
				default:
					logs[i] = append(logs[i], string(m.Data))
				}
			}
		})
	}
	groupSets := [][]string{{"a"}, {"b"}, {"a", "b"}, {"b", "a", "#ra#localhost"}}
	var swg sync.WaitGroup
	var sconns []*spreadlink.Conn
	for i := range senders {
		c := dial(t, addrs[i%2], fmt.Sprintf("s%d", i), false)
		sconns = append(sconns, c)
		swg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for k := range perSender {
				gs := groupSets[rng.IntN(len(groupSets))]
				if err := c.MulticastGroups(spreadlink.Agreed, gs, 0, fmt.Appendf(nil, "s%d-%04d", i, k)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	swg.Go(func() {
		c := dial(t, addrs[0], "toggler", false)
		for range 20 {
			if err := c.Join("a"); err != nil {
				t.Error(err)
			}
			if err := c.Leave("a"); err != nil {
				t.Error(err)
			}
		}
		c.Close() // disconnect after its last request: ordered before the end markers
	})
	swg.Wait()
	for _, c := range sconns {
		if err := c.MulticastGroups(spreadlink.Agreed, []string{"a", "b"}, 0, []byte("end")); err != nil {
			t.Fatal(err)
		}
	}
	rwg.Wait()

	for i := range logs {
		// FIFO per sender.
		last := map[string]string{}
		for _, e := range logs[i] {
			if strings.HasPrefix(e, "memb") {
				continue
			}
			s := e[:2]
			if e <= last[s] {
				t.Fatalf("%s: %s after %s", specs[i].name, e, last[s])
			}
			last[s] = e
		}
		for j := range i {
			checkSameOrder(t, specs[i].name, logs[i], specs[j].name, logs[j])
		}
	}
	if len(logs[2]) < senders*perSender {
		t.Errorf("rab saw %d events, want at least %d", len(logs[2]), senders*perSender)
	}
}

// checkSameOrder checks that the events two receivers share come in the same order.
func checkSameOrder(t *testing.T, na string, a []string, nb string, b []string) {
	t.Helper()
	inA := map[string]bool{}
	for _, e := range a {
		inA[e] = true
	}
	inB := map[string]bool{}
	var commonB []string
	for _, e := range b {
		inB[e] = true
		if inA[e] {
			commonB = append(commonB, e)
		}
	}
	k := 0
	for _, e := range a {
		if !inB[e] {
			continue
		}
		if commonB[k] != e {
			t.Fatalf("%s and %s disagree: %s has %s where %s has %s", na, nb, na, e, nb, commonB[k])
		}
		k++
	}
}

// TestSlowReaderKicked checks Spread's slow-reader rule (flow control off): a session
// that never reads is disconnected once its queue passes the bound, while the sender is
// never slowed and a fast reader gets everything, with the disconnect in the stream.
func TestSlowReaderKicked(t *testing.T) {
	cfg := testConfig(t)
	cfg.FlowControl = false
	cfg.MaxSessionMessages = 100
	d := startDaemon(t, cfg)
	addr := d.addr(t, "unix")
	fast := dial(t, addr, "fast", true)
	if err := fast.Join("g"); err != nil {
		t.Fatal(err)
	}
	recv(t, fast)
	slow := dialRaw(t, addr)
	slowPriv := slow.handshake("slow", false)
	slow.write(rawFrame(uint32(spreadlink.JoinMess)|0x80000080, slowPriv, []string{"g"}, 0x80000080, nil))
	recv(t, fast)
	sender := dial(t, addr, "sender", false)
	const n, window = 5000, 50
	body := make([]byte, 1000)
	done := make(chan error, 1)
	// Keep the fast reader's queue short even under -race: the rule applies to everyone,
	// and only the slow reader must pass it. The sender takes a credit per message, the
	// fast reader returns one per message read.
	credits := make(chan struct{}, window)
	go func() {
		for range n {
			credits <- struct{}{}
			if err := sender.Multicast(spreadlink.Agreed, "g", 0, body); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	data, kickedAt := 0, -1
	for data < n {
		m := recv(t, fast)
		if m.Service.IsRegular() {
			data++
			<-credits
			continue
		}
		if m.Service != regDisc || m.Membership.Changed != slowPriv || kickedAt >= 0 {
			t.Fatalf("got %v", m)
		}
		kickedAt = data
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if kickedAt < 0 {
		t.Fatal("slow reader not disconnected")
	}
	t.Logf("slow reader disconnected after %d messages", kickedAt)
	if got := testutil.ToFloat64(d.m.kickedFull); got != 1 {
		t.Errorf("sessions_kicked_total = %v", got)
	}
	// The slow reader can still read what the kernel held, then EOF.
	t.Logf("slow reader read %d bytes before EOF", len(slow.readAll()))
}

// syncConn skips c's deliveries up to a unicast marker it sends itself.
func syncConn(t *testing.T, c *spreadlink.Conn) {
	t.Helper()
	if err := c.Multicast(spreadlink.Agreed, c.PrivateGroup(), 0, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	for {
		m := recv(t, c)
		if m.Service.IsRegular() && m.Sender == c.PrivateGroup() && string(m.Data) == "sync" {
			return
		}
	}
}
