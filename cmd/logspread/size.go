package main

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// byteSize is a size in bytes, the one syntax of every size option and YAML key: a whole
// number of bytes, or a whole number followed by K, M, G or T (powers of 1024:
// 64K = 65536). Lower-case suffixes are the same.
type byteSize int64

// sizeSyntax says what a size setting takes, in the user's words.
const sizeSyntax = "a size in bytes such as 65536, 64K, 100M or 1G (K, M, G, T are powers of 1024)"

var sizeUnits = []struct {
	s string
	v int64
}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}

// String implements pflag.Value: the largest unit that divides the size.
func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range sizeUnits {
		if n != 0 && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set implements pflag.Value.
func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// Type implements pflag.Value.
func (b *byteSize) Type() string { return "size" }

// UnmarshalYAML accepts a number or a number with a suffix.
func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want %s", sizeSyntax)
	}
	return b.Set(n.Value)
}

func parseByteSize(s string) (int64, error) {
	t, mult := s, int64(1)
	if t != "" {
		last := strings.ToUpper(t[len(t)-1:])
		for _, u := range sizeUnits {
			if last == u.s {
				t, mult = t[:len(t)-1], u.v
				break
			}
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult || strings.HasPrefix(t, "+") {
		return 0, fmt.Errorf("size %q: want %s", s, sizeSyntax)
	}
	return n * mult, nil
}
