//go:build linux

package source

import (
	"os"
	"strconv"
	"strings"
)

// openedName returns the name the open file f has now, as the kernel keeps it for the
// descriptor (/proc/self/fd), with symlinks resolved; "" when it is not known (the file
// was deleted, or /proc is not mounted). A symlinked path's target may be switched
// between the open of the path and a resolution of it: this name is the file's own.
func openedName(f *os.File) string {
	if f == nil {
		return ""
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var name string
	if cerr := rc.Control(func(fd uintptr) {
		name, err = os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
	}); cerr != nil || err != nil || !strings.HasPrefix(name, "/") || strings.HasSuffix(name, " (deleted)") {
		return ""
	}
	return name
}
