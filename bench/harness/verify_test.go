package harness

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	env := &Env{Inputs: []string{
		writeFile(t, dir, "a", "a1\na2\na3\nsame\n"),
		writeFile(t, dir, "b", "b1\nb2\nsame\n"),
	}}
	open := func(s string) func(string) (io.ReadCloser, error) {
		return func(string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
	}
	for _, tc := range []struct {
		name, out, want string
	}{
		{"interleaved", "a1\nb1\na2\nsame\nb2\na3\nsame\n", "ok"},
		{"missing", "a1\nb1\na2\nb2\na3\nsame\n", "x: 1 missing"},
		{"duplicate", "a1\na1\nb1\na2\nb2\na3\nsame\nsame\n", "x: 1 duplicated"},
		{"extra and missing", "a1\nb1\na2\nb2\na3X\nsame\nsame\n", "x: 1 missing, 1 extra"},
		{"reordered", "a2\na1\nb1\nb2\na3\nsame\nsame\n", "x: 1 out of order"},
		{"unterminated", "a1\nb1\na2\nb2\na3\nsame\nsame", "x: last line unterminated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Verify(env, Output{Name: "x", Files: []string{"f"}, Open: open(tc.out)})
			if got := v.String(); got != tc.want {
				t.Errorf("Verify = %q, want %q", got, tc.want)
			}
		})
	}
}
