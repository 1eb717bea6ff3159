package layering

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// archDoc is the document that holds the layering table, relative to the module root.
const archDoc = "docs/ARCHITECTURE.md"

// tableHeader is the header line of the layering table in archDoc.
const tableHeader = "| package | owns | may import | third-party modules |"

const testsupport = "internal/testsupport"

// row is one row of the layering table.
type row struct {
	dir      string
	all      bool     // may import every package of the module (but internal/testsupport)
	internal bool     // may import internal/... (but internal/testsupport)
	imports  []string // rows (directories) it may import
	any      bool     // may import every third-party module
	modules  []string // third-party modules it may import
}

// pkg is what the check needs of one package of the module.
type pkg struct {
	dir     string   // relative to the module root
	imports []string // import paths of its non-test files
}

// layout is the module as the check sees it.
type layout struct {
	module   string            // module path
	pkgs     []pkg             // the module's packages
	std      map[string]bool   // import paths of the standard library
	moduleOf map[string]string // third-party import path -> module path
}

// parseTable reads the layering table from the markdown document r.
func parseTable(r io.Reader) (map[string]*row, error) {
	rows := map[string]*row{}
	sc := bufio.NewScanner(r)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == tableHeader:
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "|---"):
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 6 {
			return nil, fmt.Errorf("table row %q: want 4 cells", line)
		}
		rw := &row{dir: strings.Trim(strings.TrimSpace(cells[1]), "`")}
		for _, tok := range list(cells[3]) {
			switch tok {
			case "stdlib":
			case "all":
				rw.all = true
			case "internal/...":
				rw.internal = true
			default:
				rw.imports = append(rw.imports, tok)
			}
		}
		for _, tok := range list(cells[4]) {
			switch tok {
			case "none":
			case "any":
				rw.any = true
			default:
				rw.modules = append(rw.modules, tok)
			}
		}
		if rows[rw.dir] != nil {
			return nil, fmt.Errorf("package %s has two rows", rw.dir)
		}
		rows[rw.dir] = rw
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no table with the header %q", tableHeader)
	}
	for _, rw := range rows {
		for _, imp := range rw.imports {
			if rows[imp] == nil {
				return nil, fmt.Errorf("row %s: may import %s, which has no row", rw.dir, imp)
			}
		}
	}
	return rows, nil
}

// list splits a table cell into its comma-separated items, without backticks.
func list(cell string) []string {
	var out []string
	for item := range strings.SplitSeq(cell, ",") {
		if item = strings.Trim(strings.TrimSpace(item), "`"); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// rowOf returns the row of the package in dir: its own, or its nearest parent's.
func rowOf(rows map[string]*row, dir string) *row {
	for d := dir; d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if rw := rows[d]; rw != nil {
			return rw
		}
	}
	return nil
}

func under(dir, root string) bool { return dir == root || strings.HasPrefix(dir, root+"/") }

// check returns every import of the module's packages that the table does not allow.
func check(rows map[string]*row, lay layout) []string {
	var bad []string
	for _, p := range lay.pkgs {
		rw := rowOf(rows, p.dir)
		if rw == nil {
			bad = append(bad, fmt.Sprintf("%s has no row in %s", p.dir, archDoc))
			continue
		}
		for _, imp := range p.imports {
			if why := forbidden(rows, lay, rw, imp); why != "" {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.dir, imp, why))
			}
		}
	}
	return bad
}

// forbidden says why a package of row own may not import imp, or "".
func forbidden(rows map[string]*row, lay layout, own *row, imp string) string {
	if lay.std[imp] {
		return ""
	}
	if dir, ok := strings.CutPrefix(imp, lay.module+"/"); ok {
		if under(dir, testsupport) {
			return "only tests may import " + testsupport
		}
		target := rowOf(rows, dir)
		if target == own {
			return ""
		}
		switch {
		case own.all:
			return ""
		case own.internal && under(dir, "internal"):
			return ""
		case target != nil && slices.Contains(own.imports, target.dir):
			return ""
		}
		return fmt.Sprintf("%s's row in %s does not list it", own.dir, archDoc)
	}
	mod := lay.moduleOf[imp]
	if own.any || slices.Contains(own.modules, mod) {
		return ""
	}
	return fmt.Sprintf("module %s is not among %s's third-party modules in %s", mod, own.dir, archDoc)
}

// goList reads the module's packages and their dependencies with go list.
func goList(t *testing.T, root string) layout {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Module,Imports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	mcmd := exec.Command("go", "list", "-m", "-f", "{{.Path}}")
	mcmd.Dir = root
	modOut, err := mcmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	lay := layout{module: strings.TrimSpace(string(modOut)), std: map[string]bool{}, moduleOf: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Standard   bool
			Module     *struct{ Path string }
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		switch {
		case p.Standard:
			lay.std[p.ImportPath] = true
		case p.Module != nil && p.Module.Path == lay.module:
			dir := strings.TrimPrefix(p.ImportPath, lay.module+"/")
			lay.pkgs = append(lay.pkgs, pkg{dir: dir, imports: p.Imports})
		case p.Module != nil:
			lay.moduleOf[p.ImportPath] = p.Module.Path
		}
	}
	return lay
}

// TestLayering checks the imports of every package of the module against the table in
// docs/ARCHITECTURE.md.
func TestLayering(t *testing.T) {
	root := "../.."
	f, err := os.Open(root + "/" + archDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := parseTable(f)
	if err != nil {
		t.Fatalf("%s: %v", archDoc, err)
	}
	for _, want := range []string{"spreadlink", "spreadlink/daemon", "formats", "formats/envelope", "shipper/source",
		"shipper", "collector/segment", "collector", "cmd/logspread", "bench", testsupport} {
		if rows[want] == nil {
			t.Errorf("%s has no row for %s", archDoc, want)
		}
	}
	lay := goList(t, root)
	if len(lay.pkgs) < 10 {
		t.Fatalf("go list found %d packages of %s", len(lay.pkgs), lay.module)
	}
	for _, b := range check(rows, lay) {
		t.Error(b)
	}
}

// TestCheck runs the check on made-up modules: it must catch what the table forbids.
func TestCheck(t *testing.T) {
	const table = tableHeader + `
|---|---|---|---|
| ` + "`a`" + ` | a | stdlib | none |
| ` + "`b`" + ` | b | ` + "`a`, `internal/...`" + ` | ` + "`example.com/lib`" + ` |
| ` + "`cmd`" + ` | | all | any |
| ` + "`internal/testsupport`" + ` | | all | any |
| ` + "`internal`" + ` | | ` + "`internal/...`" + ` | none |
`
	rows, err := parseTable(strings.NewReader("# doc\n\n" + table + "\nafter\n"))
	if err != nil {
		t.Fatal(err)
	}
	lay := func(pkgs ...pkg) layout {
		return layout{module: "m", pkgs: pkgs, std: map[string]bool{"fmt": true},
			moduleOf: map[string]string{"example.com/lib/x": "example.com/lib", "example.com/watch": "example.com/watch"}}
	}
	for _, tc := range []struct {
		name string
		lay  layout
		bad  int
	}{
		{name: "allowed", lay: lay(pkg{dir: "a", imports: []string{"fmt"}}, pkg{dir: "b", imports: []string{"m/a", "m/internal/x", "example.com/lib/x"}},
			pkg{dir: "cmd/tool", imports: []string{"m/b", "example.com/watch"}}, pkg{dir: "internal/x"}), bad: 0},
		{name: "upward import", lay: lay(pkg{dir: "a", imports: []string{"m/b"}}, pkg{dir: "b"}), bad: 1},
		{name: "third party", lay: lay(pkg{dir: "a", imports: []string{"example.com/lib/x"}}), bad: 1},
		{name: "testsupport outside tests", lay: lay(pkg{dir: "cmd", imports: []string{"m/internal/testsupport"}}), bad: 1},
		{name: "no row", lay: lay(pkg{dir: "z"}), bad: 1},
		{name: "module not in the row", lay: lay(pkg{dir: "b", imports: []string{"example.com/watch"}}), bad: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := check(rows, tc.lay)
			if len(got) != tc.bad {
				t.Errorf("got %d violations, want %d: %q", len(got), tc.bad, got)
			}
		})
	}
}
