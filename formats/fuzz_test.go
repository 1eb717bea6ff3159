package formats

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// addSampleSeeds adds every sample line of the named formats to f, each with its format string.
func addSampleSeeds(f *testing.F, names ...string) {
	f.Helper()
	for _, name := range names {
		fm, err := Named(name)
		if err != nil {
			f.Fatal(err)
		}
		t := &testing.T{}
		for _, line := range readLines(t, filepath.Join("testdata", name+".log")) {
			f.Add(fm.String(), line)
		}
	}
}

// checkRoundTrip parses line with fm and checks the properties every format keeps:
// errors are typed and in range; Render gives the line back (Apache, nginx) or a line that
// parses to the same values (JSON); VHost agrees with Parse.
func checkRoundTrip(t *testing.T, fm *Format, line []byte) {
	t.Helper()
	vhost, vok := fm.VHost(line)
	vals, err := fm.Parse(nil, line)
	if err != nil {
		pe, ok := errors.AsType[*ParseError](err)
		if !ok || !errors.Is(err, ErrNoMatch) {
			t.Fatalf("Parse error %v is not a *ParseError", err)
		}
		if pe.Pos < 0 || pe.Pos > len(line) {
			t.Fatalf("ParseError position %d outside the line of %d bytes", pe.Pos, len(line))
		}
		return
	}
	if len(vals) != fm.NumFields() {
		t.Fatalf("Parse returned %d values for %d fields", len(vals), fm.NumFields())
	}
	if i := fm.VHostField(); i >= 0 {
		want := vals[i]
		if fm.Dialect() == JSON && len(want) >= 2 && want[0] == '"' {
			want = want[1 : len(want)-1]
		}
		if fm.Dialect() == JSON && want == nil {
			if vok {
				t.Fatalf("VHost = %q, but the line has no vhost key", vhost)
			}
		} else if !vok || !bytes.Equal(vhost, want) {
			t.Fatalf("VHost = %q, %v; Parse says %q", vhost, vok, want)
		}
	}
	out, err := fm.Render(nil, vals)
	if err != nil {
		// Only a line break inside the line, or a line ending in '\r', cannot be rendered.
		body := trimEOL(line)
		if !errors.Is(err, ErrRender) || bytes.IndexByte(body, '\n') < 0 && !bytes.HasSuffix(body, []byte("\r")) && fm.Dialect() != JSON {
			t.Fatalf("Render of %q: %v", vals, err)
		}
		return
	}
	if fm.Dialect() != JSON && !bytes.Equal(out, append(trimEOL(line), '\n')) {
		t.Fatalf("Render = %q, want %q", out, trimEOL(line))
	}
	again, err := fm.Parse(nil, out)
	if err != nil {
		t.Fatalf("Parse of rendered line %q: %v", out, err)
	}
	if !equalValues(vals, again) {
		t.Fatalf("values changed in a round trip: %q became %q", vals, again)
	}
	out2, _ := fm.Render(nil, again)
	if !bytes.Equal(out, out2) {
		t.Fatalf("second render %q differs from first %q", out2, out)
	}
}

func FuzzParseApache(f *testing.F) {
	addSampleSeeds(f, "common", "combined", "vhost_combined", "referer", "agent")
	f.Add(`%!200,304u %{%Y %H}t [%{X}^to] \"%r\"`, []byte(`- 2025 13 [a] "GET \\"`))
	f.Add(`%V %t %T`, []byte("h [x] y] 1\r\n"))
	f.Fuzz(func(t *testing.T, spec string, line []byte) {
		fm, err := CompileApache(spec)
		if err != nil {
			fe, ok := errors.AsType[*FormatError](err)
			if !ok || fe.Pos < 0 || fe.Pos > len(spec) {
				t.Fatalf("CompileApache(%q) error %v", spec, err)
			}
			return
		}
		checkRoundTrip(t, fm, line)
	})
}

func FuzzParseNginx(f *testing.F) {
	addSampleSeeds(f, "nginx_combined", "nginx_main")
	f.Add(`$host ${uri}? [$time_local] "$request"`, []byte(`a.example /x? [10/Oct/2025:13:55:36 +0200] "GET /"`))
	f.Fuzz(func(t *testing.T, spec string, line []byte) {
		fm, err := CompileNginx(spec)
		if err != nil {
			fe, ok := errors.AsType[*FormatError](err)
			if !ok || fe.Pos < 0 || fe.Pos > len(spec) {
				t.Fatalf("CompileNginx(%q) error %v", spec, err)
			}
			return
		}
		checkRoundTrip(t, fm, line)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, line := range readLines(&testing.T{}, "testdata/json.log") {
		f.Add(line)
	}
	f.Add([]byte(`{"host":{"a":[1,{"b":"]}"}]},"status":-1.5e3,"x":null}`))
	f.Add([]byte(`{"host":"\u00e9\"","status":true} `))
	fm, err := Named("json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkRoundTrip(t, fm, line)
	})
}

func FuzzUnescape(f *testing.F) {
	f.Add([]byte(`say "hi" \o/` + "\x00\xff\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		esc := AppendEscaped(nil, raw)
		if got := Unescape(nil, esc); !bytes.Equal(got, raw) {
			t.Fatalf("Unescape(AppendEscaped(%q)) = %q", raw, got)
		}
		// An escaped value never ends a quoted field early.
		if i := bytes.IndexByte(esc, '"'); i >= 0 && !escaped(esc, 0, i) {
			t.Fatalf("AppendEscaped(%q) = %q has a bare quote", raw, esc)
		}
		_ = Unescape(nil, raw)
	})
}

// equalValues compares field values; a JSON value present in a line is never empty, so
// empty and nil values are alike.
func equalValues(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
