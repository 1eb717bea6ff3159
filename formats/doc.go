// Package formats holds logspread's pure data formats: the batch v1 envelope shared by
// shipper and collector (see BatchHeader for the exact bytes), and web-server log line
// formats. Nothing here does I/O.
package formats
