package sharedsecret

import (
	"strings"
	"testing"
)

// The expected values were computed outside Go, with Python's hmac module
// following the algorithm in Synapse's shared-secret registration docs.
func TestMAC_MatchesIndependentVectors(t *testing.T) {
	tests := []struct {
		name                            string
		secret, nonce, user, pass, kind string
		admin                           bool
		want                            string
	}{
		{"not admin", "s3cret", "abcdef0123", "alice", "wonderland", "", false, "c9a978697faab62befddbaf29fec6bed3fc0515d"},
		{"admin", "s3cret", "abcdef0123", "alice", "wonderland", "", true, "5a3f9d4834b11f25a6e1c67c1b088f93809abff7"},
		{"user type and UTF-8 password", "s3cret", "abcdef0123", "bot", "pässwörd", "bot", false, "6c5da43401661376c6e6b74ef806213028ed10c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MACWithUserType(tt.secret, tt.nonce, tt.user, tt.pass, tt.admin, tt.kind)
			if got != tt.want {
				t.Fatalf("MAC = %s, want %s", got, tt.want)
			}
			if tt.kind == "" && MAC(tt.secret, tt.nonce, tt.user, tt.pass, tt.admin) != tt.want {
				t.Fatal("MAC and MACWithUserType(\"\") disagree")
			}
			if !Verify(strings.ToUpper(tt.want), tt.secret, tt.nonce, tt.user, tt.pass, tt.admin, tt.kind) {
				t.Fatal("Verify rejected the correct MAC")
			}
		})
	}
}

func TestVerify_RejectsAnyChangedField(t *testing.T) {
	mac := MAC("s3cret", "n", "alice", "pw", false)
	cases := map[string]bool{
		"secret":   Verify(mac, "other", "n", "alice", "pw", false, ""),
		"nonce":    Verify(mac, "s3cret", "m", "alice", "pw", false, ""),
		"user":     Verify(mac, "s3cret", "n", "alicf", "pw", false, ""),
		"password": Verify(mac, "s3cret", "n", "alice", "pX", false, ""),
		"admin":    Verify(mac, "s3cret", "n", "alice", "pw", true, ""),
		"type":     Verify(mac, "s3cret", "n", "alice", "pw", false, "bot"),
		"not hex":  Verify("zz", "s3cret", "n", "alice", "pw", false, ""),
	}
	for field, ok := range cases {
		if ok {
			t.Errorf("Verify accepted a MAC after changing the %s", field)
		}
	}
	// The NUL separators keep field boundaries apart: moving a character
	// from the username into the password must change the MAC.
	if MAC("s", "n", "ab", "c", false) == MAC("s", "n", "a", "bc", false) {
		t.Error("field boundary shift did not change the MAC")
	}
}
