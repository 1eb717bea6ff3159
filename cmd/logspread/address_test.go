package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"go.yaml.in/yaml/v3"
)

// sampleInTemp writes the sample config name (configs/NAME) into dir with its system
// paths moved under root: /run/logspread (the socket), /var/lib/logspread, /var/log/...;
// metrics addresses become 127.0.0.1:0. It returns the new file.
func sampleInTemp(t *testing.T, name, run, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../configs", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"/run/logspread/", run+"/",
		"/var/lib/logspread/", root+"/lib/",
		"/var/log/logspread", root+"/out",
		"/var/log/apache2/", root+"/apache2/",
		"/var/log/nginx/", root+"/nginx/",
	).Replace(string(b))
	s = regexp.MustCompile(`(?m)^metrics_addr: .*$`).ReplaceAllString(s, "metrics_addr: 127.0.0.1:0")
	p := filepath.Join(root, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleSpread returns the spread key of a sample client config.
func sampleSpread(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../configs", name))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Spread string   `yaml:"spread"`
		Listen []string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != nil {
		return c.Listen[0]
	}
	return c.Spread
}

// TestSampleAddressesMeet starts the sample daemon config (its paths moved to a
// temporary directory) and connects with every sample client config: collector,
// every shipper, tail. A line from each shipper arrives at tail. The daemon's address
// is every client's default, and the units create its directory.
func TestSampleAddressesMeet(t *testing.T) {
	clients := []string{"collector.yaml", "shipper-files.yaml", "shipper-apache-pipe.yaml", "shipper-nginx.yaml", "tail.yaml"}
	if got := sampleSpread(t, "daemon.yaml"); got != defaultSpread {
		t.Errorf("daemon.yaml listens first on %s, want the default %s", got, defaultSpread)
	}
	for _, c := range clients {
		if got := sampleSpread(t, c); got != defaultSpread {
			t.Errorf("%s: spread %q, want the daemon's %s", c, got, defaultSpread)
		}
	}
	unit, err := os.ReadFile("../../systemd/logspread-daemon.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nRuntimeDirectory=logspread\n") || !strings.HasPrefix(defaultSpread, "unix:/run/logspread/") {
		t.Errorf("the daemon's unit does not create /run/logspread for %s", defaultSpread)
	}

	run, root := testsupport.SocketDir(t), t.TempDir()
	for _, d := range []string{"apache2", "nginx", "out", "lib"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.RemoveAll(run) // the daemon creates its socket directory
	d := testsupport.StartProcess(t, "daemon", "--config", sampleInTemp(t, "daemon.yaml", run, root))
	d.WaitLog(t, `msg=listening addr=unix:`+regexp.QuoteMeta(filepath.Join(run, "4803")))

	col := testsupport.StartProcess(t, "collect", "--config", sampleInTemp(t, "collector.yaml", run, root))
	col.WaitLog(t, `msg="joined all groups"`)
	tail := testsupport.StartProcess(t, "tail", "--config", sampleInTemp(t, "tail.yaml", run, root))
	tail.Stdout.WaitMatch(t, `# .* www: .*`)

	// Shippers that follow files: a line appended once they are connected.
	for _, tc := range []struct{ sample, file, line string }{
		{"shipper-files.yaml", "apache2/access.log", "line from shipper-files"},
		{"shipper-nginx.yaml", "nginx/access.log", "line from shipper-nginx"},
	} {
		file := filepath.Join(root, tc.file)
		os.WriteFile(file, nil, 0o644)
		p := testsupport.StartProcess(t, "ship", "--config", sampleInTemp(t, tc.sample, run, root))
		p.WaitLog(t, `msg="connected to the Spread daemon"`)
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(tc.line + "\n")
		f.Close()
		tail.Stdout.WaitMatch(t, regexp.QuoteMeta(tc.line))
	}
	// The piped shipper: a line on stdin, exit 0 once acknowledged.
	cmd := testsupport.Command(t, "ship", "--config", sampleInTemp(t, "shipper-apache-pipe.yaml", run, root))
	cmd.Stdin = strings.NewReader("line from shipper-apache-pipe\n")
	p := testsupport.Start(t, cmd)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("piped shipper: exit %d:\n%s", code, p.Stderr)
	}
	tail.Stdout.WaitMatch(t, "line from shipper-apache-pipe")
}
