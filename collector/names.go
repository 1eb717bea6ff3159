package collector

import (
	"fmt"
	"strings"

	"github.com/logspread/logspread/formats/envelope"
)

// MaxGroupLen is the longest Spread group name in bytes (MAX_GROUP_NAME 32 with its NUL).
const MaxGroupLen = 31

// MaxVhostLen is the longest vhost name in bytes (a DNS name, plus room for ":port").
const MaxVhostLen = 253

// ValidateGroup checks that name is a Spread group name that is safe as one file name
// component: 1..31 bytes in 0x24..0x7E, without '/', '\\', a leading '.', or "..".
// It returns a *NameError (wrapping ErrBadName) otherwise.
func ValidateGroup(name string) error {
	if reason := groupProblem(name); reason != "" {
		return &NameError{Kind: "group", Name: name, Reason: reason}
	}
	return nil
}

func groupProblem(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > MaxGroupLen {
		return fmt.Sprintf("longer than %d bytes", MaxGroupLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x24 || c > 0x7E {
			return fmt.Sprintf("byte %#02x at %d outside 0x24..0x7e", c, i)
		}
		if c == '/' || c == '\\' {
			return fmt.Sprintf("path separator at %d", i)
		}
	}
	return dotProblem(name)
}

// ValidateVhost checks that name is a virtual host name that is safe as one file
// name component: 1..253 bytes of ASCII letters, digits, '-', '_', '.' and ':'
// (for host:port), not starting with '.' and without "..".
// It returns a *NameError (wrapping ErrBadName) otherwise.
func ValidateVhost(name string) error {
	if reason := vhostProblem(name); reason != "" {
		return &NameError{Kind: "vhost", Name: name, Reason: reason}
	}
	return nil
}

func vhostProblem(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > MaxVhostLen {
		return fmt.Sprintf("longer than %d bytes", MaxVhostLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Sprintf("byte %#02x at %d not in [A-Za-z0-9._:-]", c, i)
		}
	}
	return dotProblem(name)
}

// ValidateHost checks that name, the host of a batch (envelope.ValidHost), is safe as
// one file name component and in a line: 1..253 bytes of ASCII letters, digits, '-',
// '_' and '.', not starting with '.' or '-' and without "..". It returns a *NameError
// (wrapping ErrBadName) otherwise.
func ValidateHost(name string) error {
	if !envelope.ValidHost(name) {
		reason := "not 1 to 253 of [A-Za-z0-9._-], or starting with '.' or '-', or containing \"..\""
		if p := vhostProblem(name); p != "" {
			reason = p
		}
		return &NameError{Kind: "host", Name: name, Reason: reason}
	}
	return nil
}

func dotProblem(name string) string {
	if name[0] == '.' {
		return "leading '.'"
	}
	if strings.Contains(name, "..") {
		return `contains ".."`
	}
	return ""
}
