package envelope

import (
	"flag"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

var update = flag.Bool("update", false, "rewrite the testdata/**/*.golden files")

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	testsupport.CheckGolden(t, path, got, *update)
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	return testsupport.ReadLines(t, path)
}
