package daemon

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHandshakeVariants(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	addr := d.addr(t, "tcp")
	auth := spreadlink.AppendAuthChoice(nil, "NULL")
	tests := []struct {
		name  string
		hello []byte
		auth  []byte // written after the offer, when the client takes part in auth
		want  string // everything the daemon sends until it closes or accepts
		open  bool   // the session stays open
	}{
		{name: "5.0.1", hello: []byte("\x05\x00\x01\x01\x03cap"), auth: auth,
			want: "\x05NULL \x01\x05\x00\x01\x0e#cap#localhost", open: true},
		{name: "3.16.0", hello: []byte("\x03\x10\x00\x00\x02v3"), auth: auth,
			want: "\x05NULL \x01\x05\x00\x01\x0d#v3#localhost", open: true},
		{name: "9.9.9", hello: []byte("\x09\x09\x09\x00\x02v9"), auth: auth,
			want: "\x05NULL \x01\x05\x00\x01\x0d#v9#localhost", open: true},
		{name: "3.14 old, no patch, no auth", hello: []byte("\x03\x0e\x01\x02zz"),
			want: "\x01\x05\x00\x0d#zz#localhost", open: true},
		{name: "3.15.0 no auth, patch in accept", hello: []byte("\x03\x0f\x00\x01\x02zy"),
			want: "\x01\x05\x00\x01\x0d#zy#localhost", open: true},
		{name: "3.0 too old", hello: []byte("\x03\x00\x01\x02zz"), want: "\xf9"},
		{name: "2.9 too old", hello: []byte("\x02\x09"), want: "\xf9"},
		{name: "name too long", hello: []byte("\x05\x00\x01\x00\x0babcdefghijk"), want: "\xfb"},
		{name: "space in name", hello: []byte("\x05\x00\x01\x00\x02a "), want: "\xfb"},
		{name: "hash in name", hello: []byte("\x05\x00\x01\x00\x02a#"), want: "\xfb"},
		{name: "control byte in name", hello: []byte("\x05\x00\x01\x00\x02a\x01"), want: "\xfb"},
		{name: "auth all zero", hello: []byte("\x05\x00\x01\x00\x02a1"), auth: make([]byte, 90), want: "\x05NULL \xf7"},
		{name: "auth FOO", hello: []byte("\x05\x00\x01\x00\x02a2"), auth: spreadlink.AppendAuthChoice(nil, "FOO"), want: "\x05NULL \xf7"},
		{name: "auth NULL and FOO", hello: []byte("\x05\x00\x01\x00\x02a3"),
			auth: append(spreadlink.AppendAuthChoice(nil, "NULL")[:30], spreadlink.AppendAuthChoice(nil, "FOO")[:60]...), want: "\x05NULL \xf7"},
		{name: "auth NULL in third slot", hello: []byte("\x05\x00\x01\x00\x02a4"),
			auth: append(make([]byte, 60), spreadlink.AppendAuthChoice(nil, "NULL")[:30]...),
			want: "\x05NULL \x01\x05\x00\x01\x0d#a4#localhost", open: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			r.write(tc.hello)
			var got []byte
			if tc.auth != nil {
				got = r.read(6)
				r.write(tc.auth)
			}
			if tc.open {
				got = append(got, r.read(len(tc.want)-len(got))...)
			} else {
				got = append(got, r.readAll()...)
			}
			if string(got) != tc.want {
				t.Fatalf("daemon sent %q, want %q", got, tc.want)
			}
		})
	}
	for _, code := range []spreadlink.Code{spreadlink.RejectVersion, spreadlink.RejectIllegalName, spreadlink.RejectAuth} {
		if n := testutil.ToFloat64(d.m.rejects.WithLabelValues(code.String())); n == 0 {
			t.Errorf("rejects_total{code=%s} = 0", code)
		}
	}
}

// TestHandshakeTolerant sends the hello and the auth choice in pieces, each read on its
// own (Spread 5.0.1 drops a session whose fields arrive like this); we wait for the
// fields until the deadline. The connection is a net.Pipe: a write returns only once the
// daemon has read it, so every piece is a read of its own, without pauses.
func TestHandshakeTolerant(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	d.serve(server)
	r := &rawConn{t, client}
	for _, b := range []byte("\x05\x00\x01\x01\x04slow") {
		r.write([]byte{b})
	}
	if got := r.read(6); string(got) != "\x05NULL " {
		t.Fatalf("offer %q", got)
	}
	choice := spreadlink.AppendAuthChoice(nil, "NULL")
	r.write(choice[:10])
	r.write(choice[10:])
	if got := r.read(4 + 1 + len("#slow#localhost")); string(got[5:]) != "#slow#localhost" {
		t.Fatalf("accept %q", got)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.HandshakeTimeout = 100 * time.Millisecond
	d := startDaemon(t, cfg)
	r := dialRaw(t, d.addr(t, "tcp"))
	r.write([]byte("\x05\x00\x01\x01\x04na")) // the name never completes
	if got := r.readAll(); len(got) != 0 {
		t.Fatalf("daemon sent %q", got)
	}
	r2 := dialRaw(t, d.addr(t, "tcp"))
	r2.write([]byte("\x05\x00\x01\x01\x04name"))
	if got := r2.read(6); string(got) != "\x05NULL " {
		t.Fatalf("offer %q", got)
	}
	if got := r2.readAll(); len(got) != 0 { // no auth choice
		t.Fatalf("daemon sent %q", got)
	}
}

func TestInventedName(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	re := regexp.MustCompile(`^#r[0-9]{1,4}-[0-9]*#localhost$`)
	seen := map[string]bool{}
	for range 5 {
		c := dial(t, d.addr(t, "unix"), "", false)
		p := c.PrivateGroup()
		name := strings.TrimSuffix(strings.TrimPrefix(p, "#"), "#localhost")
		if !re.MatchString(p) || len(name) > 9 || seen[p] {
			t.Errorf("invented private group %q", p)
		}
		seen[p] = true
	}
}

func TestRejects(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessions = 2
	d := startDaemon(t, cfg)
	addr := d.addr(t, "tcp")
	ctx := context.Background()
	a := dial(t, addr, "alice", false)

	_, err := spreadlink.Dial(ctx, spreadlink.Config{Address: addr, Name: "alice"})
	if !errors.Is(err, spreadlink.ErrRejectNotUnique) {
		t.Errorf("second alice: %v, want ErrRejectNotUnique", err)
	}
	// The client checks names itself; the daemon's own check is in TestHandshakeVariants.
	_, err = spreadlink.Dial(ctx, spreadlink.Config{Address: addr, Name: "has space"})
	if !errors.Is(err, spreadlink.ErrRejectIllegalName) {
		t.Errorf("illegal name: %v, want ErrRejectIllegalName", err)
	}
	dial(t, addr, "bob", false)
	_, err = spreadlink.Dial(ctx, spreadlink.Config{Address: addr, Name: "carol"})
	if !errors.Is(err, spreadlink.ErrRejectQuota) {
		t.Errorf("third session: %v, want ErrRejectQuota", err)
	}
	a.Close()
	waitFor(t, "alice's slot to free", func() bool {
		c, err := spreadlink.Dial(ctx, spreadlink.Config{Address: addr, Name: "alice"})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, code := range []spreadlink.Code{spreadlink.RejectNotUnique, spreadlink.RejectQuota} {
		if n := testutil.ToFloat64(d.m.rejects.WithLabelValues(code.String())); n == 0 {
			t.Errorf("rejects_total{code=%s} = 0", code)
		}
	}
}
