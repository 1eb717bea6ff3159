package formats

// AppendEscaped appends v to dst escaped as Apache's ap_escape_logitem does: '"' and '\'
// get a backslash, \b \n \r \t \v are written as such, and other bytes below 0x20 or
// above 0x7e become \xhh. The result contains no '"' without a backslash before it, so it
// can be rendered inside a quoted field.
func AppendEscaped(dst, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\v':
			dst = append(dst, '\\', 'v')
		default:
			if c < 0x20 || c > 0x7e {
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return dst
}

// Unescape appends the logged value v to dst with the escapes of Apache and nginx decoded:
// \" \\ \b \n \r \t \v and \xhh (either case). A backslash that starts no known escape
// is kept as it is.
func Unescape(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			dst = append(dst, c)
			continue
		}
		switch e := v[i+1]; e {
		case '"', '\\':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case 'x':
			if i+3 < len(v) && unhex(v[i+2]) >= 0 && unhex(v[i+3]) >= 0 {
				dst = append(dst, byte(unhex(v[i+2])<<4|unhex(v[i+3])))
				i += 3
				continue
			}
			dst = append(dst, c)
			continue
		default:
			dst = append(dst, c)
			continue
		}
		i++
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
