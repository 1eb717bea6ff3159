package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// joinAndWait connects to the daemon at addr, joins group with membership notices,
// and waits until the group has members members (itself included).
func joinAndWait(t *testing.T, addr, group string, members int) *spreadlink.Conn {
	t.Helper()
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Membership: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Join(group); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m spreadlink.Message
	for {
		if err := c.Receive(&m); err != nil {
			t.Fatalf("waiting for %d members in %s: %v", members, group, err)
		}
		if m.Service.IsRegMemb() && m.Membership != nil && m.Membership.Group == group && len(m.Membership.Members) >= members {
			return c
		}
	}
}

// TestTailSurvivesDaemonRestart runs `logspread tail` as a process, restarts the
// daemon under it, and checks that it says so on stderr, reconnects, and prints what
// is sent after the restart. Without --membership it prints no membership lines.
func TestTailSurvivesDaemonRestart(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "spread.sock")
	addr := "unix:" + sock
	d := startTestDaemon(t, sock)
	var out, errOut testsupport.Buffer
	cmd := exec.Command(testsupport.Binary(t), "tail", "--spread", addr, "www")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	running := func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("tail exited (%v); stderr %q", err, errOut.String())
		default:
			return nil
		}
	}
	waitOutput := func(what string, buf *testsupport.Buffer, want string) {
		t.Helper()
		testsupport.EventuallyErr(t, func() error {
			if err := running(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), want) {
				return fmt.Errorf("%s %q: no %q yet", what, buf.String(), want)
			}
			return nil
		})
	}

	c := joinAndWait(t, addr, "www", 2) // tail and this connection
	if err := c.Multicast(spreadlink.Agreed, "www", 0, []byte("before restart\n")); err != nil {
		t.Fatal(err)
	}
	waitOutput("stdout", &out, "before restart\n")

	d.Stop(t)
	waitOutput("stderr", &errOut, "lost the connection to "+addr)
	startTestDaemon(t, sock)
	// Printed once the daemon has delivered tail's own join again: from then on it
	// hears everything sent to the group.
	waitOutput("stderr", &errOut, "reconnected to "+addr)
	c = joinAndWait(t, addr, "www", 2)
	if err := c.Multicast(spreadlink.Agreed, "www", 0, []byte("after restart\n")); err != nil {
		t.Fatal(err)
	}
	waitOutput("stdout", &out, "after restart\n")
	if got := out.String(); got != "before restart\nafter restart\n" {
		t.Errorf("stdout %q: want the two lines and no membership lines", got)
	}
	if e := errOut.String(); strings.Index(e, "lost the connection") > strings.Index(e, "reconnected") {
		t.Errorf("stderr %q: want the loss, then the reconnection", e)
	}
}

// TestTailPrintsResendOnce: tail prints a batch sent again (same stream and offsets, or
// cut differently and reaching beyond) once, as collectors write it once; another
// stream's batch at the same offsets, and raw messages, are printed as they come.
func TestTailPrintsResendOnce(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "4803")
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	p := testsupport.StartProcess(t, "tail", "--spread", addr, "www")
	c := joinAndWait(t, addr, "www", 2)
	send := func(stream, off uint64, body string) {
		t.Helper()
		msg := envelope.AppendBatch(nil, envelope.BatchHeader{Stream: stream, Offset: off, Lines: uint32(strings.Count(body, "\n"))}, []byte(body))
		if err := c.Multicast(spreadlink.Agreed, "www", envelope.MessTypeBatch, msg); err != nil {
			t.Fatal(err)
		}
	}
	send(7, 0, "a\nb\n")
	send(7, 0, "a\nb\n") // a resend
	send(7, 2, "b\nc\n") // re-read, cut differently: only c is new
	send(8, 0, "x\n")    // another stream
	send(7, 0, "a\n")    // an old part again
	for range 2 {
		if err := c.Multicast(spreadlink.Agreed, "www", envelope.MessTypeRaw, []byte("raw\n")); err != nil {
			t.Fatal(err)
		}
	}
	send(7, 6, "d\n")
	want := "a\nb\nc\nx\nraw\nraw\nd\n"
	testsupport.EventuallyErr(t, func() error {
		if got := p.Stdout.String(); got != want {
			return fmt.Errorf("tail printed %q, want %q", got, want)
		}
		return nil
	})
}
