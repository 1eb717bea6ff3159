package testsupport

import (
	"crypto/rand"
	"os"
	"testing"
)

// DamageFile damages name in place as a crash, a bad disk or an operator may while a
// process is down: mode "zeroed" (same size), "truncated" (to a third of its size) or
// "garbage" (random bytes, same size).
func DamageFile(t testing.TB, name, mode string) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "zeroed":
		err = os.WriteFile(name, make([]byte, fi.Size()), 0o640)
	case "truncated":
		err = os.Truncate(name, fi.Size()/3)
	case "garbage":
		b := make([]byte, fi.Size())
		rand.Read(b)
		err = os.WriteFile(name, b, 0o640)
	default:
		t.Fatalf("unknown damage %q", mode)
	}
	if err != nil {
		t.Fatal(err)
	}
}
