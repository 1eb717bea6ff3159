package formats

import (
	"flag"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

var update = flag.Bool("update", false, "rewrite the testdata/**/*.golden files")

// checkGolden compares got with the golden file at path, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	testsupport.CheckGolden(t, path, got, *update)
}

// readLines returns the '\n'-terminated lines of a testdata file, endings kept.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	return testsupport.ReadLines(t, path)
}
