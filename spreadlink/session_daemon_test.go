package spreadlink_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
)

// startDaemon runs an embedded daemon on addr until stopDaemon or the end of the test,
// and returns the address clients dial (with the real port where addr asked for 0).
func startDaemon(t *testing.T, addr string) (*daemon.Daemon, string) {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Listen = []string{addr}
	d, err := daemon.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopDaemon(t, d) })
	return d, d.Addrs()[0].String()
}

func stopDaemon(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Errorf("daemon shutdown: %v", err)
	}
}

// receiveUntil reads c until f accepts a delivery, failing the test on an error or
// after 10 seconds.
func receiveUntil(t *testing.T, c *spreadlink.Conn, what string, f func(*spreadlink.Message) bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var m spreadlink.Message
	for {
		if err := c.Receive(&m); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if f(&m) {
			return
		}
	}
}

// multicast sends one raw line to group from a connection of its own.
func multicast(t *testing.T, addr, group, line string) {
	t.Helper()
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Multicast(spreadlink.Agreed, group, 0, []byte(line)); err != nil {
		t.Fatal(err)
	}
}

// TestSessionReconnectsAfterDaemonRestart shuts the daemon down under a joined
// session, starts a new one on the same address, and checks that the Session
// connects again (after failed attempts, with backoff), rejoins, and receives.
func TestSessionReconnectsAfterDaemonRestart(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{
		{"unix", "unix:" + filepath.Join(t.TempDir(), "4803")},
		{"tcp", "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d1, addr := startDaemon(t, tc.listen)
			failed := make(chan error, 1)
			s, err := spreadlink.NewSession(spreadlink.SessionConfig{
				Config:  spreadlink.Config{Address: addr, Name: "tail1", Membership: true},
				Groups:  []string{"www", "~www"},
				Backoff: spreadlink.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond},
				OnConnectError: func(err error, failures int, wait time.Duration) {
					select {
					case failed <- err:
					default:
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			// use waits for the own joins on c, then for a line sent to the group.
			use := func(c *spreadlink.Conn, line string) {
				t.Helper()
				joins := s.JoinWait()
				receiveUntil(t, c, "own joins", joins.Observe)
				s.Healthy()
				multicast(t, addr, "www", line)
				receiveUntil(t, c, line, func(m *spreadlink.Message) bool {
					return m.Service.IsRegular() && string(m.Data) == line
				})
			}
			c, err := s.Connect(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			use(c, "before\n")

			stopDaemon(t, d1)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var m spreadlink.Message
			for err == nil {
				err = c.Receive(&m)
			}
			if !errors.Is(err, spreadlink.ErrConnectionClosed) {
				t.Fatalf("session under a stopped daemon ended with %v, want CONNECTION_CLOSED", err)
			}
			_ = c.Abort()
			s.Lost()

			// Connect retries while no daemon listens; a new one appears on the same
			// address after the first failed attempt.
			type result struct {
				c   *spreadlink.Conn
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := s.Connect(t.Context())
				done <- result{c, err}
			}()
			select {
			case err := <-failed:
				if !errors.Is(err, spreadlink.ErrCouldNotConnect) {
					t.Errorf("attempt without a daemon: %v, want COULD_NOT_CONNECT", err)
				}
			case r := <-done:
				t.Fatalf("Connect returned %v, %v without a daemon", r.c, r.err)
			}
			if n := s.Failures(); n < 2 {
				t.Errorf("failures %d after a lost session and a failed attempt", n)
			}
			if _, again := startDaemon(t, listenAgain(tc.listen, addr)); again != addr {
				t.Fatalf("new daemon on %s, want %s", again, addr)
			}
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.c.Close()
			use(r.c, "after\n")
			if n := s.Failures(); n != 0 {
				t.Errorf("failures %d after Healthy", n)
			}
		})
	}
}

// listenAgain returns the address to listen on again: the unix path as given, or the
// TCP address with the port the first daemon got.
func listenAgain(listen, bound string) string {
	if strings.HasPrefix(listen, "unix:") {
		return listen
	}
	return bound
}
