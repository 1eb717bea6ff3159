//go:build !unix

package source

// permissionRemedy says what to do about a file the shipper may not read.
func permissionRemedy(path string) string {
	return "give the shipper's user read permission on the file and permission to traverse its directories, or leave it out of the arguments"
}

// listRemedy says what to do about a directory the shipper may not list.
func listRemedy(dir string) string {
	return "give the shipper's user permission to list and traverse the directory, or leave the pattern out of the arguments"
}

// watchRemedy says what to do about a directory the shipper may not watch.
func watchRemedy(dir string) string {
	return "give the shipper's user permission to read and traverse the directory, or leave its files out of the arguments"
}
