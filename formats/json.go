package formats

import (
	"bytes"
	"strings"
)

// CompileJSON returns a Format for JSON lines: one JSON object per line, of which the
// values of keys are the fields, in the order given. A value is the raw JSON token
// (a string keeps its quotes and escapes; an object or array is returned whole). A key
// missing from a line gives a nil value; when a key occurs twice the first one counts.
// Render writes an object with the non-nil values in key order, so values must be
// valid JSON tokens.
//
// The first of the keys "vhost", "host" and "server_name" present in keys is the virtual
// host field. Keys must be non-empty and free of '"', '\\' and control bytes.
func CompileJSON(keys ...string) (*Format, error) {
	spec := "json:" + strings.Join(keys, ",")
	if len(keys) == 0 {
		return nil, formatErr(spec, 5, "no keys")
	}
	f := &Format{spec: spec, dialect: JSON, vhost: -1}
	pos := 5
	for i, k := range keys {
		if k == "" {
			return nil, formatErr(spec, pos, "empty key")
		}
		for j := 0; j < len(k); j++ {
			if c := k[j]; c == '"' || c == '\\' || c < 0x20 || c == ',' {
				return nil, formatErr(spec, pos+j, "key %q holds a byte that cannot be used", k)
			}
		}
		for _, fd := range f.fields {
			if fd.Name == k {
				return nil, formatErr(spec, pos, "duplicate key %q", k)
			}
		}
		if f.vhost < 0 && (k == "vhost" || k == "host" || k == "server_name") {
			f.vhost = i
		}
		f.fields = append(f.fields, Field{Spec: k, Name: k})
		f.kinds = append(f.kinds, kindText)
		f.jsonKeys = append(f.jsonKeys, []byte(k))
		pos += len(k) + 1
	}
	return f, nil
}

func (f *Format) parseJSON(dst [][]byte, line []byte) ([][]byte, error) {
	n := len(dst)
	for range f.jsonKeys {
		dst = append(dst, nil)
	}
	vals := dst[n:]
	s := jsonScanner{line: line}
	if err := s.begin(); err != nil {
		return dst[:n], err
	}
	for {
		key, val, ok, err := s.member()
		if err != nil {
			return dst[:n], err
		}
		if !ok {
			return dst, nil
		}
		for i, k := range f.jsonKeys {
			if vals[i] == nil && bytes.Equal(k, key) {
				vals[i] = val
				break
			}
		}
	}
}

func (f *Format) jsonVHost(line []byte) ([]byte, bool) {
	want := f.jsonKeys[f.vhost]
	s := jsonScanner{line: line}
	if s.begin() != nil {
		return nil, false
	}
	for {
		key, val, ok, err := s.member()
		if err != nil || !ok {
			return nil, false
		}
		if bytes.Equal(key, want) {
			if len(val) >= 2 && val[0] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
}

func (f *Format) renderJSON(dst []byte, values [][]byte) []byte {
	dst = append(dst, '{')
	first := true
	for i, v := range values {
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, f.jsonKeys[i]...)
		dst = append(dst, '"', ':')
		dst = append(dst, v...)
	}
	return append(dst, '}')
}

// jsonScanner walks the members of one JSON object without allocating.
type jsonScanner struct {
	line []byte
	pos  int
	done bool
}

func (s *jsonScanner) errorf(msg string) error {
	return &ParseError{Pos: s.pos, Msg: msg}
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.line) {
		switch s.line[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of the line.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.line) {
		return s.line[s.pos]
	}
	return 0
}

func (s *jsonScanner) begin() error {
	s.skipSpace()
	if s.peek() != '{' {
		return s.errorf("expected '{' starting a JSON object")
	}
	s.pos++
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return s.end()
	}
	return nil
}

func (s *jsonScanner) end() error {
	s.done = true
	s.skipSpace()
	if s.pos != len(s.line) {
		return s.errorf("unexpected data after the JSON object")
	}
	return nil
}

// member returns the next key (without quotes, still escaped) and raw value, or ok false
// after the closing brace.
func (s *jsonScanner) member() (key, val []byte, ok bool, err error) {
	if s.done {
		return nil, nil, false, nil
	}
	if s.peek() != '"' {
		return nil, nil, false, s.errorf("expected a string key")
	}
	k, err := s.str()
	if err != nil {
		return nil, nil, false, err
	}
	key = k[1 : len(k)-1]
	s.skipSpace()
	if s.peek() != ':' {
		return nil, nil, false, &ParseError{Field: string(key), Pos: s.pos, Msg: "expected ':' after the key"}
	}
	s.pos++
	s.skipSpace()
	start := s.pos
	if err := s.value(); err != nil {
		if pe, ok := err.(*ParseError); ok {
			pe.Field = string(key)
		}
		return nil, nil, false, err
	}
	val = s.line[start:s.pos]
	s.skipSpace()
	switch s.peek() {
	case ',':
		s.pos++
		s.skipSpace()
	case '}':
		s.pos++
		if err := s.end(); err != nil {
			return nil, nil, false, err
		}
	default:
		return nil, nil, false, &ParseError{Field: string(key), Pos: s.pos, Msg: "expected ',' or '}' after the value"}
	}
	return key, val, true, nil
}

// str scans the string starting at s.pos and returns it with its quotes.
func (s *jsonScanner) str() ([]byte, error) {
	start := s.pos
	i := s.pos + 1
	for i < len(s.line) {
		switch c := s.line[i]; {
		case c == '"':
			s.pos = i + 1
			return s.line[start:s.pos], nil
		case c == '\\':
			if i+1 >= len(s.line) {
				s.pos = i
				return nil, s.errorf("unterminated escape in string")
			}
			if s.line[i+1] == 'u' {
				if i+6 > len(s.line) || !isHex4(s.line[i+2:i+6]) {
					s.pos = i
					return nil, s.errorf("bad \\u escape in string")
				}
				i += 6
				continue
			}
			if !strings.ContainsRune(`"\/bfnrt`, rune(s.line[i+1])) {
				s.pos = i
				return nil, s.errorf("bad escape in string")
			}
			i += 2
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control byte in string")
		default:
			i++
		}
	}
	s.pos = start
	return nil, s.errorf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// maxJSONDepth bounds the nesting of objects and arrays inside a value.
const maxJSONDepth = 64

// value scans one JSON value. Nested objects and arrays are checked for balanced brackets
// and well-formed strings, not for full JSON grammar.
func (s *jsonScanner) value() error {
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{' || c == '[':
		var stack [maxJSONDepth]byte
		depth := 0
		for s.pos < len(s.line) {
			switch c := s.line[s.pos]; c {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				if depth == maxJSONDepth {
					return s.errorf("JSON value nested too deeply")
				}
				stack[depth] = c + 2 // '{'+2 == '}', '['+2 == ']'
				depth++
			case '}', ']':
				if depth == 0 || stack[depth-1] != c {
					return s.errorf("mismatched bracket in JSON value")
				}
				depth--
				if depth == 0 {
					s.pos++
					return nil
				}
			}
			s.pos++
		}
		return s.errorf("unterminated JSON value")
	default:
		start := s.pos
		for s.pos < len(s.line) && isLiteralByte(s.line[s.pos]) {
			s.pos++
		}
		tok := s.line[start:s.pos]
		switch {
		case len(tok) == 0:
			return s.errorf("expected a JSON value")
		case tok[0] == '-' || tok[0] >= '0' && tok[0] <= '9':
			return nil
		case string(tok) == "true" || string(tok) == "false" || string(tok) == "null":
			return nil
		}
		s.pos = start
		return s.errorf("bad JSON literal")
	}
}

func isLiteralByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
