package daemon

import (
	"testing"

	"github.com/logspread/logspread/spreadlink"
)

func TestSmoke(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := d.addr(t, network)
			a := dial(t, addr, "alice"+network, true)
			b := dial(t, addr, "bob"+network, true)
			if err := a.Join("logs"); err != nil {
				t.Fatal(err)
			}
			m := recv(t, a)
			if !m.Service.IsRegMemb() || m.Groups[0] != a.PrivateGroup() {
				t.Fatalf("got %v", m)
			}
			if err := b.Multicast(spreadlink.Agreed, "logs", 7, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			m = recv(t, a)
			if string(m.Data) != "hi" || m.Sender != b.PrivateGroup() || m.MessType != 7 {
				t.Fatalf("got %v", m)
			}
		})
	}
}
