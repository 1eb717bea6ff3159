package segment

import (
	"errors"
	"testing"
	"time"
)

func TestParseTemplateRejects(t *testing.T) {
	for _, s := range []string{"", "/abs/{group}", "a/../b", "../x", "a//b", "./a", "a/", `a\b`, "a\x00", "x%", "x%Q", "a/./b"} {
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
		got, err := tp.Expand(tc.group, tc.vhost, tm)
		if err != nil {
			t.Fatalf("Expand(%q): %v", tc.tmpl, err)
		}
		if got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	tp, _ := ParseTemplate("{vhost}.log")
	if _, err := tp.Expand("www", "../x", tm); !errors.Is(err, ErrBadName) {
		t.Errorf("hostile vhost: %v, want ErrBadName", err)
	}
	if _, err := tp.Expand("www", "", tm); !errors.Is(err, ErrBadName) {
		t.Errorf("empty vhost with {vhost}: %v, want ErrBadName", err)
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
		if _, err := tp.Expand(name, name, tm); err != nil {
			t.Errorf("Expand(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "a\x00b", "a\nb", "a\x7fb"} {
		if _, err := tp.Expand(name, "v", tm); !errors.Is(err, ErrBadName) {
			t.Errorf("Expand with group %q: %v, want ErrBadName", name, err)
		}
		if _, err := tp.Expand("www", name, tm); !errors.Is(err, ErrBadName) {
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
		{"www.log.zst", 1, "www.log.1.zst"},
		{"d/www.log.gz", 2, "d/www.log.2.gz"},
		{"www.log", 3, "www.log.3"},
		{".zst", 1, ".zst.1"},
	}
	for _, tc := range tests {
		if got := suffixed(tc.in, tc.n); got != tc.want {
			t.Errorf("suffixed(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
