package envelope

import "math/rand/v2"

// Private-name prefixes of logspread's Spread sessions. A shipper counts as collectors
// the members of the presence group (PresenceGroup) whose private name starts with
// CollectorPrefix; every other member (shippers, `logspread tail`, tools) is ignored.
const (
	// CollectorPrefix starts the private name of every collector session.
	CollectorPrefix = 'c'
	// ShipperPrefix starts the private name of every shipper session.
	ShipperPrefix = 's'
)

// maxPresenceBase is how much of a group name PresenceGroup keeps, so that the presence
// group fits Spread's 31-character group names.
const maxPresenceBase = 30

// PresenceGroup returns the presence group of log group g: "~" followed by g, cut to
// its first 30 bytes so that the result is a valid Spread group name (at most 31
// bytes). Collectors join it after g; shippers join it to watch its membership and
// hold their checkpoints while no collector is a member. Two groups that share their
// first 30 bytes share one presence group (a collector of one then counts for the
// other).
func PresenceGroup(g string) string {
	if len(g) > maxPresenceBase {
		g = g[:maxPresenceBase]
	}
	return "~" + g
}

// MemberName returns the private name of a member as listed in a membership message
// ("#name#daemon"), or "" when member is not a private group.
func MemberName(member string) string {
	if len(member) < 2 || member[0] != '#' {
		return ""
	}
	for i := 1; i < len(member); i++ {
		if member[i] == '#' {
			return member[1:i]
		}
	}
	return ""
}

// IsCollector reports whether member ("#name#daemon") is a collector session: its
// private name starts with CollectorPrefix.
func IsCollector(member string) bool {
	n := MemberName(member)
	return n != "" && n[0] == CollectorPrefix
}

// IsShipper reports whether member ("#name#daemon") is a shipper session: its private
// name starts with ShipperPrefix. Collectors send their hello progress report again
// when one joins the presence group, so that it learns their names at once.
func IsShipper(member string) bool {
	n := MemberName(member)
	return n != "" && n[0] == ShipperPrefix
}

// CountCollectors returns how many of members are collector sessions (IsCollector).
func CountCollectors(members []string) int {
	n := 0
	for _, m := range members {
		if IsCollector(m) {
			n++
		}
	}
	return n
}

const nameChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// RandomPrivateName returns prefix followed by 8 random characters of [a-z0-9]: a
// private name of 9 bytes (Spread allows 10), unique with overwhelming probability.
// Shippers use ShipperPrefix, collectors CollectorPrefix.
func RandomPrivateName(prefix byte) string {
	var b [9]byte
	b[0] = prefix
	for i := 1; i < len(b); i++ {
		b[i] = nameChars[rand.N(len(nameChars))]
	}
	return string(b[:])
}
