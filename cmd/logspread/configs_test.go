package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// commandFor maps a sample config's file name to the command that reads it.
func commandFor(name string) string {
	switch {
	case strings.HasPrefix(name, "daemon"):
		return "daemon"
	case strings.HasPrefix(name, "collector"):
		return "collect"
	case strings.HasPrefix(name, "shipper"):
		return "ship"
	case strings.HasPrefix(name, "tail"):
		return "tail"
	}
	return ""
}

// TestSampleConfigs loads every YAML sample in configs/ through its command's real
// --config path and validates it with --check-config.
func TestSampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d sample configs, want at least 6", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cmd := commandFor(name)
			if cmd == "" {
				t.Fatalf("no command reads %s: name samples daemon*, collector*, shipper* or tail*", name)
			}
			code, out, stderr := runMain(t, "", cmd, "--config", f, "--check-config")
			if code != exitOK || out != "configuration ok\n" {
				t.Fatalf("logspread %s --config %s --check-config: exit %d, stdout %q: %s", cmd, f, code, out, stderr)
			}
		})
	}
}

// TestConfigStrict checks that an unknown key or a wrong type is a usage error that
// names the file and the line, and that flags override the file.
func TestConfigStrict(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		args    []string
		body    string
		wantErr *regexp.Regexp
	}{
		{
			name:    "unknown key",
			args:    []string{"daemon"},
			body:    "listen: [127.0.0.1:4803]\nlisten_typo: x\n",
			wantErr: regexp.MustCompile(`unknown\.yaml.*line 2.*listen_typo`),
		},
		{
			name:    "wrong type",
			args:    []string{"daemon"},
			body:    "max_sessions: lots\n",
			wantErr: regexp.MustCompile(`wrong\.yaml.*line 1`),
		},
		{
			name:    "invalid value",
			args:    []string{"collect"},
			body:    "logs:\n  - group: www\n    path: \"{group}.log\"\ncompress: brotli\n",
			wantErr: regexp.MustCompile(`brotli`),
		},
		{
			name:    "hostile group",
			args:    []string{"collect"},
			body:    "logs:\n  - group: \"../etc\"\n    path: \"{group}.log\"\n",
			wantErr: regexp.MustCompile(`\.\./etc`),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := write(strings.Fields(tc.name)[0]+".yaml", tc.body)
			args := append(tc.args, "--config", file, "--check-config")
			code, _, stderr := runMain(t, "", args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !tc.wantErr.MatchString(stderr) {
				t.Errorf("stderr %q does not match %v", stderr, tc.wantErr)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, stderr)
			}
		})
	}
	t.Run("flag overrides file", func(t *testing.T) {
		file := write("override.yaml", "listen: [\"10.1.2.3:4803\"]\n")
		if code, _, stderr := runMain(t, "", "daemon", "--config", file, "--check-config"); code != exitUsage {
			t.Fatalf("non-loopback address from the file: exit %d, want %d (%s)", code, exitUsage, stderr)
		}
		if code, _, stderr := runMain(t, "", "daemon", "--config", file, "--listen", "127.0.0.1:4803", "--check-config"); code != exitOK {
			t.Fatalf("--listen should replace the file's list: exit %d (%s)", code, stderr)
		}
	})
}

// TestSpreadConf checks the sample spread.conf for the rules a real Spread daemon
// enforces: balanced braces, daemon names of at most 19 characters, each host with a
// daemon (D) and client (C) interface, and the cluster shape the README describes.
func TestSpreadConf(t *testing.T) {
	b, err := os.ReadFile("../../configs/spread.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)#.*$`).ReplaceAllString(string(b), "")
	if strings.Count(text, "{") != strings.Count(text, "}") {
		t.Fatal("unbalanced braces")
	}
	seg := regexp.MustCompile(`Spread_Segment\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s*\{`).FindStringSubmatch(text)
	if seg == nil || seg[2] != "4803" {
		t.Fatalf("no Spread_Segment on port 4803: %v", seg)
	}
	hosts := regexp.MustCompile(`(?m)^\s*(\S+)\s+(\d+\.\d+\.\d+\.\d+)\s*\{\s*D\s+(\S+)\s+C\s+(\S+)\s*\}`).FindAllStringSubmatch(text, -1)
	var web, log int
	for _, h := range hosts {
		if len(h[1]) > 19 {
			t.Errorf("daemon name %q longer than 19 characters", h[1])
		}
		if h[3] != h[2] {
			t.Errorf("host %s: daemon interface %s differs from its address %s", h[1], h[3], h[2])
		}
		if h[4] != "127.0.0.1" {
			t.Errorf("host %s: client interface %s is not loopback", h[1], h[4])
		}
		switch {
		case strings.HasPrefix(h[1], "web"):
			web++
		case strings.HasPrefix(h[1], "log"):
			log++
		}
	}
	if web != 3 || log != 2 {
		t.Errorf("found %d web hosts and %d collector hosts, want 3 and 2", web, log)
	}
}

// TestQuickstart runs README's quick start script with the test binary: collector with
// the embedded daemon, the sample log shipped on stdin, the segment compared with it.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline as processes")
	}
	cmd := exec.Command("bash", "../../configs/quickstart.sh")
	cmd.Env = append(os.Environ(), "LOGSPREAD="+testsupport.Binary(t), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("OK: the segment holds every line of the sample exactly once")) {
		t.Errorf("quickstart.sh did not confirm the result:\n%s", out)
	}
}
