package main

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

var errBatchTooLarge = errors.New("decompressed batch larger than its header says")

// batchBodies decompresses the zstd bodies of batches (envelope.FlagZstd) for tail.
// Each tail owns one; it is not safe for concurrent use.
type batchBodies struct {
	dec *zstd.Decoder
}

func newBatchBodies() (*batchBodies, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return &batchBodies{dec: dec}, nil
}

// decode decompresses one batch body of rawLen bytes.
func (b *batchBodies) decode(body []byte, rawLen int) ([]byte, error) {
	out, err := b.dec.DecodeAll(body, make([]byte, 0, rawLen))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) != rawLen {
		return nil, errBatchTooLarge
	}
	return out, nil
}

// close releases the decoder.
func (b *batchBodies) close() { b.dec.Close() }
