package spreadlink

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is Spread's default port.
const DefaultPort = 4803

// DefaultSocketDir is where a bare port number's unix socket lives ("4803" is /tmp/4803).
const DefaultSocketDir = "/tmp"

// Address is a parsed Spread daemon address: a network ("tcp" or "unix") and an address
// for net.Dial or net.Listen.
type Address struct {
	Network string
	Addr    string
}

// String returns the address in a form ParseAddress accepts.
func (a Address) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Addr
	}
	return a.Addr
}

// ParseAddress parses a Spread daemon name the way Spread clients do, plus two forms of our own:
//
//	""            the default, "4803"
//	"4803"        unix socket /tmp/4803
//	"4803@host"   TCP to host, port 4803 (host may be an IPv6 literal)
//	"host:port"   TCP ("[::1]:4803" for IPv6; ":4803" is every interface)
//	"unix:/path"  unix socket at /path
func ParseAddress(s string) (Address, error) {
	bad := func(why string) (Address, error) {
		return Address{}, newError(IllegalSpread, "parse address", fmt.Sprintf("%q: %s", s, why), nil)
	}
	switch {
	case s == "":
		return Address{"unix", DefaultSocketDir + "/" + strconv.Itoa(DefaultPort)}, nil
	case strings.HasPrefix(s, "unix:"):
		p := strings.TrimPrefix(s, "unix:")
		if p == "" || strings.ContainsRune(p, 0) {
			return bad("empty or invalid socket path")
		}
		return Address{"unix", p}, nil
	case strings.Contains(s, "@"):
		port, host, _ := strings.Cut(s, "@")
		if _, err := parsePort(port); err != nil {
			return bad(err.Error())
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !validHost(host) {
			return bad("bad host name or address")
		}
		return Address{"tcp", net.JoinHostPort(host, port)}, nil
	}
	if _, err := parsePort(s); err == nil {
		return Address{"unix", DefaultSocketDir + "/" + s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return bad("want PORT, PORT@HOST, HOST:PORT or unix:PATH")
	}
	if _, err := parsePort(port); err != nil {
		return bad(err.Error())
	}
	if host != "" && !validHost(host) { // ":4803" means every interface, for listening
		return bad("bad host name or address")
	}
	return Address{"tcp", net.JoinHostPort(host, port)}, nil
}

// validHost accepts an IP address (IPv6 with an optional zone) or a DNS-style name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if strings.Contains(h, ":") {
		addr, _, _ := strings.Cut(h, "%")
		return net.ParseIP(addr) != nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}
