package daemon

import (
	"fmt"
	"testing"

	"github.com/logspread/logspread/spreadlink"
)

// TestStateBoundedBySessionsPresent: the daemon's tables (connections, names, private
// groups, groups) hold only what the sessions present use: sessions that came, joined
// groups of their own, multicast and went (closed, aborted, or dropped mid-handshake)
// leave nothing behind, however many there were.
func TestStateBoundedBySessionsPresent(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "tcp")
	stay := dial(t, addr, "stay", true)
	if err := stay.Join("shared"); err != nil {
		t.Fatal(err)
	}
	recv(t, stay)
	for i := range 200 {
		c := dial(t, addr, fmt.Sprintf("s%d", i), i%2 == 0)
		for _, g := range []string{"shared", fmt.Sprintf("own%d", i)} {
			if err := c.Join(g); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Multicast(spreadlink.Agreed, "shared", 1, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			_ = c.Abort()
		} else {
			_ = c.Close()
		}
		if i%10 == 0 {
			r := dialRaw(t, addr) // connects, never finishes the handshake
			r.nc.Close()
		}
	}
	waitFor(t, "daemon tables back to the one session present", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.conns) == 1 && len(d.names) == 1 && len(d.privs) == 1 && len(d.groups) == 1 &&
			len(d.groups["shared"].members) == 1
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.privs[stay.PrivateGroup()]; s == nil || len(s.groups) != 1 {
		t.Errorf("the session present: %v", s)
	}
}
