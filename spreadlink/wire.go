package spreadlink

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Protocol sizes and limits of the Spread client protocol (see ../shared/spread/PROTOCOL.md).
const (
	// HeaderLen is the length of the fixed message header.
	HeaderLen = 48
	// GroupNameLen is the size of one group name slot (31 characters and a NUL).
	GroupNameLen = 32
	// MaxGroupName is the longest group name in characters.
	MaxGroupName = GroupNameLen - 1
	// MaxPrivateName is the longest private name a client may ask for.
	MaxPrivateName = 10
	// MaxProcName is the longest daemon name.
	MaxProcName = 19
	// MaxGroupsPerMessage is the most destination groups one message may name.
	MaxGroupsPerMessage = 100
	// MaxPayload bounds data_len + 32*num_groups. Real Spread 5.0.1 crashes above it
	// although its own check allows up to 143952; we never send or accept more.
	MaxPayload = 143152
	// MaxBody is the largest body for a message to one group.
	MaxBody = MaxPayload - GroupNameLen
	// AuthChoiceLen is the length of the client's authentication choice.
	AuthChoiceLen = 90
	// MembershipFlag in the hello asks the daemon for membership messages.
	MembershipFlag = 0x01
	// PriorityFlag in the hello is the (unused) priority bit.
	PriorityFlag = 0x10
)

// Library version we announce in the hello.
const (
	VersionMajor = 5
	VersionMinor = 0
	VersionPatch = 1
)

// Header is a decoded 48-byte message header. Service never carries the byte-order marker;
// the Little fields say which order the writer used for the type word and the hint.
type Header struct {
	Service    ServiceType
	Sender     [GroupNameLen]byte
	NumGroups  int32
	MessType   int16
	DataLen    int32
	Little     bool // type, num_groups and data_len were little-endian (marker set)
	HintLittle bool // the hint was written little-endian (sender's order)
	HintRaw    uint32
}

// SenderName returns the sender field up to its first NUL.
func (h *Header) SenderName() []byte { return slotName(h.Sender[:]) }

// IsLittle reports whether a 4-byte word written by a Spread peer carries the
// little-endian marker. A big-endian writer leaves bit 7 of its first byte clear.
func IsLittle(word []byte) bool { return word[0]&0x80 != 0 }

func order(little bool) binary.ByteOrder {
	if little {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// DecodeHeader decodes a 48-byte header. It checks only what is needed to read the
// rest of the frame safely: non-negative counts within the protocol's bounds.
func DecodeHeader(b []byte, h *Header) error {
	if len(b) < HeaderLen {
		return newError(IllegalMessage, "decode header", fmt.Sprintf("%d bytes, want %d", len(b), HeaderLen), nil)
	}
	h.Little = IsLittle(b[0:4])
	o := order(h.Little)
	h.Service = ServiceType(o.Uint32(b[0:4]) &^ endianMarker)
	copy(h.Sender[:], b[4:36])
	h.NumGroups = int32(o.Uint32(b[36:40]))
	h.HintRaw = binary.LittleEndian.Uint32(b[40:44])
	h.HintLittle = IsLittle(b[40:44])
	hint := order(h.HintLittle).Uint32(b[40:44])
	h.MessType = int16(hint >> 8)
	h.DataLen = int32(o.Uint32(b[44:48]))
	switch {
	case h.NumGroups < 0 || h.NumGroups > MaxGroupsPerMessage:
		return newError(IllegalMessage, "decode header", fmt.Sprintf("num_groups %d", h.NumGroups), nil)
	case h.DataLen < 0 || int64(h.DataLen)+int64(h.NumGroups)*GroupNameLen > MaxPayload+GroupNameLen+4:
		return newError(IllegalMessage, "decode header", fmt.Sprintf("data_len %d with %d groups", h.DataLen, h.NumGroups), nil)
	}
	return nil
}

// HintBits returns the hint bits outside the message type and the marker; a daemon
// drops a session that sets any.
func (h *Header) HintBits() uint32 {
	hint := order(h.HintLittle).Uint32(le32(h.HintRaw))
	return hint &^ (endianMarker | 0x00FFFF00)
}

func le32(v uint32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b[:]
}

// AppendHeader appends a little-endian header (marker set) to dst. sender is the
// private group name of the writer, or a group name for membership messages.
func AppendHeader(dst []byte, svc ServiceType, sender []byte, numGroups int, messType int16, dataLen int) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(svc)|endianMarker)
	dst = AppendGroupSlot(dst, sender)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(numGroups))
	dst = binary.LittleEndian.AppendUint32(dst, hintWord(messType))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(dataLen))
	return dst
}

// hintWord returns the little-endian hint for messType: the type in bits 8-23, plus the marker.
func hintWord(messType int16) uint32 {
	return endianMarker | uint32(uint16(messType))<<8
}

// AppendGroupSlot appends name NUL-padded to a 32-byte slot. Longer names are cut to 31 bytes.
func AppendGroupSlot(dst []byte, name []byte) []byte {
	var slot [GroupNameLen]byte
	copy(slot[:MaxGroupName], name)
	return append(dst, slot[:]...)
}

// slotName returns the bytes of a group slot up to its first NUL.
func slotName(slot []byte) []byte {
	if i := bytes.IndexByte(slot, 0); i >= 0 {
		return slot[:i]
	}
	return slot
}

// SlotName returns the name held in a 32-byte group slot (up to the first NUL; a slot
// without NUL yields 31 bytes, as the daemon forces byte 31 to NUL).
func SlotName(slot []byte) []byte {
	if len(slot) > MaxGroupName {
		slot = slot[:MaxGroupName]
	}
	return slotName(slot)
}

// ValidPrivateName reports whether name is acceptable as a requested private name:
// at most 10 bytes, each in 0x24..0x7E.
func ValidPrivateName(name string) bool {
	return len(name) <= MaxPrivateName && namedBytes(name)
}

// ValidGroupName reports whether name is a group a client may join or leave:
// 1..31 bytes, each in 0x24..0x7E (so no '#', space or control bytes).
func ValidGroupName(name string) bool {
	return len(name) >= 1 && len(name) <= MaxGroupName && namedBytes(name)
}

// CheckGroupName returns nil if name is a public group name: one a client may join,
// leave and multicast to. Spread's rule is 1..31 bytes, each in '$'..'~' (0x24..0x7E),
// so no space, no control byte and no '#', which starts private group names
// ("#name#daemon"). Otherwise it returns an *Error with Code IllegalGroup whose Detail
// says what is wrong in words fit for a user. ValidGroupName is the same rule as a
// bool, for hot paths.
func CheckGroupName(name string) error {
	if err := groupNameError("", name); err != nil {
		return err
	}
	return nil
}

// groupNameError is CheckGroupName for operation op, typed.
func groupNameError(op, name string) *Error {
	if ValidGroupName(name) {
		return nil
	}
	why := ""
	switch {
	case name == "":
		why = "empty"
	case name[0] == '#':
		why = "'#' starts private group names, which cannot be joined"
	case len(name) > MaxGroupName:
		why = fmt.Sprintf("%d characters, more than %d", len(name), MaxGroupName)
	default:
		for i := 0; i < len(name); i++ {
			if c := name[i]; c < 0x24 || c > 0x7E {
				why = fmt.Sprintf("%q at position %d is not allowed", name[i:i+1], i+1)
				break
			}
		}
	}
	return newError(IllegalGroup, op, fmt.Sprintf("group name %q: %s (want 1..%d characters of '$'..'~': no '#', spaces or control characters)",
		name, why, MaxGroupName), nil)
}

// validDestination reports whether name may appear as a multicast destination: a group
// name, or a private group "#name#daemon".
func validDestination(name string) bool {
	if ValidGroupName(name) {
		return true
	}
	if len(name) < 4 || len(name) > MaxGroupName || name[0] != '#' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; c != '#' && (c < 0x24 || c > 0x7E) {
			return false
		}
	}
	return true
}

func namedBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x24 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// GroupID identifies one view of a group: daemon id, membership timestamp, change counter.
type GroupID [3]int32

// String formats the id as a/b/c, as spuser prints it.
func (g GroupID) String() string { return fmt.Sprintf("%d/%d/%d", g[0], g[1], g[2]) }

// MembershipInfo is the decoded body of a membership message.
type MembershipInfo struct {
	// Group is the group whose membership changed.
	Group string
	// ID is the group id of the new view (of the old view for a transitional message).
	ID GroupID
	// Members lists the members after the change, in the daemon's order (regular only).
	Members []string
	// VSSets holds the virtual-synchrony sets: the members that moved together.
	VSSets [][]string
	// MyVSSet is the index in VSSets of the set at the offset the daemon gave for the receiver.
	MyVSSet int
	// Changed is the member that joined, left or disconnected (regular, non-network changes).
	Changed string
}

// AppendMembershipBody appends a little-endian membership body: the group id, the VS
// sets, and the offset of set mySet (counted from the first set).
func AppendMembershipBody(dst []byte, id GroupID, sets [][]string, mySet int) []byte {
	le := binary.LittleEndian
	for _, v := range id {
		dst = le.AppendUint32(dst, uint32(v))
	}
	dst = le.AppendUint32(dst, uint32(len(sets)))
	off := 0
	for i := 0; i < mySet && i < len(sets); i++ {
		off += 4 + len(sets[i])*GroupNameLen
	}
	dst = le.AppendUint32(dst, uint32(off))
	for _, set := range sets {
		dst = le.AppendUint32(dst, uint32(len(set)))
		for _, m := range set {
			dst = AppendGroupSlot(dst, []byte(m))
		}
	}
	return dst
}

// DecodeMembershipBody decodes a regular membership body written in the given order.
func DecodeMembershipBody(body []byte, little bool, info *MembershipInfo) error {
	bad := func(why string) error {
		return newError(IllegalMessage, "decode membership", why, nil)
	}
	if len(body) < 12 {
		return bad(fmt.Sprintf("body of %d bytes", len(body)))
	}
	o := order(little)
	for i := range info.ID {
		info.ID[i] = int32(o.Uint32(body[4*i:]))
	}
	info.VSSets = info.VSSets[:0]
	info.MyVSSet = -1
	if len(body) == 12 { // transitional: the group id only
		return nil
	}
	if len(body) < 20 {
		return bad(fmt.Sprintf("body of %d bytes", len(body)))
	}
	k := int(int32(o.Uint32(body[12:])))
	myOff := int(int32(o.Uint32(body[16:])))
	if k < 0 || k > len(body)/4 {
		return bad(fmt.Sprintf("%d vs sets", k))
	}
	p := 20
	for i := 0; i < k; i++ {
		if p+4 > len(body) {
			return bad("vs set past the end of the body")
		}
		if p-20 == myOff {
			info.MyVSSet = i
		}
		n := int(int32(o.Uint32(body[p:])))
		p += 4
		if n < 0 || n > (len(body)-p)/GroupNameLen {
			return bad(fmt.Sprintf("vs set of %d members", n))
		}
		set := make([]string, n)
		for j := range set {
			set[j] = string(SlotName(body[p : p+GroupNameLen]))
			p += GroupNameLen
		}
		info.VSSets = append(info.VSSets, set)
	}
	return nil
}

// AppendHello appends a client hello: version 5.0.1, flags, and the private name.
func AppendHello(dst []byte, name string, membership, priority bool) []byte {
	flags := byte(0)
	if membership {
		flags |= MembershipFlag
	}
	if priority {
		flags |= PriorityFlag
	}
	dst = append(dst, VersionMajor, VersionMinor, VersionPatch, flags, byte(len(name)))
	return append(dst, name...)
}

// AppendAuthChoice appends the 90-byte authentication choice naming method (e.g. "NULL").
func AppendAuthChoice(dst []byte, method string) []byte {
	var b [AuthChoiceLen]byte
	copy(b[:30], method)
	return append(dst, b[:]...)
}

// VersionNumber folds a version into Spread's major*10000+minor*100+patch.
func VersionNumber(major, minor, patch int) int { return major*10000 + minor*100 + patch }
