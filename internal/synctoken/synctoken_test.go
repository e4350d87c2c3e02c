package synctoken

import (
	"strings"
	"testing"
)

// A token issued before other streams existed is the room stream alone.
func TestParse_LegacyTokenIsRoomStreamAlone(t *testing.T) {
	tok, err := Parse("s1204", 0)
	if err != nil || tok.Room != 1204 || tok.Streams != nil || tok.Pos("r") != 0 {
		t.Fatalf("got %+v, %v", tok, err)
	}
}

func TestStringParse_RoundTrip(t *testing.T) {
	tok := Token{Room: 9}.With("t", 3).With("r", 17).With("dl", 0)
	s := tok.String()
	if s != "s9_dl0_r17_t3" {
		t.Fatalf("String = %q", s)
	}
	back, err := Parse(s, 0)
	if err != nil || back.String() != s || back.Pos("r") != 17 || back.Pos("dl") != 0 {
		t.Fatalf("Parse(%q) = %+v, %v", s, back, err)
	}
}

// Streams this release does not know are ignored by callers, not refused:
// tokens from another release keep working.
func TestParse_UnknownStreamsKept(t *testing.T) {
	tok, err := Parse("s5_zz9", 0)
	if err != nil || tok.Room != 5 || tok.Pos("zz") != 9 {
		t.Fatalf("got %+v, %v", tok, err)
	}
}

func TestParse_NegativeRoomOnlyWhereAllowed(t *testing.T) {
	if _, err := Parse("s-12", 0); err == nil {
		t.Fatal("a /sync token with a negative room position was accepted")
	}
	if tok, err := Parse("s-12_r3", -1<<62); err != nil || tok.Room != -12 || tok.Pos("r") != 3 {
		t.Fatalf("got %+v, %v", tok, err)
	}
}

func TestParse_RefusesMalformed(t *testing.T) {
	for _, s := range []string{
		"", "s", "x12", "s12_", "s12__r1", "s12_r", "s12_1", "s12_R1", "s12_r-1", "s+12",
		"s012", "s12_r01", "s 12", "s12_r1_r2", "s99999999999999999999", "s1_r1\x00",
		"s1" + strings.Repeat("_a1", maxParts+1), "s" + strings.Repeat("1", MaxLen),
	} {
		if tok, err := Parse(s, -1<<62); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, tok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"s0", "s1204", "s-3_r1", "s5_r17_t3_dl9", "s1_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s, -1<<62)
		if err != nil {
			return
		}
		again, err := Parse(tok.String(), -1<<62)
		if err != nil || again.String() != tok.String() {
			t.Fatalf("%q → %q does not round-trip: %v", s, tok.String(), err)
		}
	})
}
