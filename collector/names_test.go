package collector

import (
	"errors"
	"strings"
	"testing"
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
