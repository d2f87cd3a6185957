package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes. In YAML it is a plain count (33554432) or
// a count with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), e.g. "32MiB" or "100MB". Units are matched
// case-insensitively and the final B may be left out ("32Mi", "100M").
type ByteSize int64

// Units for ByteSize.
const (
	B   ByteSize = 1
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
	KB  ByteSize = 1000
	MB  ByteSize = 1000 * KB
	GB  ByteSize = 1000 * MB
	TB  ByteSize = 1000 * GB
)

var byteUnits = map[string]ByteSize{
	"": B, "k": KB, "m": MB, "g": GB, "t": TB,
	"ki": KiB, "mi": MiB, "gi": GiB, "ti": TiB,
}

// ParseByteSize parses a size such as "32MiB", "100MB" or "1024".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	v, ok, why := parseByteSize(s)
	switch {
	case !ok && why == "":
		return 0, fmt.Errorf("invalid size %q: want a byte count or a count with a unit such as 32MiB or 100MB", s)
	case !ok:
		return 0, fmt.Errorf("invalid size %q: %s", s, why)
	}
	return v, nil
}

// parseByteSize parses a trimmed size, saying why when it can: not when s
// does not start with a count.
func parseByteSize(s string) (v ByteSize, ok bool, why string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false, ""
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false, "too large"
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	unit = strings.TrimSuffix(unit, "b")
	mult, known := byteUnits[unit]
	if !known {
		return 0, false, fmt.Sprintf("unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", strings.TrimSpace(s[i:]))
	}
	if n > math.MaxInt64/int64(mult) {
		return 0, false, "too large"
	}
	return ByteSize(n) * mult, true, ""
}

// sizeWant is what a size value must look like, for messages.
const sizeWant = `must be a size such as 1048576 or "32MiB"`

// UnmarshalYAML reads a byte count or a size string. A refused value names
// its line and, through Parse, its key.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return valueError(n, "%s, got %s", sizeWant, describeNode(n))
	}
	v, ok, why := parseByteSize(strings.TrimSpace(n.Value))
	switch {
	case !ok && why == "":
		return valueError(n, "%s, got %s", sizeWant, describeNode(n))
	case !ok:
		return valueError(n, "%s, got %s: %s", sizeWant, describeNode(n), why)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Int64 is the size in bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// String is the size with the largest binary unit that divides it exactly,
// e.g. "32MiB", or a plain count.
func (b ByteSize) String() string {
	for _, u := range []struct {
		size ByteSize
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
