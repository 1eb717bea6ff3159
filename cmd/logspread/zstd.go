package main

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

var zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))

// decodeZstd decompresses one batch body of rawLen bytes.
func decodeZstd(body []byte, rawLen int) ([]byte, error) {
	out, err := zstdDec.DecodeAll(body, make([]byte, 0, rawLen))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) != rawLen {
		return nil, errBatchTooLarge
	}
	return out, nil
}
