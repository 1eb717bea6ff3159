// Package formats holds web-server log line formats (Apache LogFormat strings, nginx,
// JSON lines) as pure parse and render functions. The batch envelope that shipper and
// collector exchange lives in formats/envelope. Nothing here does I/O.
package formats
