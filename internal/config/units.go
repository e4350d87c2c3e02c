package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseSize reads a Synapse size string: a non-negative integer number of
// bytes with an optional binary suffix, "K" (KiB), "M" (MiB), "G" (GiB) or
// "T" (TiB). Synapse documents K and M and reads the suffix in upper case;
// lower case and G/T are accepted here as a harmless superset.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size; write bytes or a number with K, M or G, e.g. \"50M\"")
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size too large")
	}
	return n * mult, nil
}

// durationUnits are Synapse's duration suffixes; a year is 365 days.
var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"ms", time.Millisecond}, // checked before "s" and "m"
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"y", 365 * 24 * time.Hour},
}

// ParseDuration reads a Synapse duration string: a non-negative integer
// with an optional unit suffix ms, s, m, h, d, w or y. Without a suffix the
// number is milliseconds, as a bare YAML integer is in Synapse.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	unit := time.Millisecond
	for _, u := range durationUnits {
		if strings.HasSuffix(s, u.suffix) {
			unit, s = u.d, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a duration; write milliseconds or a number with ms, s, m, h, d, w or y, e.g. \"1h\"")
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("duration too large")
	}
	return time.Duration(n) * unit, nil
}
