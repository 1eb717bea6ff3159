package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper"
	"github.com/logspread/logspread/shipper/source"
)

// TestShipBeforeCollectProcess: `logspread ship` runs on a file while no collector is
// there: it acknowledges nothing (no checkpoint moves) and waits. Then `logspread
// collect` starts and writes every line exactly once.
func TestShipBeforeCollectProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	path := filepath.Join(dir, "access.log")
	content := genLines(5, 20000)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	s := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", "unix:"+sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", path)
	shipperAddr := s.MetricsAddr(t)
	metric := func(name string) float64 {
		t.Helper()
		return testsupport.Metric(t, shipperAddr, name)
	}
	// Connected, batches taken into the window, no collector seen: nothing may be
	// acknowledged (the collector's output below also shows that nothing was lost).
	testsupport.EventuallyErr(t, func() error {
		m, err := testsupport.Scrape(shipperAddr)
		if err != nil {
			return err
		}
		waited, inFlight := m["logspread_shipper_no_collector_seconds_total"], m["logspread_shipper_batches_in_flight"]
		if waited == 0 || inFlight == 0 {
			return fmt.Errorf("shipper not yet waiting for a collector with batches in flight (%vs waited, %v in flight)", waited, inFlight)
		}
		return nil
	})
	if v := metric("logspread_shipper_acked_lines_total"); v != 0 {
		t.Fatalf("%v lines acknowledged without a collector", v)
	}
	if v := metric("logspread_shipper_collectors"); v != 0 {
		t.Fatalf("collectors gauge %v", v)
	}

	out := filepath.Join(dir, "out")
	testsupport.StartProcess(t, "collect", "--spread", "unix:"+sock, "--dir", out, "--log", "www={group}.log.zst",
		"--flush-interval", "20ms", "--metrics-addr", "127.0.0.1:0")
	testsupport.EventuallyErr(t, func() error {
		got, _, _ := catAll(t, out)
		if len(got) < len(content) {
			return fmt.Errorf("collector wrote %d of %d bytes", len(got), len(content))
		}
		return nil
	})
	if got, _, _ := catAll(t, out); !bytes.Equal(got, content) {
		t.Fatalf("collector output: %d bytes, want %d (every line once)%s", len(got), len(content), describeDiff(got, content))
	}
	testsupport.EventuallyErr(t, func() error {
		if v := metric("logspread_shipper_acked_lines_total"); v != 20000 {
			return fmt.Errorf("acked lines %v", v)
		}
		return nil
	})
	if v := metric("logspread_shipper_collectors"); v != 1 {
		t.Errorf("collectors gauge %v, want 1", v)
	}
	if v := metric("logspread_shipper_presence_resends_total"); v < 1 {
		t.Errorf("presence resends %v, want at least 1", v)
	}
}

// TestShipRequireCollectorOption: the default, --legacy, the flag and the YAML key.
func TestShipRequireCollectorOption(t *testing.T) {
	yes, no := true, false
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "ship.yaml")
	if err := os.WriteFile(cfgFile, []byte("group: www\nrequire_collector: false\npaths: [a.log]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fromYAML ShipOptions
	if err := decodeConfigFile(cfgFile, &fromYAML); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		legacy  bool
		require *bool
		want    bool
	}{
		{name: "default", want: true},
		{name: "legacy", legacy: true, want: false},
		{name: "legacy with collector", legacy: true, require: &yes, want: true},
		{name: "off", require: &no, want: false},
		{name: "yaml off", require: fromYAML.RequireCollector, want: false},
	} {
		o := &ShipOptions{Group: "www", Spread: "4803", StateDir: dir, Service: "agreed", BatchSize: 65536, BatchCompression: "zstd", CompressionLevel: "fastest",
			MaxLine: 1 << 20, JournalSize: 1 << 30, Paths: []string{"a.log"}, Legacy: tc.legacy, RequireCollector: tc.require, AbsentTimeout: 5 * time.Minute}
		_, snd, err := o.build()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if snd.RequireCollector != tc.want {
			t.Errorf("%s: RequireCollector %v, want %v", tc.name, snd.RequireCollector, tc.want)
		}
	}
	for args, code := range map[string]int{
		"--require-collector=false": 0, "--require-collector": 0, "--require-collector=maybe": 2,
	} {
		c, _, errOut := runMain(t, "", "ship", "--group", "www", args, "--check-config", "a.log")
		if c != code {
			t.Errorf("%s: exit %d, want %d (%s)", args, c, code, errOut)
		}
	}
}

// TestShipAckOption: --ack, --require-collectors and --absent-timeout, their YAML keys,
// and the errors that name them.
func TestShipAckOption(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "ship.yaml")
	if err := os.WriteFile(cfgFile, []byte("group: www\nack: written\nrequire_collectors: [a, b]\nabsent_timeout: 2m\npaths: [a.log]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var o ShipOptions
	if err := decodeConfigFile(cfgFile, &o); err != nil {
		t.Fatal(err)
	}
	o.Spread, o.StateDir, o.Service, o.BatchSize, o.MaxLine = "4803", dir, "agreed", 65536, 1<<20
	o.JournalSize = byteSize(source.DefaultConfig().JournalMax)
	_, snd, err := o.build()
	if err != nil {
		t.Fatal(err)
	}
	if snd.Ack != shipper.AckWritten || strings.Join(snd.RequireCollectors, ",") != "a,b" || snd.AbsentTimeout != 2*time.Minute || snd.StateDir != dir {
		t.Errorf("from YAML: ack %v, required %v, absent timeout %v, state dir %q", snd.Ack, snd.RequireCollectors, snd.AbsentTimeout, snd.StateDir)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{args: []string{"--ack", "written"}},
		{args: []string{"--ack", "ordered"}},
		{args: []string{"--legacy"}},
		{args: []string{"--ack", "written", "--require-collectors", "a,b", "--absent-timeout", "1m"}},
		{args: []string{"--ack", "maybe"}, code: 2, want: "--ack"},
		{args: []string{"--ack", "written", "--legacy"}, code: 2, want: "legacy"},
		{args: []string{"--ack", "written", "--require-collector=false"}, code: 2, want: "require-collector"},
		{args: []string{"--ack", "ordered", "--require-collectors", "a"}, code: 2, want: "--require-collectors"},
		{args: []string{"--ack", "written", "--require-collectors", "a b"}, code: 2, want: "--require-collectors"},
		{args: []string{"--ack", "written", "--absent-timeout", "0s"}, code: 2, want: "--absent-timeout"},
	} {
		args := append([]string{"ship", "--group", "www", "--state-dir", dir}, tc.args...)
		c, _, errOut := runMain(t, "", append(args, "--check-config", "a.log")...)
		if c != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (%q), want %d mentioning %q", tc.args, c, errOut, tc.code, tc.want)
		}
	}
}
