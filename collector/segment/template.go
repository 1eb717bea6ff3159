package segment

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Template is a parsed segment file name template. The template is a slash-separated
// path, relative to the output directory, or absolute: then the directory before its
// first field (its Root) is the output directory of that log, and no name leaves it
// either. It may name subdirectories. It expands:
//
//	{group}  the log's group name
//	{vhost}  the log's virtual host name
//	{host}   the name of the web host the lines come from (the batch header's host)
//	%Y %y    year (4 digits, 2 digits)     %m  month 01-12
//	%d %e    day of month (01-31, " 1"-31) %j  day of year 001-366
//	%H %I    hour (00-23, 01-12)           %p  AM or PM
//	%M %S    minute, second 00-59          %s  Unix seconds
//	%a %b    weekday, month abbreviation   %u  weekday 1-7 (Monday is 1)
//	%F       %Y-%m-%d                      %T  %H:%M:%S
//	%z       zone offset (+hhmm)           %%  a literal '%'
//
// Any other {name} (letters, digits and '_' between braces) is an error, as is an
// unknown % verb. Placeholders are replaced once: a name containing "%Y" or
// "{vhost}" is not expanded again. A group or vhost name must be one safe file name
// component (see Expand). A Template is immutable and safe for concurrent use.
type Template struct {
	src      string
	root     string // absolute templates: the directory before the first field
	toks     []tmplToken
	hasVhost bool
	hasHost  bool
}

// Names are the names a Template expands: the group, and the vhost and host when the
// template uses them.
type Names struct {
	Group string
	Vhost string
	Host  string
}

type tmplToken struct {
	kind byte // 'l' literal, '%' strftime verb, 'g' group, 'v' vhost, 'h' host
	lit  string
	verb byte
}

// ParseTemplate parses a segment name template (see Template). It rejects empty
// templates, ".." and "." components, backslashes, NUL bytes, unknown {fields} and %
// verbs, and an absolute template with no file name after its directory, with an error
// wrapping ErrBadTemplate.
func ParseTemplate(s string) (*Template, error) {
	bad := func(reason string) error { return fmt.Errorf("%w %q: %s", ErrBadTemplate, s, reason) }
	if s == "" {
		return nil, bad("empty")
	}
	if strings.HasSuffix(s, "/") {
		return nil, bad("ends with '/'")
	}
	if strings.ContainsAny(s, "\\\x00") {
		return nil, bad("backslash or NUL byte")
	}
	rel, root := s, ""
	if strings.HasPrefix(s, "/") {
		// The root is the longest directory prefix without a field.
		comps := strings.Split(s[1:], "/")
		i := 0
		for i < len(comps)-1 && !strings.ContainsAny(comps[i], "%{") {
			i++
		}
		root = "/" + strings.Join(comps[:i], "/")
		rel = strings.Join(comps[i:], "/")
	}
	for _, comp := range strings.Split(rel, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return nil, bad(fmt.Sprintf("path component %q", comp))
		}
	}
	if root != "" {
		for _, comp := range strings.Split(root[1:], "/") {
			if comp == "." || comp == ".." || (comp == "" && root != "/") {
				return nil, bad(fmt.Sprintf("path component %q", comp))
			}
		}
	}
	t := &Template{src: s, root: root}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.toks = append(t.toks, tmplToken{kind: 'l', lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(rel); i++ {
		c := rel[i]
		switch {
		case c == '%':
			if i+1 >= len(rel) {
				return nil, bad("trailing '%'")
			}
			i++
			v := rel[i]
			switch v {
			case '%':
				lit.WriteByte('%')
			case 'Y', 'y', 'm', 'd', 'e', 'j', 'H', 'I', 'p', 'M', 'S', 's', 'a', 'b', 'u', 'F', 'T', 'z':
				flush()
				t.toks = append(t.toks, tmplToken{kind: '%', verb: v})
			default:
				return nil, bad(fmt.Sprintf("unknown verb %%%c (see the strftime fields in the README)", v))
			}
		case c == '{':
			field, ok := fieldAt(rel[i:])
			switch {
			case !ok:
				lit.WriteByte(c)
				continue
			case field == "group":
				flush()
				t.toks = append(t.toks, tmplToken{kind: 'g'})
			case field == "vhost":
				flush()
				t.toks = append(t.toks, tmplToken{kind: 'v'})
				t.hasVhost = true
			case field == "host":
				flush()
				t.toks = append(t.toks, tmplToken{kind: 'h'})
				t.hasHost = true
			default:
				return nil, bad(fmt.Sprintf("unknown field {%s} (want {group}, {vhost} or {host})", field))
			}
			i += len(field) + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// fieldAt returns the name of the field s starts with: "{name}" with a name of ASCII
// letters, digits and '_'.
func fieldAt(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '}':
			return s[1:j], j > 1
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		default:
			return "", false
		}
	}
	return "", false
}

// Root returns the directory of an absolute template (the part before its first
// field, without a trailing '/'), or "" for a template relative to the output
// directory. Expand returns names below it.
func (t *Template) Root() string { return t.root }

// Extension returns the compression extension the template's names end with:
// ".zst", ".zstd", ".gz", or "" for none.
func (t *Template) Extension() string {
	for _, ext := range compressionExts {
		if strings.HasSuffix(t.src, ext) {
			return ext
		}
	}
	return ""
}

// String returns the template source.
func (t *Template) String() string { return t.src }

// UsesVhost reports whether the template contains {vhost}.
func (t *Template) UsesVhost() bool { return t.hasVhost }

// UsesHost reports whether the template contains {host}.
func (t *Template) UsesHost() bool { return t.hasHost }

// Expand renders the template for one log at time tm. It checks that the group, and
// the vhost and host when the template uses them, are each one safe file name component: not empty, without
// '/', '\\', NUL or another control byte, not starting with '.' (so neither "." nor
// ".."); an error wrapping ErrBadName otherwise. The collector validates the names it
// receives with stricter rules first: this check is what the segments themselves rely
// on. It also checks that the result is a local path (no escape from the output
// directory is possible by construction; the check is a second line of defence). The
// name of an absolute template is absolute: its Root joined with the local part.
func (t *Template) Expand(n Names, tm time.Time) (string, error) {
	if err := checkName("group", n.Group); err != nil {
		return "", err
	}
	if t.hasVhost {
		if err := checkName("vhost", n.Vhost); err != nil {
			return "", err
		}
	}
	if t.hasHost {
		if err := checkName("host", n.Host); err != nil {
			return "", err
		}
	}
	b := make([]byte, 0, len(t.src)+32)
	for _, tok := range t.toks {
		switch tok.kind {
		case 'l':
			b = append(b, tok.lit...)
		case 'g':
			b = append(b, n.Group...)
		case 'v':
			b = append(b, n.Vhost...)
		case 'h':
			b = append(b, n.Host...)
		case '%':
			b = appendStrftime(b, tok.verb, tm)
		}
	}
	name := string(b)
	if path.Clean(name) != name || !localName(name) {
		return "", fmt.Errorf("%w %q: expands to non-local name %q", ErrBadTemplate, t.src, name)
	}
	if t.root != "" {
		name = path.Join(t.root, name)
	}
	return name, nil
}

// checkName checks that name, a group, vhost or host name (kind), is one safe file name
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

// suffixDigits is the width of a collision suffix: "_000001".
const suffixDigits = 6

// maxSuffix bounds the collision suffixes of one segment name.
const maxSuffix = 999999

// suffixLen is the most a collision suffix adds to a name: "_000001" and a repeated
// compression extension (".zstd" is the longest).
const suffixLen = 1 + suffixDigits + len(".zstd")

// suffixed returns the name of the n-th (n >= 1) segment after the one named name: the
// whole name, then "_" and n zero-padded to six digits, then the compression extension
// again when name has one ("www.log.zst" becomes "www.log.zst_000001.zst", "www.log"
// becomes "www.log_000001"), so that tools still know the file by its extension.
//
// Every segment name of name begins with name itself, and the digits have one width:
// the segments of one name sort in the order they were created under every collation,
// byte order (LC_ALL=C) as well as locales such as en_US.UTF-8, whose collation
// ignores punctuation or ranks it differently (a string sorts before the strings it
// is a prefix of in both). A shell glob, ls and sort list "www.log.zst",
// "www.log.zst_000001.zst", "www.log.zst_000002.zst". (Before, the suffix was inserted
// before the extension, "www.log_000001.zst", which en_US.UTF-8 sorts before
// "www.log.zst"; suffixOf still knows such names, so that segments written before keep
// their place in recovery and numbering.)
func suffixed(name string, n int) string {
	_, ext := splitExt(name)
	return name + "_" + fmt.Sprintf("%0*d", suffixDigits, n) + ext
}

// splitExt splits name before its compression extension, if any.
func splitExt(name string) (string, string) {
	for _, ext := range compressionExts {
		if base, ok := strings.CutSuffix(name, ext); ok && base != "" && !strings.HasSuffix(base, "/") {
			return base, ext
		}
	}
	return name, ""
}

// suffixOf returns the collision suffix of segment name for the expanded name base:
// 0 when name is base, n when it is suffixed(base, n), or the name an older version
// gave the n-th segment (the suffix inserted before the compression extension,
// "www.log_000001.zst"); false when name is none of these.
func suffixOf(base, name string) (int, bool) {
	if name == base {
		return 0, true
	}
	b, ext := splitExt(base)
	if n, ok := suffixDigitsOf(name, base+"_", ext); ok {
		return n, true
	}
	if ext == "" {
		return 0, false
	}
	return suffixDigitsOf(name, b+"_", ext)
}

// suffixDigitsOf returns n when name is prefix, n in suffixDigits digits, then ext.
func suffixDigitsOf(name, prefix, ext string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, ext)
	if !ok || len(digits) != suffixDigits {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || strings.ContainsAny(digits, "+-") {
		return 0, false
	}
	return n, true
}
