package segment

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sortLocales are the collations segment names must sort in time order under: byte
// order, and a common locale whose collation ignores or reorders punctuation.
var sortLocales = []string{"C", "en_US.UTF-8"}

// requireLocales fails (never skips) when a locale of sortLocales is not installed:
// without it, sort and ls fall back to byte order and the test would prove nothing.
// .ci/run generates en_US.UTF-8.
func requireLocales(t *testing.T) {
	t.Helper()
	out, err := exec.Command("locale", "-a").Output()
	if err != nil {
		t.Fatalf("locale -a: %v", err)
	}
	have := strings.ToLower(strings.ReplaceAll(string(out), "-", ""))
	for _, l := range sortLocales {
		if l != "C" && !strings.Contains(have, strings.ToLower(strings.ReplaceAll(l, "-", ""))) {
			t.Fatalf("locale %s is not installed (locale -a: %q): run 'localedef -i en_US -f UTF-8 en_US.UTF-8' as .ci/run does", l, out)
		}
	}
}

// collated returns the names in dir as `ls`, `sort` and a bash glob list them under
// locale, each one a list.
func collated(t *testing.T, dir, locale string, names []string) map[string][]string {
	t.Helper()
	env := append(os.Environ(), "LC_ALL="+locale)
	run := func(name string, stdin string, args ...string) []string {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("LC_ALL=%s %s %v: %v", locale, name, args, err)
		}
		return strings.Fields(string(out))
	}
	return map[string][]string{
		"ls":   run("ls", "", "-1"),
		"sort": run("sort", strings.Join(names, "\n")+"\n"),
		"glob": run("bash", "", "-c", `printf '%s\n' *`),
	}
}

// TestSegmentNamesSortUnderLocales: the segments a writer creates, one name after
// another (collision suffixes past 9 included) and period after period, are listed in
// the order they were written by ls, sort and a shell glob, under byte order and under
// en_US.UTF-8; concatenated in that order they give the lines in order. (The suffix
// inserted before the extension, "www.log_000001.zst", sorted first under en_US.UTF-8.)
func TestSegmentNamesSortUnderLocales(t *testing.T) {
	requireLocales(t)
	for _, tc := range []struct {
		tmpl string
		c    Compression
	}{
		{"www-%Y%m%d.log.zst", CompressZstd},
		{"www-%Y%m%d.log.gz", CompressGzip},
		{"www-%Y%m%d.log", CompressNone},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock()
			cfg := testSegmentConfig(t, tc.c, clk)
			cfg.RotateBytes = 1 // every frame closes its segment: the next one is suffixed
			w, err := NewWriter(RootFS(mustRoot(t, dir)), mustTemplate(t, tc.tmpl), Names{Group: "www"}, cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var written []string // segment names in write order
			var want strings.Builder
			line := 0
			for range 3 {
				for range 12 {
					l := "line " + strconv.Itoa(line) + "\n"
					want.WriteString(l)
					line++
					if err := write(w, []byte(l)); err != nil {
						t.Fatal(err)
					}
					if err := flush(w); err != nil {
						t.Fatal(err)
					}
					if s := w.Segment(); len(written) == 0 || written[len(written)-1] != s {
						written = append(written, s)
					}
				}
				clk.t = clk.t.Add(24 * time.Hour) // the next period: the next name
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if len(written) != 36 {
				t.Fatalf("%d segments, want 36: %v", len(written), written)
			}
			for _, locale := range sortLocales {
				for tool, got := range collated(t, dir, locale, written) {
					if !slices.Equal(got, written) {
						t.Errorf("LC_ALL=%s %s lists\n%v\nwant the write order\n%v", locale, tool, got, written)
						continue
					}
					var all strings.Builder
					for _, name := range got {
						out, err := catFile(t, filepath.Join(dir, name))
						if err != nil {
							t.Fatal(err)
						}
						all.WriteString(out)
					}
					if all.String() != want.String() {
						t.Errorf("LC_ALL=%s %s order: the segments concatenated are not the lines in order", locale, tool)
					}
				}
			}
		})
	}
}

// TestSegmentOlderNames: segments named by an older version (the suffix before the
// extension) stay readable and theirs: a writer continuing the last one appends to it
// by its old name, and the next segment is numbered after the highest old suffix, in
// the new form.
func TestSegmentOlderNames(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	cfg := testSegmentConfig(t, CompressZstd, clk)
	newWriter := func() *Writer {
		w, err := NewWriter(RootFS(mustRoot(t, dir)), mustTemplate(t, "www.log.zst"), Names{Group: "www"}, cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	// What an older version left: www.log.zst, then www.log_000001.zst, its last.
	w := newWriter()
	if err := write(w, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "www.log.zst"), filepath.Join(dir, "www.log_000001.zst")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www.log.zst"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	// Recovery hands the writer its last segment by the old name: it appends there.
	w = newWriter()
	w.Continue(Last{Segment: "www.log_000001.zst"})
	if err := write(w, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if got, err := catFile(t, filepath.Join(dir, "www.log_000001.zst")); err != nil || got != "one\ntwo\n" {
		t.Fatalf("www.log_000001.zst = %q, %v; want one, two", got, err)
	}
	// Without a last segment, a new one goes after the highest suffix, in the new form.
	w = newWriter()
	if err := write(w, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	if err := flushClose(w); err != nil {
		t.Fatal(err)
	}
	if got := w.Segment(); got != "www.log.zst_000002.zst" {
		t.Errorf("next segment %q, want www.log.zst_000002.zst", got)
	}
	if got, err := catFile(t, filepath.Join(dir, "www.log.zst_000002.zst")); err != nil || got != "three\n" {
		t.Errorf("www.log.zst_000002.zst = %q, %v", got, err)
	}
}

// mustRoot opens dir as an os.Root closed with the test.
func mustRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}
