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

// TestPackagingMetadata: the package says nothing the repository does not: without a
// LICENSE file its license is NOASSERTION (SPDX: none asserted) and its maintainer the
// named placeholder of the reserved .invalid domain; with one, a real license and the
// file packaged as the copyright file.
func TestPackagingMetadata(t *testing.T) {
	b, err := os.ReadFile("../../packaging/nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Maintainer string `yaml:"maintainer"`
		License    string `yaml:"license"`
		Contents   []struct {
			Src string `yaml:"src"`
			Dst string `yaml:"dst"`
		} `yaml:"contents"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	copyright := ""
	for _, c := range cfg.Contents {
		if c.Dst == "/usr/share/doc/logspread/copyright" {
			copyright = c.Src
		}
	}
	if strings.Contains(cfg.Maintainer, "example.") {
		t.Errorf("maintainer %q names an example address: fill it in, or keep the .invalid placeholder", cfg.Maintainer)
	}
	_, err = os.Stat("../../LICENSE")
	switch {
	case os.IsNotExist(err):
		if cfg.License != "NOASSERTION" {
			t.Errorf("license %q, but the repository has no LICENSE file: want NOASSERTION until one is chosen", cfg.License)
		}
		if copyright != "" {
			t.Errorf("%s packaged as the copyright file, but there is no LICENSE file", copyright)
		}
	case err != nil:
		t.Fatal(err)
	default:
		if cfg.License == "NOASSERTION" || cfg.License == "" {
			t.Errorf("LICENSE exists: put its SPDX identifier into packaging/nfpm.yaml's license")
		}
		if copyright != "LICENSE" {
			t.Errorf("LICENSE exists: package it as /usr/share/doc/logspread/copyright")
		}
	}
}
