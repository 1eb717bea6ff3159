package collector

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateGroup(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "simple", in: "www", ok: true},
		{name: "spread charset edges", in: "$~", ok: true},
		{name: "max length", in: strings.Repeat("g", 31), ok: true},
		{name: "empty", in: ""},
		{name: "too long", in: strings.Repeat("g", 32)},
		{name: "slash", in: "a/b"},
		{name: "dotdot path", in: "../../etc/passwd"},
		{name: "absolute", in: "/abs"},
		{name: "backslash", in: `a\b`},
		{name: "leading dot", in: ".hidden"},
		{name: "dotdot inside", in: "a..b"},
		{name: "NUL", in: "a\x00b"},
		{name: "space", in: "a b"},
		{name: "hash (private group)", in: "#priv#host"},
		{name: "high byte", in: "caf\xc3\xa9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateGroup(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateGroup(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadName) {
					t.Errorf("error %v does not wrap ErrBadName", err)
				}
				if ne, ok := errors.AsType[*NameError](err); !ok || ne.Kind != "group" {
					t.Errorf("error %v is not a group *NameError", err)
				}
			}
		})
	}
}

func TestValidateVhost(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "host", in: "www.example.com", ok: true},
		{name: "host and port", in: "www.example.com:8080", ok: true},
		{name: "underscore", in: "_default_", ok: true},
		{name: "empty", in: ""},
		{name: "too long", in: strings.Repeat("a", 254)},
		{name: "slash", in: "a/b"},
		{name: "traversal", in: "a/../../b"},
		{name: "dotdot", in: ".."},
		{name: "leading dot", in: ".example.com"},
		{name: "percent", in: "%Y"},
		{name: "brace", in: "{group}"},
		{name: "NUL", in: "a\x00"},
		{name: "newline", in: "a\nb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateVhost(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateVhost(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadName) {
				t.Errorf("error %v does not wrap ErrBadName", err)
			}
		})
	}
}

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
