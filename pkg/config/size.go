package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes, written as an integer or with a unit:
// 128MiB, 64MB, 512KiB, 1GiB. KB, MB and GB are powers of 1000, KiB, MiB
// and GiB powers of 1024, as in Kubernetes quantities.
type ByteSize int64

// minBufferedBytes is the smallest batch.max_buffered_bytes: below it, one
// large record would fill the buffer.
const minBufferedBytes = 1 << 20

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	// Longest suffixes first: "MiB" must not be read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses a size like 128MiB.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = strings.TrimSpace(num), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a size")
	}
	if n < 0 || n > math.MaxInt64/factor {
		return 0, errors.New("size out of range")
	}
	return ByteSize(n * factor), nil
}
