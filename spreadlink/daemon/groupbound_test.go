package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMaxSessionGroups: a session may be in MaxSessionGroups groups; its join of one
// more is refused with a reject notice (Receive returns ILLEGAL_GROUP saying why and
// naming max_session_groups), counted, and the session is disconnected (the other
// members see it leave); joining a group it is in again is no join. A reload raises the
// bound for the joins that follow.
func TestMaxSessionGroups(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionGroups = 3
	d := startDaemon(t, cfg)
	addr := d.addr(t, "tcp")
	watcher := dial(t, addr, "watch", true)
	if err := watcher.Join("g0"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, "many", false)
	for i := range 3 {
		if err := c.Join(fmt.Sprintf("g%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Join("g1"); err != nil { // a member already: not a fourth group
		t.Fatal(err)
	}
	// The three joins are in: a message to g2 comes back.
	if err := c.Multicast(spreadlink.Agreed, "g2", 1, []byte("in")); err != nil {
		t.Fatal(err)
	}
	var m spreadlink.Message
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.Receive(&m); err != nil || string(m.Data) != "in" {
		t.Fatalf("message to a joined group: %q, %v", m.Data, err)
	}
	if err := c.Join("g3"); err != nil {
		t.Fatal(err)
	}
	err := c.Receive(&m)
	var se *spreadlink.Error
	if !errors.As(err, &se) || se.Code != spreadlink.IllegalGroup || !strings.Contains(se.Detail, "max_session_groups") || !strings.Contains(se.Detail, `"g3"`) {
		t.Fatalf("Receive after the join beyond the bound: %v, want ILLEGAL_GROUP naming g3 and max_session_groups", err)
	}
	if err := c.Receive(&m); !errors.Is(err, spreadlink.ErrConnectionClosed) {
		t.Fatalf("Receive after the reject notice: %v, want CONNECTION_CLOSED", err)
	}
	// The watcher sees "many" leave g0 (disconnected), after its join.
	_ = watcher.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if err := watcher.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Group == "g0" && len(m.Membership.Members) == 1 {
			break
		}
	}
	if n := testutil.ToFloat64(d.m.kickedGroups); n != 1 {
		t.Errorf("sessions_kicked_total{reason=max_session_groups} = %v, want 1", n)
	}

	// Reload: five groups from now on.
	next := cfg
	next.MaxSessionGroups = 5
	if _, err := d.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	c = dial(t, addr, "more", false)
	for i := range 5 {
		if err := c.Join(fmt.Sprintf("g%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Multicast(spreadlink.Agreed, "g4", 1, []byte("in")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.Receive(&m); err != nil || string(m.Data) != "in" {
		t.Fatalf("five groups after the reload: %q, %v", m.Data, err)
	}
	if n := testutil.ToFloat64(d.m.kickedGroups); n != 1 {
		t.Errorf("sessions_kicked_total{reason=max_session_groups} = %v after the reload, want still 1", n)
	}
	bad := cfg
	bad.MaxSessionGroups = -1
	if _, err := d.Reconfigure(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Reconfigure with MaxSessionGroups -1: %v, want ErrInvalidConfig", err)
	}
}
