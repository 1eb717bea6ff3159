package segment

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTemplateRejects(t *testing.T) {
	for _, s := range []string{"", "a/../b", "../x", "a//b", "./a", "a/", `a\b`, "a\x00", "x%", "x%Q", "a/./b"} {
		if _, err := ParseTemplate(s); !errors.Is(err, ErrBadTemplate) {
			t.Errorf("ParseTemplate(%q) = %v, want ErrBadTemplate", s, err)
		}
	}
}

func TestTemplateExpand(t *testing.T) {
	tm := time.Date(2026, time.March, 5, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		tmpl, group, vhost, want string
	}{
		{"{group}-%Y%m%d-%H%M%S.log.zst", "www", "", "www-20260305-070809.log.zst"},
		{"{group}/%Y/%j/{vhost}.log", "www", "a.example:80", "www/2026/064/a.example:80.log"},
		{"%y %e %I%p %a %b %u %F %T %z %s %%", "g", "", "26  5 07AM Thu Mar 4 2026-03-05 07:08:09 +0000 1772694489 %"},
		// Names are substituted once: a group that looks like a field stays literal.
		{"{group}.log", "%Y{vhost}", "", "%Y{vhost}.log"},
	}
	for _, tc := range tests {
		tp, err := ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", tc.tmpl, err)
		}
		got, err := tp.Expand(Names{Group: tc.group, Vhost: tc.vhost}, tm)
		if err != nil {
			t.Fatalf("Expand(%q): %v", tc.tmpl, err)
		}
		if got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	tp, _ := ParseTemplate("{vhost}.log")
	if _, err := tp.Expand(Names{Group: "www", Vhost: "../x"}, tm); !errors.Is(err, ErrBadName) {
		t.Errorf("hostile vhost: %v, want ErrBadName", err)
	}
	if _, err := tp.Expand(Names{Group: "www"}, tm); !errors.Is(err, ErrBadName) {
		t.Errorf("empty vhost with {vhost}: %v, want ErrBadName", err)
	}
	tp, err := ParseTemplate("{group}/{host}/{vhost}-%F.log")
	if err != nil {
		t.Fatal(err)
	}
	if !tp.UsesHost() || !tp.UsesVhost() {
		t.Errorf("UsesHost %v, UsesVhost %v, want both", tp.UsesHost(), tp.UsesVhost())
	}
	if got, err := tp.Expand(Names{Group: "www", Vhost: "a.example", Host: "web1"}, tm); err != nil || got != "www/web1/a.example-2026-03-05.log" {
		t.Errorf("Expand with a host = %q, %v", got, err)
	}
	for _, host := range []string{"", "..", "../x", ".hidden", "a/b", "a\nb"} {
		if _, err := tp.Expand(Names{Group: "www", Vhost: "v", Host: host}, tm); !errors.Is(err, ErrBadName) {
			t.Errorf("host %q with {host}: %v, want ErrBadName", host, err)
		}
	}
	if tp, _ := ParseTemplate("{group}.log"); tp.UsesHost() {
		t.Error("UsesHost without {host}")
	}
}

// TestExpandNames pins the names a Template accepts for {group} and {vhost}: any one
// file name component that stays in its directory (the collector is stricter).
func TestExpandNames(t *testing.T) {
	tm := time.Date(2026, time.March, 5, 7, 8, 9, 0, time.UTC)
	tp, err := ParseTemplate("{group}/{vhost}.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"www", "a..b", "a b", "%Y{vhost}", "caf\xc3\xa9", "x~"} {
		if _, err := tp.Expand(Names{Group: name, Vhost: name}, tm); err != nil {
			t.Errorf("Expand(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "a\x00b", "a\nb", "a\x7fb"} {
		if _, err := tp.Expand(Names{Group: name, Vhost: "v"}, tm); !errors.Is(err, ErrBadName) {
			t.Errorf("Expand with group %q: %v, want ErrBadName", name, err)
		}
		if _, err := tp.Expand(Names{Group: "www", Vhost: name}, tm); !errors.Is(err, ErrBadName) {
			t.Errorf("Expand with vhost %q: %v, want ErrBadName", name, err)
		}
	}
}

func TestSuffixed(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"www.log.zst", 1, "www.log.zst_000001.zst"},
		{"d/www.log.gz", 2, "d/www.log.gz_000002.gz"},
		{"www.log", 3, "www.log_000003"},
		{".zst", 1, ".zst_000001"},
		{"a.zstd", 999999, "a.zstd_999999.zstd"},
	}
	for _, tc := range tests {
		got := suffixed(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("suffixed(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if n, ok := suffixOf(tc.in, got); !ok || n != tc.n {
			t.Errorf("suffixOf(%q, %q) = %d, %v; want %d", tc.in, got, n, ok, tc.n)
		}
	}
	// Names an older version gave the segments (the suffix before the extension) are
	// still theirs: recovery and numbering go on from them.
	for name, want := range map[string]int{"www.log_000001.zst": 1, "www.log_000042.zst": 42} {
		if n, ok := suffixOf("www.log.zst", name); !ok || n != want {
			t.Errorf("suffixOf(www.log.zst, %q) = %d, %v; want %d (an older version's name)", name, n, ok, want)
		}
	}
	for _, name := range []string{"www.log_1.zst", "www.log_00000x.zst", "www.log.zst.1", "www.log_-00001.zst", "www.lo_000001.zst",
		"www.log.zst_000001.gz", "www.log.zst_000001", "www.log.zst_00001.zst", "www.log.zst_000001.zst.zst"} {
		if n, ok := suffixOf("www.log.zst", name); ok {
			t.Errorf("suffixOf(www.log.zst, %q) = %d, want not a suffix", name, n)
		}
	}
}

// TestSuffixSortsInTimeOrder: a shell glob (byte order) lists a name's segments in the
// order they were created, and the periods of a time template in time order.
func TestSuffixSortsInTimeOrder(t *testing.T) {
	for _, base := range []string{"www.log.zst", "www.log", "w/x-20261130.log.gz", "a.zstd"} {
		names := []string{base}
		for n := 1; n <= 12; n++ {
			names = append(names, suffixed(base, n))
		}
		if !slices.IsSorted(names) {
			t.Errorf("segments of %s do not sort in creation order: %v", base, names)
		}
	}
	names := []string{"www-20261130.log.zst", suffixed("www-20261130.log.zst", 1), suffixed("www-20261130.log.zst", 2), "www-20261201.log.zst", suffixed("www-20261201.log.zst", 1)}
	if !slices.IsSorted(names) {
		t.Errorf("periods do not sort in time order: %v", names)
	}
}

func TestTemplateFieldsAndRoot(t *testing.T) {
	for _, s := range []string{"{hostname}.log", "{Group}.log", "{vhost}/{x_1}.log"} {
		if _, err := ParseTemplate(s); !errors.Is(err, ErrBadTemplate) || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("ParseTemplate(%q) = %v, want an unknown field error", s, err)
		}
	}
	for _, s := range []string{"{}.log", "a{b.log", "{a-b}.log", "x}{.log"} {
		if _, err := ParseTemplate(s); err != nil {
			t.Errorf("ParseTemplate(%q) = %v: braces that are no field are literal", s, err)
		}
	}
	tm := time.Date(2026, time.November, 30, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ tmpl, root, name string }{
		{"/var/log/central/www-%Y%m%d.log.zst", "/var/log/central", "/var/log/central/www-20261130.log.zst"},
		{"/var/log/{group}/%Y/x.log", "/var/log", "/var/log/www/2026/x.log"},
		{"/x.log", "/", "/x.log"},
		{"rel/{group}.log", "", "rel/www.log"},
	} {
		tp, err := ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", tc.tmpl, err)
		}
		got, err := tp.Expand(Names{Group: "www"}, tm)
		if tp.Root() != tc.root || got != tc.name || err != nil {
			t.Errorf("%q: Root %q, Expand %q, %v; want %q, %q", tc.tmpl, tp.Root(), got, err, tc.root, tc.name)
		}
	}
	for _, s := range []string{"/var/../x/{group}.log", "/var//x.log", "/var/./x.log"} {
		if _, err := ParseTemplate(s); !errors.Is(err, ErrBadTemplate) {
			t.Errorf("ParseTemplate(%q) = %v, want ErrBadTemplate", s, err)
		}
	}
}
