package envelope

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// annotateProgress writes a progress report as hex, one field per line with its name.
func annotateProgress(msg []byte) []byte {
	var b bytes.Buffer
	field := func(off, n int, name string) {
		fmt.Fprintf(&b, "%-32s # %3d %s\n", hex.EncodeToString(msg[off:off+n]), off, name)
	}
	field(0, 1, "version")
	field(1, 1, "flags")
	field(2, 1, "stall reason")
	field(3, 1, "name length")
	field(4, 4, "entries")
	field(8, 4, "crc32c")
	n := int(msg[3])
	fmt.Fprintf(&b, "%-32s # %3d name %q\n", hex.EncodeToString(msg[12:12+n]), 12, msg[12:12+n])
	for off := 12 + n; off < len(msg); off += ProgressEntryLen {
		field(off, 8, "stream id")
		field(off+8, 8, "written from offset")
		field(off+16, 8, "written end offset")
	}
	return b.Bytes()
}

var progressVectors = []struct {
	name string
	p    Progress
}{
	{name: "hello", p: Progress{Name: "central-a"}},
	{name: "two_streams", p: Progress{Name: "c1", Streams: []StreamProgress{
		{Stream: 0x0102030405060708, End: 0x1000},
		{Stream: 7, From: 1 << 39, End: 1 << 40},
	}}},
	{name: "stalled_no_space", p: Progress{Name: "log.host_1", Flags: ProgressStalled, Reason: StallNoSpace,
		Streams: []StreamProgress{{Stream: 9, End: 123}}}},
	{name: "final", p: Progress{Name: "c1", Flags: ProgressFinal, Streams: []StreamProgress{{Stream: 7, End: 4096}}}},
}

func TestProgressGolden(t *testing.T) {
	for _, tc := range progressVectors {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := AppendProgress(nil, &tc.p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "progress", tc.name+".golden")
			checkGolden(t, path, annotateProgress(msg))
			if *update {
				return
			}
			wire := unannotate(t, readGolden(t, path))
			var got Progress
			if err := ParseProgress(wire, &got); err != nil {
				t.Fatal(err)
			}
			if got.Streams == nil {
				got.Streams = tc.p.Streams[:0:0]
			}
			if diff := cmp.Diff(tc.p, got, cmp.Comparer(func(a, b []StreamProgress) bool {
				return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b))
			})); diff != "" {
				t.Errorf("ParseProgress (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProgressBytes pins one vector byte by byte, independently of the golden files.
func TestProgressBytes(t *testing.T) {
	got, err := AppendProgress([]byte{0xEE}, &Progress{Name: "ab", Flags: ProgressStalled, Reason: StallIO,
		Streams: []StreamProgress{{Stream: 0x0102030405060708, From: 0x800, End: 0x1000}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xEE,
		2, 1, 3, 2, // version, flags, reason, name length
		1, 0, 0, 0, // entries
		0, 0, 0, 0, // crc, checked below
		'a', 'b',
		8, 7, 6, 5, 4, 3, 2, 1,
		0, 0x08, 0, 0, 0, 0, 0, 0,
		0, 0x10, 0, 0, 0, 0, 0, 0,
	}
	binary.LittleEndian.PutUint32(want[9:], Checksum(want[13:]))
	if !bytes.Equal(got, want) {
		t.Errorf("AppendProgress =\n% x\nwant\n% x", got, want)
	}
}

func TestProgressErrors(t *testing.T) {
	good, err := AppendProgress(nil, &Progress{Name: "c1", Streams: []StreamProgress{{Stream: 1, End: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"short", good[:11], ErrProgress},
		{"version 1", mut(func(b []byte) []byte { b[0] = 1; return b }), ErrProgressVersion},
		{"version 3", mut(func(b []byte) []byte { b[0] = 3; return b }), ErrProgressVersion},
		{"from above end", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[len(b)-16:], 3)
			binary.LittleEndian.PutUint32(b[8:], Checksum(b[12:]))
			return b
		}), ErrProgress},
		{"unknown flag", mut(func(b []byte) []byte { b[1] = 0x80; return b }), ErrProgress},
		{"unknown reason", mut(func(b []byte) []byte { b[2] = 9; return b }), ErrProgress},
		{"entry count", mut(func(b []byte) []byte { b[4] = 2; return b }), ErrProgress},
		{"trailing byte", append(bytes.Clone(good), 0), ErrProgress},
		{"checksum", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrProgress},
		{"name", mut(func(b []byte) []byte {
			b[12] = '/'
			binary.LittleEndian.PutUint32(b[8:], Checksum(b[12:]))
			return b
		}), ErrCollectorName},
		{"empty name", mut(func(b []byte) []byte {
			b[3] = 0
			b = append(b[:12], b[14:]...)
			binary.LittleEndian.PutUint32(b[8:], Checksum(b[12:]))
			return b
		}), ErrCollectorName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Progress
			if err := ParseProgress(tc.msg, &p); !errors.Is(err, tc.want) {
				t.Errorf("ParseProgress = %v, want %v", err, tc.want)
			}
		})
	}

	for _, p := range []Progress{
		{Name: ""},
		{Name: strings.Repeat("x", MaxCollectorName+1)},
		{Name: "../etc"},
		{Name: "a b"},
	} {
		if _, err := AppendProgress(nil, &p); !errors.Is(err, ErrCollectorName) {
			t.Errorf("AppendProgress(name %q) = %v, want ErrCollectorName", p.Name, err)
		}
	}
	if _, err := AppendProgress(nil, &Progress{Name: "c", Streams: make([]StreamProgress, MaxProgressEntries+1)}); !errors.Is(err, ErrProgress) {
		t.Errorf("AppendProgress(too many entries) = %v, want ErrProgress", err)
	}
	if _, err := AppendProgress(nil, &Progress{Name: "c", Streams: []StreamProgress{{Stream: 1, From: 5, End: 4}}}); !errors.Is(err, ErrProgress) {
		t.Errorf("AppendProgress(from above end) = %v, want ErrProgress", err)
	}
	if _, err := AppendProgress(nil, &Progress{Name: "c", Flags: 0x40}); !errors.Is(err, ErrProgress) {
		t.Errorf("AppendProgress(unknown flag) = %v, want ErrProgress", err)
	}
}

// TestProgressMaxFits checks that the largest report fits one Spread message body.
func TestProgressMaxFits(t *testing.T) {
	msg, err := AppendProgress(nil, &Progress{Name: strings.Repeat("n", MaxCollectorName), Streams: make([]StreamProgress, MaxProgressEntries)})
	if err != nil {
		t.Fatal(err)
	}
	const spreadMaxBody = 143152 - 32 // spreadlink.MaxBody (MaxPayload - GroupNameLen); envelope stays stdlib-only
	if len(msg) > spreadMaxBody {
		t.Errorf("largest report is %d bytes, above Spread's body limit", len(msg))
	}
}

func FuzzParseProgress(f *testing.F) {
	for _, tc := range progressVectors {
		msg, _ := AppendProgress(nil, &tc.p)
		f.Add(msg)
	}
	f.Add([]byte{2, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var p Progress
		if err := ParseProgress(msg, &p); err != nil {
			return
		}
		again, err := AppendProgress(nil, &p)
		if err != nil {
			t.Fatalf("AppendProgress of a parsed report: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("round trip differs:\n% x\n% x", msg, again)
		}
	})
}
