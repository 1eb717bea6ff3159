package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestPackagingContents checks packaging/nfpm.yaml against the tree: every file it
// packages exists, every unit of systemd/ is packaged, and everything under /etc is a
// conffile (config|noreplace). packaging/check-deb.sh (CI) builds and installs it.
func TestPackagingContents(t *testing.T) {
	b, err := os.ReadFile("../../packaging/nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Contents []struct {
			Src  string `yaml:"src"`
			Dst  string `yaml:"dst"`
			Type string `yaml:"type"`
		} `yaml:"contents"`
		Scripts map[string]string `yaml:"scripts"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	dsts := map[string]bool{}
	for _, c := range cfg.Contents {
		dsts[c.Dst] = true
		src := c.Src
		if stage, ok := strings.CutPrefix(src, "dist/stage/"); ok { // build.sh stages the binary and the units
			if stage == "logspread" {
				continue
			}
			src = "systemd/" + stage
		}
		if _, err := os.Stat(filepath.Join("../..", src)); err != nil {
			t.Errorf("packaged file %s: %v", c.Src, err)
		}
		if strings.HasPrefix(c.Dst, "/etc/") && c.Type != "config|noreplace" {
			t.Errorf("%s is not marked as a conffile (type: config|noreplace)", c.Dst)
		}
	}
	units, _ := filepath.Glob("../../systemd/*.service")
	if len(units) != 3 {
		t.Errorf("%d units in systemd/, want 3", len(units))
	}
	for _, u := range units {
		if dst := "/usr/lib/systemd/system/" + filepath.Base(u); !dsts[dst] {
			t.Errorf("unit %s is not packaged as %s", filepath.Base(u), dst)
		}
	}
	for _, want := range []string{"/usr/bin/logspread", "/etc/logspread/daemon.yaml", "/etc/logspread/collector.yaml", "/usr/share/doc/logspread/examples/logrotate/logspread-collector"} {
		if !dsts[want] {
			t.Errorf("%s is not packaged", want)
		}
	}
	for name, script := range cfg.Scripts {
		if _, err := os.Stat(filepath.Join("../..", script)); err != nil {
			t.Errorf("script %s: %v", name, err)
		}
	}
}
