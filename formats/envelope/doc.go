// Package envelope defines what a shipper and a collector say to each other over Spread:
// the batch envelope (see BatchHeader for the exact bytes, v1 and v2; Decoder is the one
// reader of it, checksum included; CheckFrame tells a batch v2 body, one complete zstd
// frame, that a collector may append to a segment as it is), the acknowledgement marker a shipper sends to its own private
// group, the presence group ~GROUP that collectors join, and the private-name prefixes
// that tell collectors from shippers. Nothing here does I/O, and compressed bodies are
// decoded by a Decompressor the caller provides, so the package needs only the
// standard library.
package envelope
