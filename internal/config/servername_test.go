package config

import "testing"

// Server name grammar: appendices, "Server Name".
func TestValidServerName(t *testing.T) {
	valid := []string{
		"example.org", "matrix.example.org:8448", "localhost", "localhost:8008",
		"1.2.3.4", "1.2.3.4:1234", "[::1]", "[1234:5678::abcd]:5678", "a-b.c", "123.com",
		"1.2.3", // not four groups, so a DNS name
	}
	invalid := []string{
		"", ":8008", "exa_mple.org", "example.org:", "example.org:0", "example.org:65536",
		"example.org:123456", "example.org:+80", "1.2.3.256", "[::1", "[::1]x", "[1.2.3.4]",
		"[fe80::1%eth0]", "ex ample.org", "example.org/path", "ünicode.org",
	}
	for _, s := range valid {
		if err := validServerName(s); err != nil {
			t.Errorf("validServerName(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range invalid {
		if err := validServerName(s); err == nil {
			t.Errorf("validServerName(%q) = ok, want error", s)
		}
	}
}
