package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestTailPermissionRemedy: the shipper, run as nobody, cannot read a followed file
// (mode 0600, root's), reach one (its directory 0700, root's), or list the directory a
// glob matches names in (0711, root's). The warning named the path and EACCES only (and
// for the glob there was none: the pattern matched nothing, silently); it now says what to do: the user the shipper runs as, whether
// read (r) permission on the file or search (x) permission on a directory (which one)
// (or read (r) on a glob's directory) is missing, with its mode and owner, how to give it (group, usermod, chmod), and for a
// file logrotate makes again, the create line that keeps new files readable.
func TestTailPermissionRemedy(t *testing.T) {
	cred, dir := unprivileged(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d string) string // returns the followed path
		want  []string                            // regular expressions, all in one warning
	}{
		{"file", func(t *testing.T, d string) string {
			writeMode(t, filepath.Join(d, "access.log"), accessLines("a", 1, 1), 0o600)
			return filepath.Join(d, "access.log")
		}, []string{
			`runs as user nobody \(uid \d+\)`,
			`lacks read \(r\) permission on the file \(-rw------- root:root\)`,
			`usermod -aG adm nobody`,
			`chmod g\+r `,
			`create 0640 root adm`,
		}},
		{"directory", func(t *testing.T, d string) string {
			sub := filepath.Join(d, "private")
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			writeMode(t, filepath.Join(sub, "access.log"), accessLines("a", 1, 1), 0o644)
			return filepath.Join(sub, "access.log")
		}, []string{
			`runs as user nobody \(uid \d+\)`,
			`lacks search \(x\) permission on the directory \S*/private \(drwx------ root:root\)`,
			`chmod o\+x \S*/private`,
		}},
		{"glob", func(t *testing.T, d string) string {
			sub := filepath.Join(d, "unlisted")
			if err := os.Mkdir(sub, 0o711); err != nil {
				t.Fatal(err)
			}
			writeMode(t, filepath.Join(sub, "access.log"), accessLines("a", 1, 1), 0o644)
			return filepath.Join(sub, "*.log")
		}, []string{
			`msg="cannot list a directory of the pattern`,
			`runs as user nobody \(uid \d+\)`,
			`lacks read \(r\) permission on the directory \(drwx--x--x root:root\)`,
			`chmod o\+r \S*/unlisted`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, tc.name)
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			path := tc.setup(t, d)
			p := asUser(t, cred, dir, "ship", "--group", "www", "--spread", "unix:"+filepath.Join(dir, "none"),
				"--state-dir", ownedDir(t, cred, filepath.Join(dir, tc.name+"-state")), path)
			line := p.WaitLog(t, `msg="cannot (read file;|list a directory)[^\n]*reason=permission[^\n]*`)[0]
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(line) {
					t.Errorf("the warning does not say %s:\n%s", w, line)
				}
			}
			if code := p.Terminate(t); code != 0 {
				t.Errorf("exit code after SIGTERM %d", code)
			}
		})
	}
}
