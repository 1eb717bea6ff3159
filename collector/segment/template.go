package segment

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Template is a parsed segment file name template. The template is a slash-separated
// path relative to the output directory; it may name subdirectories. It expands:
//
//	{group}  the log's group name
//	{vhost}  the log's virtual host name
//	%Y %y    year (4 digits, 2 digits)     %m  month 01-12
//	%d %e    day of month (01-31, " 1"-31) %j  day of year 001-366
//	%H %I    hour (00-23, 01-12)           %p  AM or PM
//	%M %S    minute, second 00-59          %s  Unix seconds
//	%a %b    weekday, month abbreviation   %u  weekday 1-7 (Monday is 1)
//	%F       %Y-%m-%d                      %T  %H:%M:%S
//	%z       zone offset (+hhmm)           %%  a literal '%'
//
// Placeholders are replaced once: a name containing "%Y" or "{vhost}" is not
// expanded again. A group or vhost name must be one safe file name component (see
// Expand). A Template is immutable and safe for concurrent use.
type Template struct {
	src      string
	toks     []tmplToken
	hasVhost bool
}

type tmplToken struct {
	kind byte // 'l' literal, '%' strftime verb, 'g' group, 'v' vhost
	lit  string
	verb byte
}

// ParseTemplate parses a segment name template (see Template). It rejects empty and
// absolute templates, ".." components, backslashes, NUL bytes and unknown % verbs,
// with an error wrapping ErrBadTemplate.
func ParseTemplate(s string) (*Template, error) {
	bad := func(reason string) error { return fmt.Errorf("%w %q: %s", ErrBadTemplate, s, reason) }
	if s == "" {
		return nil, bad("empty")
	}
	if strings.HasPrefix(s, "/") {
		return nil, bad("absolute path")
	}
	if strings.HasSuffix(s, "/") {
		return nil, bad("ends with '/'")
	}
	if strings.ContainsAny(s, "\\\x00") {
		return nil, bad("backslash or NUL byte")
	}
	for _, comp := range strings.Split(s, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return nil, bad(fmt.Sprintf("path component %q", comp))
		}
	}
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.toks = append(t.toks, tmplToken{kind: 'l', lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+1 >= len(s) {
				return nil, bad("trailing '%'")
			}
			i++
			v := s[i]
			switch v {
			case '%':
				lit.WriteByte('%')
			case 'Y', 'y', 'm', 'd', 'e', 'j', 'H', 'I', 'p', 'M', 'S', 's', 'a', 'b', 'u', 'F', 'T', 'z':
				flush()
				t.toks = append(t.toks, tmplToken{kind: '%', verb: v})
			default:
				return nil, bad(fmt.Sprintf("unknown verb %%%c", v))
			}
		case strings.HasPrefix(s[i:], "{group}"):
			flush()
			t.toks = append(t.toks, tmplToken{kind: 'g'})
			i += len("{group}") - 1
		case strings.HasPrefix(s[i:], "{vhost}"):
			flush()
			t.toks = append(t.toks, tmplToken{kind: 'v'})
			t.hasVhost = true
			i += len("{vhost}") - 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// String returns the template source.
func (t *Template) String() string { return t.src }

// UsesVhost reports whether the template contains {vhost}.
func (t *Template) UsesVhost() bool { return t.hasVhost }

// Expand renders the template for one log at time tm. It checks that group, and vhost
// when the template uses it, are each one safe file name component: not empty, without
// '/', '\\', NUL or another control byte, not starting with '.' (so neither "." nor
// ".."); an error wrapping ErrBadName otherwise. The collector validates the names it
// receives with stricter rules first: this check is what the segments themselves rely
// on. It also checks that the result is a local path (no escape from the output
// directory is possible by construction; the check is a second line of defence).
func (t *Template) Expand(group, vhost string, tm time.Time) (string, error) {
	if err := checkName("group", group); err != nil {
		return "", err
	}
	if t.hasVhost {
		if err := checkName("vhost", vhost); err != nil {
			return "", err
		}
	}
	b := make([]byte, 0, len(t.src)+32)
	for _, tok := range t.toks {
		switch tok.kind {
		case 'l':
			b = append(b, tok.lit...)
		case 'g':
			b = append(b, group...)
		case 'v':
			b = append(b, vhost...)
		case '%':
			b = appendStrftime(b, tok.verb, tm)
		}
	}
	name := string(b)
	if path.Clean(name) != name || !localName(name) {
		return "", fmt.Errorf("%w %q: expands to non-local name %q", ErrBadTemplate, t.src, name)
	}
	return name, nil
}

// checkName checks that name, a group or vhost name (kind), is one safe file name
// component (see Template.Expand).
func checkName(kind, name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case name[0] == '.':
		reason = "leading '.'"
	default:
		for i := 0; i < len(name); i++ {
			if c := name[i]; c == '/' || c == '\\' {
				reason = fmt.Sprintf("path separator at %d", i)
				break
			} else if c < 0x20 || c == 0x7f {
				reason = fmt.Sprintf("control byte %#02x at %d", c, i)
				break
			}
		}
	}
	if reason != "" {
		return fmt.Errorf("%w: %s %q: %s", ErrBadName, kind, name, reason)
	}
	return nil
}

// localName reports whether name is relative, has no ".." or empty components.
func localName(name string) bool {
	if name == "" || name[0] == '/' || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

func appendStrftime(b []byte, verb byte, t time.Time) []byte {
	pad := func(b []byte, v, width int, fill byte) []byte {
		s := strconv.Itoa(v)
		for i := len(s); i < width; i++ {
			b = append(b, fill)
		}
		return append(b, s...)
	}
	switch verb {
	case 'Y':
		return pad(b, t.Year(), 4, '0')
	case 'y':
		return pad(b, t.Year()%100, 2, '0')
	case 'm':
		return pad(b, int(t.Month()), 2, '0')
	case 'd':
		return pad(b, t.Day(), 2, '0')
	case 'e':
		return pad(b, t.Day(), 2, ' ')
	case 'j':
		return pad(b, t.YearDay(), 3, '0')
	case 'H':
		return pad(b, t.Hour(), 2, '0')
	case 'I':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		return pad(b, h, 2, '0')
	case 'p':
		if t.Hour() < 12 {
			return append(b, "AM"...)
		}
		return append(b, "PM"...)
	case 'M':
		return pad(b, t.Minute(), 2, '0')
	case 'S':
		return pad(b, t.Second(), 2, '0')
	case 's':
		return strconv.AppendInt(b, t.Unix(), 10)
	case 'a':
		return append(b, t.Weekday().String()[:3]...)
	case 'b':
		return append(b, t.Month().String()[:3]...)
	case 'u':
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return pad(b, wd, 1, '0')
	case 'F':
		b = appendStrftime(b, 'Y', t)
		b = append(b, '-')
		b = appendStrftime(b, 'm', t)
		b = append(b, '-')
		return appendStrftime(b, 'd', t)
	case 'T':
		b = appendStrftime(b, 'H', t)
		b = append(b, ':')
		b = appendStrftime(b, 'M', t)
		b = append(b, ':')
		return appendStrftime(b, 'S', t)
	case 'z':
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		b = append(b, sign)
		b = pad(b, off/3600, 2, '0')
		return pad(b, off%3600/60, 2, '0')
	}
	return b
}

// compressionExts are the extensions before which a collision suffix is inserted.
var compressionExts = []string{".zst", ".zstd", ".gz"}

// suffixed returns name with the collision suffix ".n" (n >= 1): inserted before a
// trailing compression extension, as logrotate does ("www.log.zst" becomes
// "www.log.1.zst"), else appended ("www.log" becomes "www.log.1").
func suffixed(name string, n int) string {
	for _, ext := range compressionExts {
		if base, ok := strings.CutSuffix(name, ext); ok && base != "" && !strings.HasSuffix(base, "/") {
			return base + "." + strconv.Itoa(n) + ext
		}
	}
	return name + "." + strconv.Itoa(n)
}
