package formats

// CompileNginx compiles an nginx log_format string, such as
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// Variables are written $name or ${name}, with names of letters, digits and '_'. The
// escapes \" \' \\ \n \t are decoded as nginx's config reader does. Each field's Spec is
// "$name" and its Name is the variable name. $host and $server_name mark the virtual host.
//
// Two variables with no literal text between them cannot be told apart in a line and are
// refused. Errors are *FormatError values wrapping ErrFormat.
func CompileNginx(spec string) (*Format, error) {
	f := &Format{spec: spec, dialect: Nginx, vhost: -1}
	var lit []byte
	i := 0
	for i < len(spec) {
		c := spec[i]
		if c == '\\' {
			b, n := configEscape(spec, i)
			lit = append(lit, b)
			i += n
			continue
		}
		if c != '$' {
			lit = append(lit, c)
			i++
			continue
		}
		start := i
		j := i + 1
		braced := j < len(spec) && spec[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(spec) && isVarByte(spec[k]) {
			k++
		}
		if k == j {
			return nil, formatErr(spec, i, "'$' not followed by a variable name")
		}
		name := spec[j:k]
		if braced {
			if k >= len(spec) || spec[k] != '}' {
				return nil, formatErr(spec, i, "unclosed '{' in variable")
			}
			k++
		}
		fd := Field{Spec: "$" + name, Name: name}
		if len(f.fields) > 0 && len(lit) == 0 {
			return nil, formatErr(spec, start, "variable %s follows %s with no text between them", fd.Spec, f.fields[len(f.fields)-1].Spec)
		}
		f.lits = append(f.lits, lit)
		lit = nil
		if f.vhost < 0 && (name == "host" || name == "server_name") {
			f.vhost = len(f.fields)
		}
		kind := kindText
		if name == "time_local" {
			kind = kindTimeLocal
		}
		f.fields = append(f.fields, fd)
		f.kinds = append(f.kinds, kind)
		i = k
	}
	if len(f.fields) == 0 {
		return nil, formatErr(spec, 0, "no variables")
	}
	f.lits = append(f.lits, lit)
	if err := f.checkLineBreaks(); err != nil {
		return nil, err
	}
	return f.finish(), nil
}

func isVarByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
