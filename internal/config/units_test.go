package config

import (
	"testing"
	"time"
)

// Synapse size strings: bytes, or a number with a binary K/M suffix (G and
// T are a Myelin extension).
func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1024", 1024, true},
		{"10K", 10 << 10, true},
		{"50M", 50 << 20, true},
		{"50m", 50 << 20, true},
		{"2G", 2 << 30, true},
		{"1T", 1 << 40, true},
		{" 5M ", 5 << 20, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"1.5M", 0, false},
		{"50MB", 0, false},
		{"9223372036854775807T", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// Synapse duration strings: milliseconds, or a number with ms/s/m/h/d/w/y
// (a year being 365 days).
func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"1500", 1500 * time.Millisecond, true},
		{"250ms", 250 * time.Millisecond, true},
		{"30s", 30 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"1h", time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"1y", 365 * 24 * time.Hour, true},
		{"", 0, false},
		{"h", 0, false},
		{"-5m", 0, false},
		{"1.5h", 0, false},
		{"1 h", 0, false},
		{"1H", 0, false},
		{"10000000y", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLoad_SizesAndDurationsAcceptBareIntegers(t *testing.T) {
	// A bare integer is bytes for sizes and milliseconds for durations.
	c, _ := loadString(t, "server_name: example.org\nmax_upload_size: 2048\nsession_lifetime: 60000\n")
	if c.MaxUploadSize != 2048 || c.SessionLifetime != time.Minute {
		t.Errorf("size %d, lifetime %v", c.MaxUploadSize, c.SessionLifetime)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5m", "1500", "7d", "ms", "99999999999999y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("negative duration %v from %q", d, s)
		}
		if n, err := ParseSize(s); err == nil && n < 0 {
			t.Fatalf("negative size %d from %q", n, s)
		}
	})
}
