//go:build unix

package source

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// permissionRemedy says what keeps the shipper from reading path (EACCES) and what to
// do: the user it runs as, and the first directory on the path it may not search (x),
// or the file it may not read (r), with its mode and owner, and how to give the
// permission (with logrotate's create line for a file logrotate makes again at every
// rotation). It reads the mode bits only (not ACLs, not an LSM's rules); when they allow
// the access, it says so.
func permissionRemedy(path string) string { return accessRemedy(path, nil) }

// listRemedy is permissionRemedy for a directory whose names a glob lists: it needs
// read (r) and search (x) permission on it.
func listRemedy(dir string) string {
	return accessRemedy(dir, &dirUse{"to list the names the pattern matches and reach them", "leave the pattern out of the arguments"})
}

// watchRemedy is permissionRemedy for a directory of followed files that fsnotify may
// not watch: inotify needs read (r) permission on it (and search, x, to read its files).
func watchRemedy(dir string) string {
	return accessRemedy(dir, &dirUse{"to watch it for the writes and rotations of the files followed in it",
		"leave its files out of the arguments (they are read on the poll backstop meanwhile)"})
}

// A dirUse says, for accessRemedy, what a directory's permissions are needed for, and
// the way out other than giving them.
type dirUse struct{ need, leave string }

func accessRemedy(path string, dir *dirUse) string {
	isDir := dir != nil
	who := processUser()
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	// Each directory from the root down, then the file.
	var dirs []string
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			break // unreachable from here: the directory above it was the one, or it is gone
		}
		if who.may(fi, 1) {
			continue
		}
		return fmt.Sprintf("the shipper runs as %s and lacks search (x) permission on the directory %s (%s), needed to reach %s: %s, "+
			"or run the shipper as a user that can reach it, or leave it out of the arguments",
			who, d, describe(fi), path, who.howTo(d, fi, "x", true))
	}
	what := "the file"
	if isDir {
		what = "the directory"
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Sprintf("the shipper runs as %s; give it read permission on %s and search (x) permission on its directories, or leave it out of the arguments", who, what)
	}
	var missing, perm string
	if !who.may(fi, 4) {
		missing, perm = "read (r)", "r"
	}
	if isDir && !who.may(fi, 1) {
		missing, perm = strings.TrimPrefix(missing+" and search (x)", " and "), perm+"x"
	}
	switch {
	case isDir && perm != "":
		return fmt.Sprintf("the shipper runs as %s and lacks %s permission on the directory (%s), needed %s: %s, "+
			"or run the shipper as a user that can, or %s",
			who, missing, describe(fi), dir.need, who.howTo(abs, fi, perm, true), dir.leave)
	case isDir || who.may(fi, 4):
		return fmt.Sprintf("the shipper runs as %s; the modes on the path give it read permission on %s, so an ACL or a security module (SELinux, AppArmor) denies it: check those, or leave it out of the arguments", who, what)
	}
	return fmt.Sprintf("the shipper runs as %s and lacks read (r) permission on the file (%s): %s; "+
		"if logrotate makes the file again at each rotation, make its create line give the same (create 0640 %s %s), or each new file is unreadable again; "+
		"or run the shipper as a user that can read it, or leave the file out of the arguments",
		who, describe(fi), who.howTo(abs, fi, "r", false), ownerName(fi), groupFor(fi))
}

// procUser is the user and groups the process runs as.
type procUser struct {
	uid    int
	name   string
	groups []int // effective group and supplementary groups
}

func processUser() procUser {
	u := procUser{uid: os.Geteuid()}
	u.name = strconv.Itoa(u.uid)
	if pu, err := user.LookupId(u.name); err == nil {
		u.name = pu.Username
	}
	u.groups = append(u.groups, os.Getegid())
	if gs, err := os.Getgroups(); err == nil {
		u.groups = append(u.groups, gs...)
	}
	return u
}

func (u procUser) String() string { return fmt.Sprintf("user %s (uid %d)", u.name, u.uid) }

// may reports whether the mode bits of fi give u every permission of bits (4 r, 2 w,
// 1 x, or'ed).
func (u procUser) may(fi fs.FileInfo, bits fs.FileMode) bool {
	if u.uid == 0 {
		return true
	}
	uid, gid := owner(fi)
	m := fi.Mode().Perm()
	switch {
	case uid == u.uid:
		return m&(bits<<6) == bits<<6
	case slices.Contains(u.groups, gid):
		return m&(bits<<3) == bits<<3
	}
	return m&bits == bits
}

// howTo says how to give u the permission perm ("r" or "x") on name: through its group
// (the user added to it, the group given the bit), or for a directory by others' bit.
func (u procUser) howTo(name string, fi fs.FileInfo, perm string, dir bool) string {
	_, gid := owner(fi)
	grp := groupFor(fi)
	var steps []string
	if !slices.Contains(u.groups, gid) {
		if gid == 0 {
			steps = append(steps, fmt.Sprintf("chgrp %s %s", grp, name))
		}
		steps = append(steps, fmt.Sprintf("usermod -aG %s %s (then restart the shipper)", grp, u.name))
	}
	bits := map[string]fs.FileMode{"r": 4, "x": 1, "rx": 5}[perm]
	if fi.Mode().Perm()&(bits<<3) != bits<<3 || gid == 0 {
		steps = append(steps, fmt.Sprintf("chmod g+%s %s", perm, name))
	}
	how := "give it through a group: "
	for i, s := range steps {
		if i > 0 {
			how += "; "
		}
		how += s
	}
	if dir {
		how += fmt.Sprintf(" (or chmod o+%s %s)", perm, name)
	}
	return how
}

// groupFor names the group to read fi through: its own, or adm (the usual log readers'
// group) for a file of group root.
func groupFor(fi fs.FileInfo) string {
	_, gid := owner(fi)
	if gid == 0 {
		return "adm"
	}
	return groupName(gid)
}

func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

func ownerName(fi fs.FileInfo) string {
	uid, _ := owner(fi)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// describe returns fi's mode, owner and group as ls -l shows them.
func describe(fi fs.FileInfo) string {
	_, gid := owner(fi)
	return fmt.Sprintf("%v %s:%s", fi.Mode(), ownerName(fi), groupName(gid))
}
