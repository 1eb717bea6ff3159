package formats

import (
	"strings"
)

// apacheVerbs maps each Apache mod_log_config conversion to a descriptive field name.
// Verbs whose name ends in ':' take an argument in braces, appended to the name.
var apacheVerbs = map[string]string{
	"a":   "remote_addr",
	"A":   "local_addr",
	"B":   "bytes_sent",
	"b":   "bytes_sent_clf",
	"C":   "cookie:",
	"D":   "duration_us",
	"e":   "env:",
	"f":   "filename",
	"h":   "remote_host",
	"H":   "protocol",
	"i":   "header_in:",
	"I":   "bytes_in",
	"k":   "keepalive_requests",
	"l":   "remote_logname",
	"L":   "log_id",
	"m":   "method",
	"n":   "note:",
	"o":   "header_out:",
	"O":   "bytes_out",
	"p":   "port",
	"P":   "pid",
	"q":   "query",
	"r":   "request",
	"R":   "handler",
	"s":   "status",
	"S":   "bytes_total",
	"t":   "time",
	"T":   "duration",
	"u":   "remote_user",
	"U":   "url_path",
	"v":   "server_name",
	"V":   "vhost",
	"X":   "connection_status",
	"^ti": "trailer_in:",
	"^to": "trailer_out:",
}

// CompileApache compiles an Apache httpd LogFormat string, such as
//
//	%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"
//
// It understands every mod_log_config directive, including %{...}i, %{...}o, %{...}e,
// %{...}C, %{...}n, %{format}t, %{...}^ti, the '<' and '>' modifiers and status
// conditions ("%!200,304u", "%400,501{User-agent}i"), and "%%". The escapes \" \\ \n \t
// are decoded as Apache does, so a string pasted from httpd.conf ("\"%r\"") works.
//
// Two directives with no literal text between them cannot be told apart in a line and
// are refused. Errors are *FormatError values wrapping ErrFormat.
func CompileApache(spec string) (*Format, error) {
	f := &Format{spec: spec, dialect: Apache, vhost: -1}
	var lit []byte
	i := 0
	for i < len(spec) {
		c := spec[i]
		switch c {
		case '\\':
			b, n := configEscape(spec, i)
			lit = append(lit, b)
			i += n
			continue
		case '%':
		default:
			lit = append(lit, c)
			i++
			continue
		}
		if i+1 < len(spec) && spec[i+1] == '%' {
			lit = append(lit, '%')
			i += 2
			continue
		}
		fd, kind, n, err := parseApacheDirective(spec, i)
		if err != nil {
			return nil, err
		}
		if len(f.fields) > 0 && len(lit) == 0 {
			return nil, formatErr(spec, i, "directive %s follows %s with no text between them", fd.Spec, f.fields[len(f.fields)-1].Spec)
		}
		f.lits = append(f.lits, lit)
		lit = nil
		if f.vhost < 0 && (fd.Verb == "v" || fd.Verb == "V") {
			f.vhost = len(f.fields)
		}
		f.fields = append(f.fields, fd)
		f.kinds = append(f.kinds, kind)
		i += n
	}
	if len(f.fields) == 0 {
		return nil, formatErr(spec, 0, "no directives")
	}
	f.lits = append(f.lits, lit)
	if err := f.checkLineBreaks(); err != nil {
		return nil, err
	}
	return f.finish(), nil
}

// parseApacheDirective parses the directive starting with the '%' at spec[i] and returns
// it with its length. The loop follows mod_log_config's parse_log_item: modifiers,
// status codes and a braced argument may come in any order before the verb.
func parseApacheDirective(spec string, i int) (Field, fieldKind, int, error) {
	var fd Field
	var mod strings.Builder
	j := i + 1
	for {
		if j >= len(spec) {
			return fd, 0, 0, formatErr(spec, i, "incomplete directive %q", spec[i:])
		}
		c := spec[j]
		switch {
		case c == '<' || c == '>' || c == '!' || c == ',':
			mod.WriteByte(c)
			j++
		case c >= '0' && c <= '9':
			k := j
			for k < len(spec) && spec[k] >= '0' && spec[k] <= '9' {
				k++
			}
			if k-j != 3 {
				return fd, 0, 0, formatErr(spec, j, "status code %q in directive is not 3 digits", spec[j:k])
			}
			mod.WriteString(spec[j:k])
			j = k
		case c == '{':
			if fd.Arg != "" {
				return fd, 0, 0, formatErr(spec, j, "directive has two {arguments}")
			}
			k := strings.IndexByte(spec[j:], '}')
			if k < 0 {
				return fd, 0, 0, formatErr(spec, j, "unclosed '{' in directive")
			}
			if k == 1 {
				return fd, 0, 0, formatErr(spec, j, "empty {} in directive")
			}
			fd.Arg = spec[j+1 : j+k]
			j += k + 1
		default:
			verb := spec[j : j+1]
			if c == '^' {
				if j+3 > len(spec) {
					return fd, 0, 0, formatErr(spec, j, "incomplete %%^ directive")
				}
				verb = spec[j : j+3]
			}
			name, ok := apacheVerbs[verb]
			if !ok {
				return fd, 0, 0, formatErr(spec, j, "unknown directive %%%s", verb)
			}
			j += len(verb)
			fd.Verb = verb
			fd.Mod = mod.String()
			fd.Spec = spec[i:j]
			if strings.HasSuffix(name, ":") {
				if fd.Arg == "" {
					return fd, 0, 0, formatErr(spec, i, "directive %s needs a {argument}", fd.Spec)
				}
				name += fd.Arg
			}
			fd.Name = name
			kind := kindText
			if verb == "t" && fd.Arg == "" {
				kind = kindCLFTime
			}
			return fd, kind, j - i, nil
		}
	}
}

// configEscape decodes the backslash escape at spec[i] as httpd's config reader and
// mod_log_config do, returning the byte and the length consumed.
func configEscape(spec string, i int) (byte, int) {
	if i+1 >= len(spec) {
		return '\\', 1
	}
	switch c := spec[i+1]; c {
	case 'n':
		return '\n', 2
	case 't':
		return '\t', 2
	case '"', '\\', '\'':
		return c, 2
	}
	return '\\', 1
}
