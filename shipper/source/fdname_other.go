//go:build !linux

package source

import "os"

// openedName returns "": the name of an open file is not looked up on this platform (see
// the Linux version).
func openedName(*os.File) string { return "" }
