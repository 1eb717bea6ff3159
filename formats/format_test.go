package formats

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustCompile(t testing.TB, spec string) *Format {
	t.Helper()
	f, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile(%q): %v", spec, err)
	}
	return f
}

func TestCompileApacheFields(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []Field
		lits []string
	}{
		{
			name: "common",
			spec: CommonLog,
			want: []Field{
				{Spec: "%h", Name: "remote_host", Verb: "h"},
				{Spec: "%l", Name: "remote_logname", Verb: "l"},
				{Spec: "%u", Name: "remote_user", Verb: "u"},
				{Spec: "%t", Name: "time", Verb: "t"},
				{Spec: "%r", Name: "request", Verb: "r"},
				{Spec: "%>s", Name: "status", Verb: "s", Mod: ">"},
				{Spec: "%b", Name: "bytes_sent_clf", Verb: "b"},
			},
			lits: []string{"", " ", " ", " ", ` "`, `" `, " ", ""},
		},
		{
			name: "httpd.conf quoting",
			spec: `%v:%p \"%r\"\t%%%D`,
			want: []Field{
				{Spec: "%v", Name: "server_name", Verb: "v"},
				{Spec: "%p", Name: "port", Verb: "p"},
				{Spec: "%r", Name: "request", Verb: "r"},
				{Spec: "%D", Name: "duration_us", Verb: "D"},
			},
			lits: []string{"", ":", ` "`, "\"\t%", ""},
		},
		{
			name: "conditions and arguments",
			spec: `%!200,304u %400,501{User-agent}i %<s %{%Y-%m-%dT%H:%M:%S}t %{X-Trace}^ti %{cookie}C`,
			want: []Field{
				{Spec: "%!200,304u", Name: "remote_user", Verb: "u", Mod: "!200,304"},
				{Spec: "%400,501{User-agent}i", Name: "header_in:User-agent", Verb: "i", Arg: "User-agent", Mod: "400,501"},
				{Spec: "%<s", Name: "status", Verb: "s", Mod: "<"},
				{Spec: "%{%Y-%m-%dT%H:%M:%S}t", Name: "time", Verb: "t", Arg: "%Y-%m-%dT%H:%M:%S"},
				{Spec: "%{X-Trace}^ti", Name: "trailer_in:X-Trace", Verb: "^ti", Arg: "X-Trace"},
				{Spec: "%{cookie}C", Name: "cookie:cookie", Verb: "C", Arg: "cookie"},
			},
			lits: []string{"", " ", " ", " ", " ", " ", ""},
		},
		{
			name: "headers out, env, notes, sizes",
			spec: `[%{Content-Type}o|%{HOME}e|%{mod}n|%I|%O|%T|%{ms}T|%V]`,
			want: []Field{
				{Spec: "%{Content-Type}o", Name: "header_out:Content-Type", Verb: "o", Arg: "Content-Type"},
				{Spec: "%{HOME}e", Name: "env:HOME", Verb: "e", Arg: "HOME"},
				{Spec: "%{mod}n", Name: "note:mod", Verb: "n", Arg: "mod"},
				{Spec: "%I", Name: "bytes_in", Verb: "I"},
				{Spec: "%O", Name: "bytes_out", Verb: "O"},
				{Spec: "%T", Name: "duration", Verb: "T"},
				{Spec: "%{ms}T", Name: "duration", Verb: "T", Arg: "ms"},
				{Spec: "%V", Name: "vhost", Verb: "V"},
			},
			lits: []string{"[", "|", "|", "|", "|", "|", "|", "|", "]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := CompileApache(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Fields()); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			var lits []string
			for _, l := range f.lits {
				lits = append(lits, string(l))
			}
			if diff := cmp.Diff(tc.lits, lits); diff != "" {
				t.Errorf("literals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		compile func(string) (*Format, error)
		spec    string
		pos     int
		msg     string
	}{
		{name: "trailing percent", compile: CompileApache, spec: `%h %`, pos: 3, msg: "incomplete directive"},
		{name: "unknown verb", compile: CompileApache, spec: `%h %Q`, pos: 4, msg: "unknown directive %Q"},
		{name: "unclosed brace", compile: CompileApache, spec: `%h "%{Referer i"`, pos: 5, msg: "unclosed '{'"},
		{name: "missing header name", compile: CompileApache, spec: `%h %i`, pos: 3, msg: "needs a {argument}"},
		{name: "empty braces", compile: CompileApache, spec: `%{}i`, pos: 1, msg: "empty {}"},
		{name: "bad status code", compile: CompileApache, spec: `%h %!20u`, pos: 5, msg: "not 3 digits"},
		{name: "adjacent directives", compile: CompileApache, spec: `%h%l`, pos: 2, msg: "no text between"},
		{name: "no directives", compile: CompileApache, spec: `plain text`, pos: 0, msg: "no directives"},
		{name: "incomplete trailer", compile: CompileApache, spec: `%{X}^t`, pos: 4, msg: "incomplete"},
		{name: "line break", compile: CompileApache, spec: `%h\n%u`, pos: 2, msg: "line break"},
		{name: "nginx line break", compile: CompileNginx, spec: "$host\n$uri", pos: 5, msg: "line break"},
		{name: "nginx bare dollar", compile: CompileNginx, spec: `$remote_addr $ x`, pos: 13, msg: "not followed by a variable name"},
		{name: "nginx unclosed brace", compile: CompileNginx, spec: `${host x`, pos: 0, msg: "unclosed '{'"},
		{name: "nginx adjacent", compile: CompileNginx, spec: `$host${uri}`, pos: 5, msg: "no text between"},
		{name: "nginx no variables", compile: CompileNginx, spec: `-`, pos: 0, msg: "no variables"},
		{name: "json quote in key", compile: func(s string) (*Format, error) { return CompileJSON("a", s) }, spec: `b"`, pos: 8, msg: "cannot be used"},
		{name: "json duplicate", compile: func(s string) (*Format, error) { return CompileJSON("a", s) }, spec: `a`, pos: 7, msg: "duplicate key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.compile(tc.spec)
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v, want one wrapping ErrFormat", err)
			}
			fe, ok := errors.AsType[*FormatError](err)
			if !ok {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if fe.Pos != tc.pos || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got position %d %q, want %d containing %q", fe.Pos, fe.Msg, tc.pos, tc.msg)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		format string
		line   string
		want   map[string]string // field Spec or Name -> value
	}{
		{
			name:   "combined with escaped quotes",
			format: "combined",
			line:   `198.51.100.7 - - [10/Oct/2025:13:55:38 -0700] "GET /q?a=\"b\" HTTP/1.1" 200 10 "-" "UA \"x\" y"` + "\n",
			want: map[string]string{"%h": "198.51.100.7", "%t": "[10/Oct/2025:13:55:38 -0700]",
				"%r": `GET /q?a=\"b\" HTTP/1.1`, "status": "200", "%{User-Agent}i": `UA \"x\" y`, "%{Referer}i": "-"},
		},
		{
			name:   "user name with a space and CRLF",
			format: "common",
			line:   "192.0.2.1 - alice smith [10/Oct/2025:13:55:43 +0000] \"GET / HTTP/1.1\" 200 -\r\n",
			want:   map[string]string{"%u": "alice smith", "%t": "[10/Oct/2025:13:55:43 +0000]", "%b": "-"},
		},
		{
			name:   "ipv6 vhost_combined",
			format: "vhost_combined",
			line:   `api.example.org:8443 2001:db8::1 - - [10/Oct/2025:13:55:38 -0700] "GET / HTTP/2.0" 204 0 "-" "x"`,
			want:   map[string]string{"%v": "api.example.org", "%p": "8443", "%h": "2001:db8::1", "%O": "0"},
		},
		{
			name:   "request ending in a backslash",
			format: "combined",
			line:   `192.0.2.1 - - [10/Oct/2025:13:55:43 +0000] "GET /a\\" 200 1 "-" "-"`,
			want:   map[string]string{"%r": `GET /a\\`, "%b": "1"},
		},
		{
			name:   "nginx main",
			format: "nginx_main",
			line:   `10.0.0.1 - - [10/Oct/2025:13:55:36 +0200] "GET / HTTP/1.1" 200 612 "-" "curl/8" "198.51.100.1, 10.0.0.2"`,
			want: map[string]string{"$time_local": "10/Oct/2025:13:55:36 +0200", "status": "200",
				"http_x_forwarded_for": "198.51.100.1, 10.0.0.2"},
		},
		{
			name:   "nginx time_local followed by a space",
			format: `$time_local $status $request`,
			line:   `10/Oct/2025:13:55:36 +0200 200 GET / HTTP/1.1`,
			want:   map[string]string{"$time_local": "10/Oct/2025:13:55:36 +0200", "$status": "200", "$request": "GET / HTTP/1.1"},
		},
		{
			name:   "custom time and duration",
			format: `%{%Y-%m-%d %H:%M:%S}t|%D|%>s`,
			line:   `2025-10-10 13:55:36|1543|503`,
			want:   map[string]string{"%D": "1543", "%{%Y-%m-%d %H:%M:%S}t": "2025-10-10 13:55:36", "%>s": "503"},
		},
		{
			name:   "json with nesting and a missing key",
			format: "json:host,status,upstream,missing",
			line:   `{"upstream": {"a": [1, "]"]}, "status": 502, "host": "api.example.org"}`,
			want:   map[string]string{"host": `"api.example.org"`, "status": "502", "upstream": `{"a": [1, "]"]}`, "missing": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustCompile(t, tc.format)
			vals, err := f.Parse(nil, []byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				i := f.Index(k)
				if i < 0 {
					t.Fatalf("no field %q", k)
				}
				if got := string(vals[i]); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			out, err := f.Render(nil, vals)
			if err != nil {
				t.Fatal(err)
			}
			if f.Dialect() != JSON && string(out) != strings.TrimRight(tc.line, "\r\n")+"\n" {
				t.Errorf("Render = %q, want the line back", out)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		format string
		line   string
		field  string
		pos    int
	}{
		{name: "common line for combined", format: "combined",
			line:  `192.0.2.1 - - [10/Oct/2025:13:55:43 +0000] "GET / HTTP/1.1" 200 5`,
			field: "%b", pos: 64},
		{name: "missing bracket", format: "common", line: `192.0.2.1 - - 10/Oct/2025 "GET /" 200 5`, field: "%u", pos: 12},
		{name: "unterminated request", format: "common",
			line: `192.0.2.1 - - [10/Oct/2025:13:55:43 +0000] "GET / HTTP/1.1 200 5`, field: "%r", pos: 44},
		{name: "empty line", format: "common", line: "", field: "%h", pos: 0},
		{name: "leading literal", format: `[%h]`, line: `(x]`, field: "", pos: 0},
		{name: "json not an object", format: "json", line: `["a"]`, field: "", pos: 0},
		{name: "json bad value", format: "json", line: `{"status": tru}`, field: "status", pos: 11},
		{name: "json trailing data", format: "json", line: `{"status": 1} x`, field: "", pos: 14},
		{name: "json unterminated string", format: "json", line: `{"host": "abc}`, field: "host", pos: 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustCompile(t, tc.format)
			vals, err := f.Parse(make([][]byte, 0, 16), []byte(tc.line))
			if len(vals) != 0 {
				t.Errorf("Parse returned %d values with its error", len(vals))
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok || !errors.Is(err, ErrNoMatch) {
				t.Fatalf("error %v, want a *ParseError wrapping ErrNoMatch", err)
			}
			if pe.Field != tc.field || pe.Pos != tc.pos {
				t.Errorf("error at field %q byte %d, want field %q byte %d: %v", pe.Field, pe.Pos, tc.field, tc.pos, err)
			}
		})
	}
}

// TestSamples parses every sample line in testdata with its named format, checks that
// Render gives the line back, and pins the fields in testdata/<name>.golden.
func TestSamples(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			f := mustCompile(t, name)
			var out bytes.Buffer
			for n, line := range readLines(t, filepath.Join("testdata", name+".log")) {
				vals, err := f.Parse(nil, line)
				if err != nil {
					t.Fatalf("line %d: %v", n+1, err)
				}
				fmt.Fprintf(&out, "line %d\n", n+1)
				for i, fd := range f.Fields() {
					v := vals[i]
					if len(v) > 200 {
						v = append(append([]byte(nil), v[:200]...), fmt.Sprintf("...(%d bytes)", len(vals[i]))...)
					}
					fmt.Fprintf(&out, "\t%s\t%q\n", fd.Spec, v)
				}
				if vh, ok := f.VHost(line); ok {
					fmt.Fprintf(&out, "\tvhost\t%q\n", vh)
				}
				back, err := f.Render(nil, vals)
				if err != nil {
					t.Fatal(err)
				}
				if f.Dialect() == JSON {
					again, err := f.Parse(nil, back)
					if err != nil || !equalValues(vals, again) {
						t.Errorf("line %d: parse of rendered %q = %q, %v; want %q", n+1, back, again, err, vals)
					}
				} else if !bytes.Equal(back, append(trimEOL(line), '\n')) {
					t.Errorf("line %d: Render = %q, want %q", n+1, back, line)
				}
			}
			checkGolden(t, filepath.Join("testdata", name+".golden"), out.Bytes())
		})
	}
}

func TestVHost(t *testing.T) {
	tests := []struct {
		name   string
		format string
		line   string
		want   string
		ok     bool
	}{
		{name: "vhost_combined", format: "vhost_combined", line: "www.example.com:443 192.0.2.1 - - [x] \"GET /\" 200 1 \"-\" \"-\"\n", want: "www.example.com", ok: true},
		{name: "vhost_combined garbage still splits", format: "vhost_combined", line: "www.example.com:443 junk", want: "www.example.com", ok: true},
		{name: "vhost_combined no colon", format: "vhost_combined", line: "www.example.com 192.0.2.1", ok: false},
		{name: "combined has none", format: "combined", line: `192.0.2.1 - - [x] "GET /" 200 1 "-" "-"`, ok: false},
		{name: "%V later in the line", format: `%h %V "%r"`, line: `192.0.2.1 shop.example.net "GET /"`, want: "shop.example.net", ok: true},
		{name: "%V as last field", format: `%h %V`, line: "192.0.2.1 shop.example.net\n", want: "shop.example.net", ok: true},
		{name: "nginx $host", format: `$host $remote_addr [$time_local] "$request"`, line: `example.com 10.0.0.1 [10/Oct/2025:13:55:36 +0200] "GET /"`, want: "example.com", ok: true},
		{name: "nginx $server_name", format: `$remote_addr "$server_name"`, line: `10.0.0.1 "a.example"`, want: "a.example", ok: true},
		{name: "json host", format: "json", line: `{"status":200, "host":"api.example.org"}`, want: "api.example.org", ok: true},
		{name: "json no host", format: "json", line: `{"status":200}`, ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustCompile(t, tc.format)
			got, ok := f.VHost([]byte(tc.line))
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("VHost = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestVHostDoesNotAllocate(t *testing.T) {
	f := mustCompile(t, "vhost_combined")
	line := readLines(t, "testdata/vhost_combined.log")[1]
	n := testing.AllocsPerRun(100, func() {
		if _, ok := f.VHost(line); !ok {
			t.Fatal("no vhost")
		}
	})
	if n != 0 {
		t.Errorf("VHost allocates %v times per line", n)
	}
}

func TestRenderErrors(t *testing.T) {
	f := mustCompile(t, "agent")
	tests := []struct {
		name   string
		values []string
		want   error
	}{
		{name: "too many values", values: []string{"a", "b"}, want: ErrFieldCount},
		{name: "line break in a value", values: []string{"a\nb"}, want: ErrRender},
		{name: "line ending in CR", values: []string{"a\r"}, want: ErrRender},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var vals [][]byte
			for _, v := range tc.values {
				vals = append(vals, []byte(v))
			}
			out, err := f.Render([]byte("keep"), vals)
			if !errors.Is(err, tc.want) || string(out) != "keep" {
				t.Errorf("Render = %q, %v; want dst unchanged and %v", out, err, tc.want)
			}
		})
	}
}

func TestNamed(t *testing.T) {
	for _, name := range Names() {
		if _, err := Named(name); err != nil {
			t.Errorf("Named(%q): %v", name, err)
		}
	}
	_, err := Named("combinde")
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "combined") {
		t.Errorf("Named(combinde) = %v, want ErrUnknownFormat listing the known names", err)
	}
	if _, err := Compile("nonsense"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Compile(nonsense) = %v, want ErrUnknownFormat", err)
	}
	for spec, want := range map[string]Dialect{"combined": Apache, "nginx_main": Nginx, "json": JSON,
		"%h %U": Apache, "$remote_addr $uri": Nginx, "json:a,b": JSON} {
		if f := mustCompile(t, spec); f.Dialect() != want {
			t.Errorf("Compile(%q) is %v, want %v", spec, f.Dialect(), want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		esc  string
	}{
		{name: "plain", raw: "GET / HTTP/1.1", esc: "GET / HTTP/1.1"},
		{name: "quotes and backslash", raw: `say "hi" \o/`, esc: `say \"hi\" \\o/`},
		{name: "controls", raw: "a\nb\tc\x00\x7f", esc: `a\nb\tc\x00\x7f`},
		{name: "utf-8 bytes", raw: "café", esc: `caf\xc3\xa9`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendEscaped(nil, []byte(tc.raw))); got != tc.esc {
				t.Errorf("AppendEscaped = %q, want %q", got, tc.esc)
			}
			if got := string(Unescape(nil, []byte(tc.esc))); got != tc.raw {
				t.Errorf("Unescape = %q, want %q", got, tc.raw)
			}
		})
	}
	if got := string(Unescape(nil, []byte(`\x2`))); got != `\x2` {
		t.Errorf("Unescape of a short \\x escape = %q, want it kept", got)
	}
	if got := string(Unescape(nil, []byte(`nginx \x22q\x22`))); got != `nginx "q"` {
		t.Errorf("Unescape of nginx escapes = %q", got)
	}
}

func BenchmarkVHost(b *testing.B) {
	for _, name := range []string{"vhost_combined", "json"} {
		b.Run(name, func(b *testing.B) {
			f := mustCompile(b, name)
			line := readLines(&testing.T{}, "testdata/"+name+".log")[1]
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := f.VHost(line); !ok {
					b.Fatal("no vhost")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"combined", "vhost_combined", "nginx_main", "json"} {
		b.Run(name, func(b *testing.B) {
			f := mustCompile(b, name)
			line := readLines(&testing.T{}, "testdata/"+name+".log")[1]
			vals := make([][]byte, 0, f.NumFields())
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if vals, err = f.Parse(vals[:0], line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
