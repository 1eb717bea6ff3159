package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestOnceLog: until done, a record the same as one logged before (level, message,
// attributes, the logger's included) is dropped; records that differ in any of them pass;
// after done every record passes.
func TestOnceLog(t *testing.T) {
	var out bytes.Buffer
	h := newOnceLog(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log := slog.New(h).With("cmd", "ship")
	for range 3 { // three attempts of a start
		log.Info("following", "source", "a.log")
		log.Info("following", "source", "b.log")
		log.Warn("following", "source", "a.log")
		log.With("component", "shipper").Info("following", "source", "a.log")
		log.WithGroup("g").Info("following", "source", "a.log")
	}
	h.done()
	log.Info("following", "source", "a.log")
	want := `level=INFO msg=following cmd=ship source=a.log
level=INFO msg=following cmd=ship source=b.log
level=WARN msg=following cmd=ship source=a.log
level=INFO msg=following cmd=ship component=shipper source=a.log
level=INFO msg=following cmd=ship g.source=a.log
level=INFO msg=following cmd=ship source=a.log
`
	if got := out.String(); got != want {
		t.Errorf("logged:\n%s\nwant:\n%s", got, want)
	}
	if n := strings.Count(out.String(), "\n"); n != 6 {
		t.Errorf("%d lines, want 6", n)
	}
}
