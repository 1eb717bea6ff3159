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
// named placeholder of the reserved .invalid domain; with one, a real license. Either
// way the package ships /usr/share/doc/logspread/copyright (Debian policy 12.5) from
// packaging/copyright, in Debian's machine-readable format, with the same license.
func TestPackagingMetadata(t *testing.T) {
	b, err := os.ReadFile("../../packaging/nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Maintainer string `yaml:"maintainer"`
		License    string `yaml:"license"`
		Contents   []struct {
			Src  string `yaml:"src"`
			Dst  string `yaml:"dst"`
			Type string `yaml:"type"`
		} `yaml:"contents"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	copyright := ""
	for _, c := range cfg.Contents {
		if c.Dst == "/usr/share/doc/logspread/copyright" {
			copyright = c.Src
			if c.Type != "" {
				t.Errorf("copyright file of type %q: nfpm leaves typed doc and license files out of the .deb", c.Type)
			}
		}
	}
	if strings.Contains(cfg.Maintainer, "example.") {
		t.Errorf("maintainer %q names an example address: fill it in, or keep the .invalid placeholder", cfg.Maintainer)
	}
	if copyright != "packaging/copyright" {
		t.Fatalf("/usr/share/doc/logspread/copyright comes from %q, want packaging/copyright", copyright)
	}
	header, files := readDEP5(t, "../../packaging/copyright")
	if got, want := header["Format"], "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"; got != want {
		t.Errorf("packaging/copyright: Format %q, want %q", got, want)
	}
	if header["Upstream-Name"] != "logspread" {
		t.Errorf("packaging/copyright: Upstream-Name %q, want logspread", header["Upstream-Name"])
	}
	if files == nil {
		t.Fatal("packaging/copyright: no \"Files: *\" paragraph")
	}
	if files["Copyright"] == "" {
		t.Error("packaging/copyright: the \"Files: *\" paragraph has no Copyright")
	}
	if got := firstLine(files["License"]); got != cfg.License {
		t.Errorf("packaging/copyright: License %q, but nfpm.yaml says %q", got, cfg.License)
	}
	_, err = os.Stat("../../LICENSE")
	switch {
	case os.IsNotExist(err):
		if cfg.License != "NOASSERTION" {
			t.Errorf("license %q, but the repository has no LICENSE file: want NOASSERTION until one is chosen", cfg.License)
		}
		if files["Copyright"] != "NOASSERTION" {
			t.Errorf("packaging/copyright: Copyright %q, but nobody has stated one: want NOASSERTION", files["Copyright"])
		}
	case err != nil:
		t.Fatal(err)
	default:
		if cfg.License == "NOASSERTION" || cfg.License == "" {
			t.Errorf("LICENSE exists: put its SPDX identifier into packaging/nfpm.yaml's license and packaging/copyright")
		}
	}
}

// readDEP5 parses the Debian machine-readable copyright file at path and returns its
// header paragraph and its "Files: *" paragraph (nil if none), continuation lines
// joined with newlines. A line that is neither a field nor a continuation fails.
func readDEP5(t *testing.T, path string) (header, files map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, para := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
		fields := map[string]string{}
		last := ""
		for line := range strings.Lines(para) {
			line = strings.TrimSuffix(line, "\n")
			if strings.HasPrefix(line, " ") && last != "" {
				fields[last] += "\n" + strings.TrimPrefix(line, " ")
				continue
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				t.Fatalf("%s: %q is neither a field nor a continuation line", path, line)
			}
			last = name
			fields[name] = strings.TrimSpace(value)
		}
		switch {
		case i == 0:
			header = fields
		case fields["Files"] == "*":
			files = fields
		}
	}
	return header, files
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
