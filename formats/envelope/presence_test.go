package envelope

import (
	"strings"
	"testing"
)

func TestPresenceGroup(t *testing.T) {
	for _, tc := range []struct{ g, want string }{
		{"www", "~www"},
		{strings.Repeat("g", 30), "~" + strings.Repeat("g", 30)},
		{strings.Repeat("g", 31), "~" + strings.Repeat("g", 30)},
		{strings.Repeat("a", 29) + "xyz", "~" + strings.Repeat("a", 29) + "x"},
	} {
		got := PresenceGroup(tc.g)
		if got != tc.want || len(got) > 31 {
			t.Errorf("PresenceGroup(%q) = %q, want %q (at most 31 bytes)", tc.g, got, tc.want)
		}
	}
}

func TestCollectorMembers(t *testing.T) {
	members := []string{"#c1a2b3c4d#localhost", "#s9x8y7z6w#localhost", "#r12-3#localhost", "#cap#d1", "#c#x", "nohash", "#", "#open", "c#x#y"}
	want := map[string]bool{"#c1a2b3c4d#localhost": true, "#cap#d1": true, "#c#x": true}
	for _, m := range members {
		if got := IsCollector(m); got != want[m] {
			t.Errorf("IsCollector(%q) = %v", m, got)
		}
	}
	shippers := map[string]bool{"#s9x8y7z6w#localhost": true}
	for _, m := range members {
		if got := IsShipper(m); got != shippers[m] {
			t.Errorf("IsShipper(%q) = %v", m, got)
		}
	}
	if n := CountCollectors(members); n != 3 {
		t.Errorf("CountCollectors = %d, want 3", n)
	}
	if n := MemberName("#abc#host"); n != "abc" {
		t.Errorf("MemberName = %q", n)
	}
}

func TestRandomPrivateName(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := RandomPrivateName(CollectorPrefix)
		if len(n) != 9 || n[0] != 'c' || strings.Trim(n[1:], nameChars) != "" {
			t.Fatalf("name %q", n)
		}
		if seen[n] {
			t.Fatalf("name %q twice", n)
		}
		seen[n] = true
	}
	if n := RandomPrivateName(ShipperPrefix); n[0] != 's' {
		t.Errorf("shipper name %q", n)
	}
}
