package identity

import "testing"

// identity-service-api "Algorithms", sha256: the spec's example queries
// with the pepper "matrixrocks".
func TestLookupHash_SpecVectors(t *testing.T) {
	for _, c := range []struct{ address, medium, want string }{
		{"alice@example.com", "email", "4kenr7N9drpCJ4AfalmlGQVsOn3o2RHjkADUpXJWZUc"},
		{"bob@example.com", "email", "LJwSazmv46n0hlMlsb_iYxI0_HXEqy_yj6Jm636cdT8"},
		{"18005552067", "msisdn", "nlo35_T5fzSGZzJApqu8lgIudJvmOQtDaHtr-I4rU7I"},
	} {
		if got := LookupHash(c.address, c.medium, "matrixrocks"); got != c.want {
			t.Errorf("%s %s: got %s, want %s", c.address, c.medium, got, c.want)
		}
	}
}

// id_server names a server (host and optional port) and nothing else, so
// a client cannot make the homeserver request another path.
func TestRequest_Validate(t *testing.T) {
	ok := Request{IDServer: "id.example.org:8090", AccessToken: "t", Medium: "email", Address: "a@example.org"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid request refused: %v", err)
	}
	for _, bad := range []string{"id.example.org/path", "id.example.org?q", "user@id.example.org", "", "https://id.example.org"} {
		r := ok
		r.IDServer = bad
		if r.Validate() == nil {
			t.Errorf("id_server %q accepted", bad)
		}
	}
}
