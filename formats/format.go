package formats

import (
	"bytes"
	"fmt"
	"strings"
)

// Dialect tells which kind of format string a Format was compiled from.
type Dialect uint8

const (
	// Apache is an Apache httpd LogFormat string ("%h %l %u %t \"%r\" %>s %b").
	Apache Dialect = iota + 1
	// Nginx is an nginx log_format string ("$remote_addr - $remote_user [$time_local] ...").
	Nginx
	// JSON is one JSON object per line, with a fixed list of keys.
	JSON
)

// String returns "apache", "nginx" or "json".
func (d Dialect) String() string {
	switch d {
	case Apache:
		return "apache"
	case Nginx:
		return "nginx"
	case JSON:
		return "json"
	}
	return "unknown"
}

// Field describes one field of a Format.
type Field struct {
	// Spec is the directive as written in the format: "%>s", "%{Referer}i", "$remote_addr",
	// or the key of a JSON field.
	Spec string
	// Name is a descriptive name: "status", "header_in:Referer", "remote_addr".
	// For nginx and JSON it is the variable name or the key.
	Name string
	// Verb is the Apache conversion ("h", "s", "i", "^ti"); empty for nginx and JSON.
	Verb string
	// Arg is the text between braces in an Apache directive ("Referer" in %{Referer}i).
	Arg string
	// Mod holds the Apache modifiers written before the verb: "<", ">", "!200,304".
	Mod string
}

// fieldKind changes how the end of a field is found.
type fieldKind uint8

const (
	kindText      fieldKind = iota // ends at the next literal not preceded by an odd run of '\'
	kindCLFTime                    // "[dd/Mon/yyyy:hh:mm:ss +zzzz]": the literal is searched after the first ']'
	kindTimeLocal                  // "dd/Mon/yyyy:hh:mm:ss +zzzz": the literal is searched after the first ' '
)

// Format is a compiled log line format. It parses lines into field values that are
// sub-slices of the line (no copying, no allocation beyond the caller's slice) and renders
// values back into a line. A Format is immutable and safe for concurrent use.
//
// Values are in their logged form: Apache and nginx escape quotes, backslashes and
// non-printable bytes (\", \\, \xhh), and the values keep those escapes. Use Unescape to
// decode a value and AppendEscaped to encode one. For JSON formats a value is the raw JSON
// token, quotes included.
type Format struct {
	spec    string
	dialect Dialect
	fields  []Field
	kinds   []fieldKind
	// lits[0] precedes fields[0]; lits[i+1] follows fields[i]. Apache and nginx only.
	lits [][]byte
	// terms[i] is the text searched for to find the end of fields[i]: lits[i+1], plus the
	// '[' that opens the next field when that is a CLF time, so that "%u %t" finds the
	// end of a user name holding spaces.
	terms [][]byte
	vhost int // index of the virtual host field, or -1
	// jsonKeys are the quoted keys of a JSON format ("\"status\"" without the quotes).
	jsonKeys [][]byte
}

// String returns the format string the Format was compiled from.
func (f *Format) String() string { return f.spec }

// Dialect returns the kind of format.
func (f *Format) Dialect() Dialect { return f.dialect }

// NumFields returns the number of fields: the length of the slice Parse appends.
func (f *Format) NumFields() int { return len(f.fields) }

// Fields returns a copy of the field descriptions, in line order.
func (f *Format) Fields() []Field { return append([]Field(nil), f.fields...) }

// Index returns the position of the first field whose Spec or Name equals name
// ("%>s", "status", "$remote_addr", "remote_addr"), or -1.
func (f *Format) Index(name string) int {
	for i := range f.fields {
		if f.fields[i].Spec == name || f.fields[i].Name == name {
			return i
		}
	}
	return -1
}

// HasVHost reports whether lines of this format carry a virtual host field, so that
// VHost can succeed.
func (f *Format) HasVHost() bool { return f.vhost >= 0 }

// VHostField returns the index of the virtual host field (%v, %V, $host, $server_name,
// or the JSON key "vhost", "host" or "server_name"), or -1.
func (f *Format) VHostField() int { return f.vhost }

// Parse appends the values of line's fields to dst, in field order, and returns it.
// One trailing "\n" or "\r\n" is ignored. The values are sub-slices of line. A line that
// does not match returns dst unchanged and a *ParseError wrapping ErrNoMatch.
//
// For a given Format and a line that Parse accepts, Render of the values gives the line back
// byte for byte, with a "\n" ending (unless Render refuses it, see Render).
func (f *Format) Parse(dst [][]byte, line []byte) ([][]byte, error) {
	line = trimEOL(line)
	if f.dialect == JSON {
		return f.parseJSON(dst, line)
	}
	n := len(dst)
	pos, err := f.start(line)
	if err != nil {
		return dst, err
	}
	for i := range f.fields {
		end, next, err := f.next(line, pos, i)
		if err != nil {
			return dst[:n], err
		}
		dst = append(dst, line[pos:end])
		pos = next
	}
	return dst, nil
}

// VHost returns the virtual host of line without parsing the rest of it: the value of the
// %v or %V field (for vhost_combined, the text before the first ':'), of $host or
// $server_name, or of the JSON key "vhost", "host" or "server_name" with its quotes removed.
// It reports false when the format has no such field or the line does not match up to it.
// It does not allocate.
func (f *Format) VHost(line []byte) ([]byte, bool) {
	if f.vhost < 0 {
		return nil, false
	}
	line = trimEOL(line)
	if f.dialect == JSON {
		return f.jsonVHost(line)
	}
	if f.vhost == 0 && len(f.lits[0]) == 0 && len(f.fields) > 1 && f.kinds[0] == kindText {
		// Fast path for vhost_combined and friends: the first field ends at the first
		// occurrence of the literal that follows it.
		lit := f.terms[0]
		if len(lit) == 1 {
			if i := bytes.IndexByte(line, lit[0]); i >= 0 && !escaped(line, 0, i) {
				return line[:i], true
			}
		}
	}
	pos, err := f.start(line)
	if err != nil {
		return nil, false
	}
	for i := 0; ; i++ {
		end, next, err := f.next(line, pos, i)
		if err != nil {
			return nil, false
		}
		if i == f.vhost {
			return line[pos:end], true
		}
		pos = next
	}
}

// Render appends to dst the line made of values, one per field in field order, and a
// "\n". Values are written as they are: they must be in logged (escaped) form for the line
// to parse back to the same values. Render returns dst unchanged and an error wrapping
// ErrRender when a value holds a "\n", or the line would end in "\r" (which Parse would
// take for part of a "\r\n" ending); and ErrFieldCount when len(values) is wrong.
func (f *Format) Render(dst []byte, values [][]byte) ([]byte, error) {
	if len(values) != len(f.fields) {
		return dst, ErrFieldCount
	}
	n := len(dst)
	for i, v := range values {
		if bytes.IndexByte(v, '\n') >= 0 {
			return dst, fmt.Errorf("%w: field %s holds a line break", ErrRender, f.fields[i].Spec)
		}
	}
	if f.dialect == JSON {
		dst = f.renderJSON(dst, values)
	} else {
		dst = append(dst, f.lits[0]...)
		for i, v := range values {
			dst = append(dst, v...)
			dst = append(dst, f.lits[i+1]...)
		}
	}
	if len(dst) > n && dst[len(dst)-1] == '\r' {
		return dst[:n], fmt.Errorf("%w: line ends in \"\\r\"", ErrRender)
	}
	return append(dst, '\n'), nil
}

// checkLineBreaks refuses a format whose literal text holds a line break: logspread reads
// one line per log entry.
func (f *Format) checkLineBreaks() error {
	for _, l := range f.lits {
		if bytes.IndexByte(l, '\n') >= 0 {
			pos := strings.Index(f.spec, "\n")
			if i := strings.Index(f.spec, `\n`); pos < 0 || i >= 0 && i < pos {
				pos = i
			}
			return formatErr(f.spec, max(pos, 0), "line break in format; each entry must be one line")
		}
	}
	return nil
}

// finish sets the derived fields once fields, kinds and lits are complete.
func (f *Format) finish() *Format {
	f.terms = make([][]byte, len(f.fields))
	for i := range f.fields {
		f.terms[i] = f.lits[i+1]
		if i+1 < len(f.fields) && f.kinds[i+1] == kindCLFTime {
			f.terms[i] = append(append([]byte(nil), f.lits[i+1]...), '[')
		}
	}
	return f
}

// start matches the literal before the first field and returns where the first field starts.
func (f *Format) start(line []byte) (int, error) {
	if !bytes.HasPrefix(line, f.lits[0]) {
		return 0, &ParseError{Pos: mismatch(line, f.lits[0]), Msg: "expected " + quote(f.lits[0])}
	}
	return len(f.lits[0]), nil
}

// next finds the end of field i, which starts at pos, and where field i+1 starts.
func (f *Format) next(line []byte, pos, i int) (end, next int, err error) {
	lit := f.lits[i+1]
	if i == len(f.fields)-1 {
		// The last field runs to the literal that ends the line.
		end = len(line) - len(lit)
		if end < pos || !bytes.HasSuffix(line, lit) {
			return 0, 0, &ParseError{Field: f.fields[i].Spec, Pos: max(pos, end),
				Msg: "expected line to end with " + quote(lit)}
		}
		return end, len(line), nil
	}
	from := pos
	switch f.kinds[i] {
	case kindCLFTime:
		j := bytes.IndexByte(line[pos:], ']')
		if j < 0 {
			return 0, 0, &ParseError{Field: f.fields[i].Spec, Pos: pos, Msg: "expected \"]\" closing the time"}
		}
		from = pos + j + 1
	case kindTimeLocal:
		j := bytes.IndexByte(line[pos:], ' ')
		if j < 0 {
			return 0, 0, &ParseError{Field: f.fields[i].Spec, Pos: pos, Msg: "expected \" \" before the time zone"}
		}
		from = pos + j + 1
	}
	end = findLiteral(line, pos, from, f.terms[i])
	if end < 0 {
		return 0, 0, &ParseError{Field: f.fields[i].Spec, Pos: pos,
			Msg: "expected " + quote(f.terms[i]) + " after the field"}
	}
	return end, end + len(lit), nil
}

// findLiteral returns the first offset at or after from where lit occurs in line and is not
// escaped by an odd run of backslashes that starts at or after pos, or -1.
func findLiteral(line []byte, pos, from int, lit []byte) int {
	for from <= len(line) {
		j := bytes.IndexByte(line[from:], lit[0])
		if j < 0 {
			return -1
		}
		j += from
		if bytes.HasPrefix(line[j:], lit) && !escaped(line, pos, j) {
			return j
		}
		from = j + 1
	}
	return -1
}

// escaped reports whether line[j] is preceded by an odd number of backslashes within line[pos:j].
func escaped(line []byte, pos, j int) bool {
	k := j
	for k > pos && line[k-1] == '\\' {
		k--
	}
	return (j-k)%2 == 1
}

// mismatch returns the offset of the first byte where line differs from lit.
func mismatch(line, lit []byte) int {
	i := 0
	for i < len(line) && i < len(lit) && line[i] == lit[i] {
		i++
	}
	return i
}

func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

func quote(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			sb.WriteString(`\x`)
			sb.WriteByte(hexDigits[c>>4])
			sb.WriteByte(hexDigits[c&15])
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

const hexDigits = "0123456789abcdef"
