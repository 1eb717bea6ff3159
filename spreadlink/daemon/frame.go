package daemon

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/logspread/logspread/spreadlink"
)

const (
	endianMarker = 0x80000080
	// hintAllowed are the hint bits a client may set: the marker and the message type.
	hintAllowed = endianMarker | 0x00FFFF00
	// deliverMask are the type bits kept on a delivered data message. Spread does not
	// check other bits (PROTOCOL.md §5.1) and passes them on; we drop them, so that a
	// receiver never mistakes a data message for a membership or reject message.
	deliverMask = spreadlink.RegularMask | spreadlink.SelfDiscard
	controlMask = spreadlink.JoinMess | spreadlink.LeaveMess | spreadlink.KillMess
)

// request is the decoded header of a client request.
type request struct {
	svc       spreadlink.ServiceType // without the byte-order marker
	numGroups int
	dataLen   int
}

// size is the length of the whole frame: header, group slots and body.
func (r request) size() int {
	return spreadlink.HeaderLen + r.numGroups*spreadlink.GroupNameLen + r.dataLen
}

// oneBit reports whether exactly one bit of v is set.
func oneBit(v spreadlink.ServiceType) bool { return v != 0 && v&(v-1) == 0 }

// parseRequest decodes the 48-byte header of a client request and checks it against the
// rules of PROTOCOL.md §5.1, except the sender field, which the caller compares with the
// session's private group. On success it rewrites the type, num_groups and data_len words
// in place into daemon order (little-endian, marker set); the hint is left untouched.
func parseRequest(hdr []byte) (request, error) {
	if len(hdr) < spreadlink.HeaderLen {
		return request{}, fmt.Errorf("%w: header of %d bytes", errProtocol, len(hdr))
	}
	o := byteOrder(spreadlink.IsLittle(hdr[0:4]))
	r := request{
		svc:       spreadlink.ServiceType(o.Uint32(hdr[0:4]) &^ endianMarker),
		numGroups: int(int32(o.Uint32(hdr[36:40]))),
		dataLen:   int(int32(o.Uint32(hdr[44:48]))),
	}
	lvl, ctl := r.svc&spreadlink.RegularMask, r.svc&controlMask
	if !(oneBit(lvl) && ctl == 0 || lvl == 0 && oneBit(ctl)) {
		return request{}, fmt.Errorf("%w: service type %s", errProtocol, r.svc)
	}
	if r.numGroups < 0 || r.numGroups > spreadlink.MaxGroupsPerMessage {
		return request{}, fmt.Errorf("%w: num_groups %d", errProtocol, r.numGroups)
	}
	hint := byteOrder(spreadlink.IsLittle(hdr[40:44])).Uint32(hdr[40:44])
	if hint&^hintAllowed != 0 {
		return request{}, fmt.Errorf("%w: hint %#08x", errProtocol, hint)
	}
	if r.dataLen < 0 || r.dataLen+r.numGroups*spreadlink.GroupNameLen > spreadlink.MaxPayload {
		return request{}, fmt.Errorf("%w: data_len %d with %d groups", errProtocol, r.dataLen, r.numGroups)
	}
	le := binary.LittleEndian
	le.PutUint32(hdr[0:4], uint32(r.svc&deliverMask|r.svc&controlMask)|endianMarker)
	le.PutUint32(hdr[36:40], uint32(r.numGroups))
	le.PutUint32(hdr[44:48], uint32(r.dataLen))
	return r, nil
}

func byteOrder(little bool) binary.ByteOrder {
	if little {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// hello is a decoded client hello (PROTOCOL.md §3.1).
type hello struct {
	version    int // major*10000 + minor*100 + patch
	membership bool
	priority   bool
	name       string
}

// Version thresholds of the handshake.
const (
	minVersion       = 30100 // older clients get REJECT_VERSION
	patchVersion     = 31400 // above it (without patch) the hello carries a patch byte
	authVersion      = 31600 // from it on the client takes part in the auth exchange
	acceptPatchFloor = 31500 // from it on the accept carries a patch byte
)

// readHello reads a client hello. A non-zero code means the daemon must refuse the
// session with that code; err reports a read failure (the session is closed silently).
func readHello(r io.Reader) (hello, spreadlink.Code, error) {
	var b [spreadlink.MaxPrivateName]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return hello{}, 0, err
	}
	v := int(b[0])*10000 + int(b[1])*100
	if v > patchVersion {
		if _, err := io.ReadFull(r, b[:1]); err != nil {
			return hello{}, 0, err
		}
		v += int(b[0])
	}
	h := hello{version: v}
	if v < minVersion {
		return h, spreadlink.RejectVersion, nil
	}
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return hello{}, 0, err
	}
	h.membership = b[0]&spreadlink.MembershipFlag != 0
	h.priority = b[0]&spreadlink.PriorityFlag != 0
	n := int(b[1])
	if n > spreadlink.MaxPrivateName {
		return h, spreadlink.RejectIllegalName, nil
	}
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return hello{}, 0, err
	}
	h.name = string(b[:n])
	if !spreadlink.ValidPrivateName(h.name) {
		return h, spreadlink.RejectIllegalName, nil
	}
	return h, 0, nil
}

// authOffer is the list of methods the daemon offers: NULL only.
var authOffer = []byte("\x05NULL ")

// acceptAuth reports whether a 90-byte auth choice names at least one method and only
// methods the daemon offers (NULL).
func acceptAuth(choice []byte) bool {
	if len(choice) != spreadlink.AuthChoiceLen {
		return false
	}
	named := false
	for i := 0; i < spreadlink.AuthChoiceLen; i += 30 {
		m := choice[i : i+30]
		end := 0
		for end < len(m) && m[end] != 0 {
			end++
		}
		switch string(m[:end]) {
		case "":
		case "NULL":
			named = true
		default:
			return false
		}
	}
	return named
}

// appendAccept appends the accept message for a client of the given version.
func appendAccept(dst []byte, version int, private string) []byte {
	dst = append(dst, byte(spreadlink.AcceptSession), spreadlink.VersionMajor, spreadlink.VersionMinor)
	if version >= acceptPatchFloor {
		dst = append(dst, spreadlink.VersionPatch)
	}
	dst = append(dst, byte(len(private)))
	return append(dst, private...)
}
