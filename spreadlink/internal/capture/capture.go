// Package capture loads the hex dumps of real Spread sessions kept in
// spreadlink/testdata/captures, for golden tests of the codec and the daemon.
package capture

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Chunk is one read or write seen on a captured connection.
type Chunk struct {
	Conn string // "conn1", "conn2", ...
	Dir  string // "C->D" or "D->C"
	EOF  bool
	Data []byte
}

// Load parses a capture file: header lines "TIME CONN DIR [EOF] len=N" each followed by
// hex dump lines "    OFFSET  HH HH ... ASCII".
func Load(path string) ([]Chunk, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Chunk
	var want []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if !strings.HasPrefix(line, " ") {
			if len(f) < 4 || !strings.HasPrefix(f[len(f)-1], "len=") {
				return nil, fmt.Errorf("%s:%d: bad chunk header %q", path, lineNo, line)
			}
			n, err := strconv.Atoi(strings.TrimPrefix(f[len(f)-1], "len="))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, lineNo, err)
			}
			out = append(out, Chunk{Conn: f[1], Dir: f[2], EOF: f[3] == "EOF"})
			want = append(want, n)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s:%d: dump before any header", path, lineNo)
		}
		c := &out[len(out)-1]
		// f[0] is the offset; then up to 16 byte values; then the ASCII column.
		left := min(16, want[len(want)-1]-len(c.Data))
		if len(f)-1 < left {
			return nil, fmt.Errorf("%s:%d: short dump line", path, lineNo)
		}
		v, err := hex.DecodeString(strings.Join(f[1:1+left], ""))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, lineNo, err)
		}
		c.Data = append(c.Data, v...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, c := range out {
		if len(c.Data) != want[i] {
			return nil, fmt.Errorf("%s: chunk %d has %d bytes, header says %d", path, i, len(c.Data), want[i])
		}
	}
	return out, nil
}

// Stream concatenates the data of one connection in one direction.
func Stream(chunks []Chunk, conn, dir string) []byte {
	var b []byte
	for _, c := range chunks {
		if c.Conn == conn && c.Dir == dir {
			b = append(b, c.Data...)
		}
	}
	return b
}
