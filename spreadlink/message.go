package spreadlink

import (
	"bufio"
	"fmt"
	"io"
)

// Message is one delivery from the daemon: a data message, a membership message, or a
// rejected message. Receive reuses its slices; copy what must outlive the next call.
type Message struct {
	// Service is the service type as the C library reports it (REJECT_MESS added to the
	// original type for rejects).
	Service ServiceType
	// Sender is the sending session's private group (data) or the group (membership).
	Sender string
	// Groups lists the destination groups (data) or the members (regular membership).
	Groups []string
	// MessType is the application's 16-bit type (data); the receiver's index among the
	// members (regular membership); -1 for transitional and self-leave notices.
	MessType int16
	// EndianMismatch reports that the sender's byte order differs from ours (little-endian).
	EndianMismatch bool
	// Data is the body (data messages, rejects) or the raw membership body.
	Data []byte
	// Membership is the decoded body of a membership message, or nil.
	Membership *MembershipInfo

	memb MembershipInfo
}

// frameReader decodes daemon-to-client frames from a buffered stream.
// Not safe for concurrent use.
type frameReader struct {
	r      *bufio.Reader
	hdr    [HeaderLen]byte
	slot   [GroupNameLen]byte
	intern map[string]string
}

// name returns a string for b, shared with earlier calls for the same bytes, so that
// steady traffic between the same sessions and groups allocates nothing.
func (fr *frameReader) name(b []byte) string {
	if s, ok := fr.intern[string(b)]; ok {
		return s
	}
	if fr.intern == nil || len(fr.intern) > 4096 {
		fr.intern = make(map[string]string)
	}
	s := string(b)
	fr.intern[s] = s
	return s
}

func (fr *frameReader) next(m *Message) error {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return err
	}
	var h Header
	if err := DecodeHeader(fr.hdr[:], &h); err != nil {
		return err
	}
	m.Service = h.Service
	m.Sender = fr.name(h.SenderName())
	m.MessType = h.MessType
	m.EndianMismatch = !h.HintLittle
	m.Membership = nil
	if h.Service.IsReject() {
		// A reject carries the original type word (daemon order) before the groups.
		if _, err := io.ReadFull(fr.r, fr.slot[:4]); err != nil {
			return unexpected(err)
		}
		m.Service = ServiceType(order(h.Little).Uint32(fr.slot[:4])&^endianMarker) | RejectMess
	}
	m.Groups = m.Groups[:0]
	for range h.NumGroups {
		if _, err := io.ReadFull(fr.r, fr.slot[:]); err != nil {
			return unexpected(err)
		}
		m.Groups = append(m.Groups, fr.name(SlotName(fr.slot[:])))
	}
	if cap(m.Data) < int(h.DataLen) {
		m.Data = make([]byte, h.DataLen)
	}
	m.Data = m.Data[:h.DataLen]
	if _, err := io.ReadFull(fr.r, m.Data); err != nil {
		return unexpected(err)
	}
	if !m.Service.IsMembership() {
		return nil
	}
	m.EndianMismatch = false
	m.MessType = -1
	if m.Service.IsSelfLeave() {
		return nil
	}
	info := &m.memb
	*info = MembershipInfo{VSSets: info.VSSets[:0]}
	info.Group = m.Sender
	if err := DecodeMembershipBody(m.Data, h.Little, info); err != nil {
		return err
	}
	if m.Service.IsRegMemb() {
		info.Members = m.Groups
		if m.Service&(CausedByJoin|CausedByLeave|CausedByDisconnect) != 0 && len(info.VSSets) > 0 && len(info.VSSets[0]) > 0 {
			info.Changed = info.VSSets[0][0]
		}
	}
	m.Membership = info
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// String describes m in one line, for logs and the tail command.
func (m *Message) String() string {
	return fmt.Sprintf("%s from %s to %v type %d, %d bytes", m.Service, m.Sender, m.Groups, m.MessType, len(m.Data))
}
