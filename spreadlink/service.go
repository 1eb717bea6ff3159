package spreadlink

import (
	"strconv"
	"strings"
)

// ServiceType is a Spread service type: the service level of a data message, or the kind
// and cause of a membership message, plus flags. It never includes the byte-order marker.
type ServiceType uint32

// Service levels and flags a client may send.
const (
	Unreliable  ServiceType = 0x00000001
	Reliable    ServiceType = 0x00000002
	FIFO        ServiceType = 0x00000004
	Causal      ServiceType = 0x00000008
	Agreed      ServiceType = 0x00000010
	Safe        ServiceType = 0x00000020
	SelfDiscard ServiceType = 0x00000040
)

// Bits of delivered membership messages and control requests.
const (
	CausedByJoin       ServiceType = 0x00000100
	CausedByLeave      ServiceType = 0x00000200
	CausedByDisconnect ServiceType = 0x00000400
	CausedByNetwork    ServiceType = 0x00000800
	RegMemb            ServiceType = 0x00001000
	Transition         ServiceType = 0x00002000
	JoinMess           ServiceType = 0x00010000
	LeaveMess          ServiceType = 0x00020000
	KillMess           ServiceType = 0x00040000
	RejectMess         ServiceType = 0x00400000

	// RegularMask covers the six service levels.
	RegularMask ServiceType = 0x0000003F
	// MembershipMask covers the membership kinds and causes.
	MembershipMask ServiceType = 0x00003F00
)

// endianMarker is the ENDIAN_RESERVED pattern a little-endian writer sets in type and hint.
const endianMarker uint32 = 0x80000080

// IsRegular reports whether t is a data message (and not a reject).
func (t ServiceType) IsRegular() bool { return t&RegularMask != 0 && t&RejectMess == 0 }

// IsMembership reports whether t is a membership message (and not a reject).
func (t ServiceType) IsMembership() bool { return t&MembershipMask != 0 && t&RejectMess == 0 }

// IsRegMemb reports whether t is a regular membership message.
func (t ServiceType) IsRegMemb() bool { return t.IsMembership() && t&RegMemb != 0 }

// IsTransition reports whether t is a transitional membership message.
func (t ServiceType) IsTransition() bool { return t.IsMembership() && t&Transition != 0 }

// IsSelfLeave reports whether t is the notice a session gets for its own leave.
func (t ServiceType) IsSelfLeave() bool {
	return t.IsMembership() && t&CausedByLeave != 0 && t&(RegMemb|Transition) == 0
}

// IsReject reports whether t is a message the daemon rejected and sent back.
func (t ServiceType) IsReject() bool { return t&RejectMess != 0 }

// Level returns the single service level bit of t, or 0.
func (t ServiceType) Level() ServiceType { return t & RegularMask }

// validSend reports whether t is acceptable to a daemon as a multicast service type:
// exactly one service level, optionally SelfDiscard, nothing else.
func (t ServiceType) validSend() bool {
	lvl := t & RegularMask
	return lvl != 0 && lvl&(lvl-1) == 0 && t&^(RegularMask|SelfDiscard) == 0
}

var serviceNames = []struct {
	bit  ServiceType
	name string
}{
	{Unreliable, "UNRELIABLE"}, {Reliable, "RELIABLE"}, {FIFO, "FIFO"}, {Causal, "CAUSAL"},
	{Agreed, "AGREED"}, {Safe, "SAFE"}, {SelfDiscard, "SELF_DISCARD"},
	{CausedByJoin, "CAUSED_BY_JOIN"}, {CausedByLeave, "CAUSED_BY_LEAVE"},
	{CausedByDisconnect, "CAUSED_BY_DISCONNECT"}, {CausedByNetwork, "CAUSED_BY_NETWORK"},
	{RegMemb, "REG_MEMB"}, {Transition, "TRANSITION"}, {JoinMess, "JOIN"}, {LeaveMess, "LEAVE"},
	{KillMess, "KILL"}, {RejectMess, "REJECT"},
}

// String returns the names of the bits set in t, joined by '|'.
func (t ServiceType) String() string {
	var parts []string
	rest := t
	for _, n := range serviceNames {
		if t&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 || len(parts) == 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// ParseService maps a service level name (agreed, safe, fifo, reliable, unreliable,
// causal; any case) to its ServiceType.
func ParseService(s string) (ServiceType, error) {
	switch strings.ToLower(s) {
	case "agreed":
		return Agreed, nil
	case "safe":
		return Safe, nil
	case "fifo":
		return FIFO, nil
	case "reliable":
		return Reliable, nil
	case "unreliable":
		return Unreliable, nil
	case "causal":
		return Causal, nil
	}
	return 0, &Error{Code: IllegalService, Op: "parse service", Detail: "unknown service " + strconv.Quote(s)}
}
