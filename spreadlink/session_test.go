package spreadlink

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fixed "random" sources: the low and the high end of every jitter range.
var (
	randLow  = func(int64) int64 { return 0 }
	randHigh = func(n int64) int64 { return n - 1 }
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		b        Backoff
		failures []int
		want     []time.Duration
	}{
		{name: "high end doubles up to max", b: Backoff{Min: 100 * ms, Max: time.Second, Rand: randHigh},
			failures: []int{0, 1, 2, 3, 4, 5, 6, 100},
			want:     []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second}},
		{name: "low end is half the step", b: Backoff{Min: 100 * ms, Max: time.Second, Rand: randLow},
			failures: []int{1, 2, 3, 4, 5},
			want:     []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms}},
		{name: "zero value takes the defaults", b: Backoff{Rand: randHigh},
			failures: []int{1, 8, 1000},
			want:     []time.Duration{DefaultBackoffMin, DefaultBackoffMax, DefaultBackoffMax}},
		{name: "max below min means min", b: Backoff{Min: time.Second, Max: ms, Rand: randHigh},
			failures: []int{1, 5},
			want:     []time.Duration{time.Second, time.Second}},
		{name: "huge max does not overflow", b: Backoff{Min: time.Nanosecond, Max: 1<<63 - 1, Rand: randHigh},
			failures: []int{62, 63, 64, 1 << 20},
			want:     []time.Duration{1 << 61, 1 << 62, 1<<63 - 1, 1<<63 - 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, n := range tc.failures {
				if got := tc.b.Delay(n); got != tc.want[i] {
					t.Errorf("Delay(%d) = %v, want %v", n, got, tc.want[i])
				}
			}
		})
	}
}

func TestBackoffJitterRange(t *testing.T) {
	var asked []int64
	b := Backoff{Rand: func(n int64) int64 { asked = append(asked, n); return n / 2 }}
	if got := b.Jitter(0); got != 0 {
		t.Errorf("Jitter(0) = %v", got)
	}
	if got := b.Jitter(-time.Second); got != 0 {
		t.Errorf("Jitter(-1s) = %v", got)
	}
	// [d/2, d] holds d-d/2+1 values: odd durations included.
	if got := b.Jitter(101); got != 50+26 {
		t.Errorf("Jitter(101) = %v", got)
	}
	if !slices.Equal(asked, []int64{52}) {
		t.Errorf("Rand asked for %v, want [52]", asked)
	}
	// The real source stays in range.
	for range 1000 {
		if d := (Backoff{}).Jitter(time.Second); d < time.Second/2 || d > time.Second {
			t.Fatalf("Jitter(1s) = %v outside [500ms, 1s]", d)
		}
	}
}

// failDialer fails every dial, counting them.
type failDialer struct{ dials int }

func (d *failDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials++
	return nil, errors.New("connection refused")
}

// recordSleep records the waits asked for and returns at once (or ctx's error).
type recordSleep struct{ waits []time.Duration }

func (r *recordSleep) sleep(ctx context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func TestSessionBackoff(t *testing.T) {
	ms := time.Millisecond
	fd := &failDialer{}
	rs := &recordSleep{}
	var reported []int
	s, err := NewSession(SessionConfig{
		Config:  Config{Address: "unix:/nonexistent", Dialer: fd},
		Backoff: Backoff{Min: 10 * ms, Max: 40 * ms, Rand: randHigh},
		Sleep:   rs.sleep,
		OnConnectError: func(err error, failures int, wait time.Duration) {
			if !errors.Is(err, ErrCouldNotConnect) {
				t.Errorf("connect error %v, want COULD_NOT_CONNECT", err)
			}
			reported = append(reported, failures)
			if want := (Backoff{Min: 10 * ms, Max: 40 * ms, Rand: randHigh}).Delay(failures); wait != want {
				t.Errorf("reported wait %v after %d failures, want %v", wait, failures, want)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The first attempt does not wait; its failure is returned and counted.
	if _, err := s.TryConnect(t.Context()); !errors.Is(err, ErrCouldNotConnect) {
		t.Fatalf("TryConnect = %v, want COULD_NOT_CONNECT", err)
	}
	if len(rs.waits) != 0 || s.Failures() != 1 {
		t.Fatalf("after one attempt: waits %v, failures %d", rs.waits, s.Failures())
	}
	// Connect keeps trying, waiting the backoff before each attempt, until ctx ends.
	ctx, cancel := context.WithCancel(t.Context())
	s.cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		if len(rs.waits) == 5 {
			cancel()
		}
		return rs.sleep(ctx, d)
	}
	if _, err := s.Connect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want context.Canceled", err)
	}
	want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms, 40 * ms, 40 * ms}
	if !slices.Equal(rs.waits, want) {
		t.Errorf("waits %v, want %v", rs.waits, want)
	}
	if fd.dials != 6 || !slices.Equal(reported, []int{2, 3, 4, 5, 6}) {
		t.Errorf("dials %d, reported failures %v", fd.dials, reported)
	}
	if s.Failures() != 6 {
		t.Errorf("failures %d: an attempt ended by ctx must not count", s.Failures())
	}

	// Healthy starts over: no wait; a lost connection then waits the first step.
	s.Healthy()
	rs.waits = nil
	s.cfg.Sleep = rs.sleep
	if _, err := s.TryConnect(t.Context()); err == nil || len(rs.waits) != 0 {
		t.Fatalf("after Healthy: %v, waits %v", err, rs.waits)
	}
	s.Healthy()
	s.Lost()
	if s.Failures() != 1 {
		t.Fatalf("failures after Lost: %d", s.Failures())
	}
	_, _ = s.TryConnect(t.Context())
	if !slices.Equal(rs.waits, []time.Duration{10 * ms}) {
		t.Errorf("wait after Lost %v, want [10ms]", rs.waits)
	}
}

func TestSessionDialsOverPipe(t *testing.T) {
	// A fake daemon on a net.Pipe: it checks the hello's name and the join, then
	// accepts. NewName is asked once per connection.
	names := []string{"s1", "s2"}
	var asked int
	pd := pipeDialer(func(c net.Conn) { fakeDaemon(t, c, "grp") })
	s, err := NewSession(SessionConfig{
		Config:  Config{Dialer: pd},
		NewName: func() string { asked++; return names[asked-1] },
		Groups:  []string{"grp"},
		Sleep:   (&recordSleep{}).sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		c, err := s.Connect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := "#" + names[i] + "#fake"; c.PrivateGroup() != want {
			t.Errorf("private group %q, want %q", c.PrivateGroup(), want)
		}
		c.Close()
	}
}

func TestNewSessionChecks(t *testing.T) {
	tests := []struct {
		name string
		cfg  SessionConfig
		want error
	}{
		{name: "address", cfg: SessionConfig{Config: Config{Address: "nonsense"}}, want: ErrIllegalSpread},
		{name: "private name", cfg: SessionConfig{Config: Config{Name: "much too long"}}, want: ErrRejectIllegalName},
		{name: "private group", cfg: SessionConfig{Groups: []string{"www", "#x#y"}}, want: ErrIllegalGroup},
		{name: "empty group", cfg: SessionConfig{Groups: []string{""}}, want: ErrIllegalGroup},
		{name: "ok: NewName replaces Name", cfg: SessionConfig{Config: Config{Name: "much too long"}, NewName: func() string { return "a" }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(tc.cfg)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("NewSession = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckGroupName(t *testing.T) {
	tests := []struct {
		in  string
		ok  bool
		why string
	}{
		{in: "www", ok: true},
		{in: "$~", ok: true},
		{in: "~www", ok: true},
		{in: "0123456789012345678901234567890", ok: true},
		{in: "", why: "empty"},
		{in: "#priv#host", why: "'#' starts private group names"},
		{in: "a#b", why: `"#" at position 2`},
		{in: "a b", why: `" " at position 2`},
		{in: "caf\xc3\xa9", why: `"\xc3" at position 4`},
		{in: "01234567890123456789012345678901", why: "32 characters, more than 31"},
	}
	for _, tc := range tests {
		err := CheckGroupName(tc.in)
		if (err == nil) != tc.ok || ValidGroupName(tc.in) != tc.ok {
			t.Errorf("CheckGroupName(%q) = %v, ValidGroupName %v; want ok %v", tc.in, err, ValidGroupName(tc.in), tc.ok)
			continue
		}
		if err == nil {
			continue
		}
		var se *Error
		if !errors.As(err, &se) || se.Code != IllegalGroup || !errors.Is(err, ErrIllegalGroup) {
			t.Errorf("CheckGroupName(%q) = %#v, want an *Error with ILLEGAL_GROUP", tc.in, err)
		} else if !strings.Contains(se.Detail, tc.why) {
			t.Errorf("CheckGroupName(%q) detail %q does not say %q", tc.in, se.Detail, tc.why)
		}
	}
}

func TestJoinWait(t *testing.T) {
	memb := func(svc ServiceType, group string, index int16) *Message {
		m := &Message{Service: svc, Sender: group, MessType: index}
		if svc.IsMembership() {
			m.Membership = &MembershipInfo{Group: group}
		}
		return m
	}
	regJoin := RegMemb | CausedByJoin
	w := NewJoinWait("a", "b", "a")
	steps := []struct {
		m    *Message
		done bool
	}{
		{memb(Agreed, "a", 0), false},               // data, not membership
		{memb(Transition, "a", -1), false},          // transitional
		{memb(regJoin, "a", -1), false},             // a membership we are not in
		{memb(regJoin, "c", 0), false},              // a group not awaited
		{memb(regJoin, "a", 1), false},              // our join of a
		{memb(regJoin, "a", 1), false},              // again: nothing new
		{memb(regJoin|CausedByLeave, "b", 0), true}, // the last one
		{memb(regJoin, "b", 0), false},              // true only once
	}
	for i, st := range steps {
		if got := w.Observe(st.m); got != st.done {
			t.Errorf("step %d: Observe = %v, want %v", i, got, st.done)
		}
	}
	if !w.Done() {
		t.Error("not Done")
	}
	if !NewJoinWait().Done() {
		t.Error("an empty JoinWait is not Done")
	}
}

// pipeDialer is an in-memory network: every dial gets one end of a net.Pipe, and
// serve runs on the other end in its own goroutine.
type pipeDialer func(daemonEnd net.Conn)

func (serve pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, daemon := net.Pipe()
	go serve(daemon)
	return client, nil
}

// fakeDaemon accepts one client on c under the daemon name "fake", expects a join of
// each of groups, then reads until the client disconnects. Failures are reported
// with t.Errorf.
func fakeDaemon(t *testing.T, c net.Conn, groups ...string) {
	defer c.Close()
	var hello [5]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		t.Errorf("fake daemon: read hello: %v", err)
		return
	}
	name := make([]byte, hello[4])
	if _, err := io.ReadFull(c, name); err != nil {
		t.Errorf("fake daemon: read name: %v", err)
		return
	}
	if _, err := c.Write(append([]byte{4}, "NULL"...)); err != nil {
		t.Errorf("fake daemon: write auth offer: %v", err)
		return
	}
	if _, err := io.ReadFull(c, make([]byte, AuthChoiceLen)); err != nil {
		t.Errorf("fake daemon: read auth choice: %v", err)
		return
	}
	priv := "#" + string(name) + "#fake"
	if _, err := c.Write(append([]byte{byte(AcceptSession), 5, 0, 1, byte(len(priv))}, priv...)); err != nil {
		t.Errorf("fake daemon: write accept: %v", err)
		return
	}
	for _, g := range groups {
		frame := make([]byte, HeaderLen+GroupNameLen)
		if _, err := io.ReadFull(c, frame); err != nil {
			t.Errorf("fake daemon: read join: %v", err)
			return
		}
		var h Header
		if err := DecodeHeader(frame, &h); err != nil || h.Service != JoinMess || string(SlotName(frame[HeaderLen:])) != g {
			t.Errorf("fake daemon: want a join of %q, got %s %q (%v)", g, h.Service, SlotName(frame[HeaderLen:]), err)
			return
		}
	}
	_, _ = io.Copy(io.Discard, c)
}
