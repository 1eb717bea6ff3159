package testsupport

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/logspread/logspread/spreadlink/daemon"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeTB records Fatalf instead of ending the test, with a deadline of its own.
type fakeTB struct {
	testing.TB
	deadline time.Time

	mu     sync.Mutex
	failed []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Deadline() (time.Time, bool) { return f.deadline, true }

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, func() bool { n++; return n == 3 }, "never")
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestEventuallyGivesUp(t *testing.T) {
	f := &fakeTB{TB: t, deadline: time.Now().Add(2 * time.Second)} // gives up 1 s before
	start := time.Now()
	Eventually(f, func() bool { return false }, "the %s", "moon")
	if el := time.Since(start); el < 900*time.Millisecond || el > 30*time.Second {
		t.Errorf("gave up after %v, want about 1s", el)
	}
	if len(f.failed) != 1 || !strings.Contains(f.failed[0], "the moon") {
		t.Errorf("Fatalf calls %q", f.failed)
	}
}

func TestDeadline(t *testing.T) {
	f := &fakeTB{TB: t, deadline: time.Now().Add(10 * time.Minute)}
	if d := time.Until(Deadline(f)); d < 8*time.Minute+50*time.Second || d > 9*time.Minute {
		t.Errorf("Deadline is %v away, want the test deadline less a minute", d)
	}
	f.deadline = time.Now().Add(5 * time.Second)
	if d := time.Until(Deadline(f)); d < 3*time.Second || d > 4*time.Second {
		t.Errorf("Deadline is %v away, want the test deadline less 1s", d)
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v := Receive(t, ch, "a value"); v != 7 {
		t.Errorf("Receive = %d", v)
	}
	close(ch)
	f := &fakeTB{TB: t, deadline: time.Now().Add(time.Hour)}
	Receive(f, ch, "a value")
	if len(f.failed) != 1 || !strings.Contains(f.failed[0], "closed") {
		t.Errorf("Fatalf calls %q", f.failed)
	}
}

func TestBufferWaitMatch(t *testing.T) {
	var b Buffer
	go fmt.Fprintf(&b, "level=INFO msg=\"serving metrics\" addr=127.0.0.1:9\n")
	m := b.WaitMatch(t, `addr=(\S+)`)
	if m[1] != "127.0.0.1:9" {
		t.Errorf("WaitMatch = %q", m)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP x_total X.
# TYPE x_total counter
x_total 3
y_total{reason="a b"} 1
y_total{reason="c"} 2
`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	m, err := Scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	if m["x_total"] != 3 || m[`y_total{reason="a b"}`] != 1 || len(m) != 3 {
		t.Errorf("Scrape = %v", m)
	}
	if v := Metric(t, addr, "y_total"); v != 3 {
		t.Errorf("Metric(y_total) = %v, want the sum 3", v)
	}
	if v := WaitMetric(t, addr, "x_total", func(v float64) bool { return v >= 3 }); v != 3 {
		t.Errorf("WaitMetric = %v", v)
	}
}

func TestStartDaemon(t *testing.T) {
	d := StartDaemon(t, WithFlowControl(false), WithSessionBounds(7, 0), WithConfig(func(c *daemon.Config) { c.Name = "test" }))
	for i, addr := range []string{d.Addr, d.TCPAddr} {
		name := fmt.Sprintf("c%d", i)
		c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: name})
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		if got := c.PrivateGroup(); got != "#"+name+"#test" {
			t.Errorf("private group %q", got)
		}
		c.Close()
	}
	Eventually(t, func() bool { return d.Metric(t, "logspread_daemon_sessions_accepted_total") == 2 }, "two sessions accepted")
	d.Stop(t)
	d.Stop(t) // and once more at cleanup
	if _, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: d.Addr}); err == nil {
		t.Error("dialled a stopped daemon")
	}
	// A new daemon on the same socket.
	d2 := StartDaemon(t, WithSocket(d.Socket))
	if d2.Addr != d.Addr {
		t.Errorf("address %s, want %s", d2.Addr, d.Addr)
	}
}

func TestProcess(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", `echo 'time=x level=INFO msg="serving metrics" addr=127.0.0.1:1' >&2; echo out; exec sleep 600`))
	if a := p.MetricsAddr(t); a != "127.0.0.1:1" {
		t.Errorf("MetricsAddr = %q", a)
	}
	p.Stdout.WaitMatch(t, "out\n") // written after the log line
	p.Freeze(t)
	p.Thaw(t)
	if code := p.Terminate(t); code != -1 { // killed by the signal
		t.Errorf("exit code %d", code)
	}
	if !p.Exited() || p.Stdout.String() != "out\n" {
		t.Errorf("exited %v, stdout %q", p.Exited(), p.Stdout)
	}
	q := Start(t, exec.Command("sh", "-c", "exit 3"))
	if code := q.Wait(t); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}
