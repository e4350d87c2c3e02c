package xmatrix

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/signing"
)

func testKey(t testing.TB, version string, seedByte byte) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey(version, bytes.Repeat([]byte{seedByte}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestParseAuthorization_Accepts covers the header grammar of
// server-server API "Request Authentication": RFC 9110 auth-params with
// case-insensitive names in any order, quoted or bare values, backslash
// escapes, spaces and tabs around commas, colons in bare values, unknown
// parameters ignored, destination optional.
func TestParseAuthorization_Accepts(t *testing.T) {
	full := Authorization{Origin: "origin.hs.example.com", Destination: "destination.hs.example.com", KeyID: "ed25519:key1", Signature: "ABCDEF"}
	noDest := full
	noDest.Destination = ""
	tests := []struct {
		name   string
		header string
		want   Authorization
	}{
		{"spec example",
			`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF"`, full},
		{"order does not matter",
			`X-Matrix sig="ABCDEF",key="ed25519:key1",destination="destination.hs.example.com",origin="origin.hs.example.com"`, full},
		{"names are case-insensitive",
			`X-Matrix ORIGIN="origin.hs.example.com",Destination="destination.hs.example.com",KEY="ed25519:key1",Sig="ABCDEF"`, full},
		{"scheme is case-insensitive",
			`x-matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF"`, full},
		{"bare token values",
			`X-Matrix origin=origin.hs.example.com,destination=destination.hs.example.com,key="ed25519:key1",sig=ABCDEF`, full},
		{"colons allowed in bare values",
			`X-Matrix origin=origin.hs.example.com,destination=destination.hs.example.com,key=ed25519:key1,sig=ABCDEF`, full},
		{"several spaces after the scheme, spaces and tabs around commas",
			"X-Matrix   origin=\"origin.hs.example.com\" ,\tdestination=\"destination.hs.example.com\"\t, key=\"ed25519:key1\" , sig=\"ABCDEF\"", full},
		{"spaces around equals",
			`X-Matrix origin = "origin.hs.example.com",destination= destination.hs.example.com,key ="ed25519:key1",sig=ABCDEF`, full},
		{"backslash escapes are undone",
			`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:ke\y1",sig="ABC\DEF"`, full},
		{"unknown parameters ignored, even with commas inside quotes",
			`X-Matrix origin="origin.hs.example.com",extra="a, b=\"c\", d",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF"`, full},
		{"empty list elements tolerated",
			`X-Matrix ,origin="origin.hs.example.com",,destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF",`, full},
		{"destination may be absent (servers before v1.3)",
			`X-Matrix origin=origin.hs.example.com,key="ed25519:key1",sig="ABCDEF"`, noDest},
		{"signature is accepted as the parameter the spec's list names",
			`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",signature="ABCDEF"`, full},
		{"sig and signature may agree",
			`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",signature="ABCDEF",sig=ABCDEF`, full},
		{"bare Base64 with slashes and padding",
			`X-Matrix origin=a.example,destination=b.example,key=ed25519:k,sig=ab/cd+ef==`,
			Authorization{Origin: "a.example", Destination: "b.example", KeyID: "ed25519:k", Signature: "ab/cd+ef=="}},
		{"server names with ports and IPv6 literals",
			`X-Matrix origin="[::1]:8448",destination="127.0.0.1:8448",key="ed25519:k",sig="x"`,
			Authorization{Origin: "[::1]:8448", Destination: "127.0.0.1:8448", KeyID: "ed25519:k", Signature: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorization(tt.header)
			if err != nil {
				t.Fatalf("ParseAuthorization(%s): %v", tt.header, err)
			}
			if *got != tt.want {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// TestParseAuthorization_Rejects: missing required parameters, other
// schemes, broken quoting, repeated parameters and invalid names are
// errors.
func TestParseAuthorization_Rejects(t *testing.T) {
	tests := []struct {
		name   string
		header string
		kind   error
	}{
		{"bearer token", `Bearer abc`, ErrNotXMatrix},
		{"empty", ``, ErrNotXMatrix},
		{"scheme only", `X-Matrix`, ErrMalformed},
		{"scheme glued to params", `X-Matrixorigin=a`, ErrNotXMatrix},
		{"missing origin", `X-Matrix destination="b.example",key="ed25519:k",sig="x"`, ErrMalformed},
		{"missing key", `X-Matrix origin="a.example",sig="x"`, ErrMalformed},
		{"missing sig", `X-Matrix origin="a.example",key="ed25519:k"`, ErrMalformed},
		{"empty sig", `X-Matrix origin="a.example",key="ed25519:k",sig=""`, ErrMalformed},
		{"unterminated quote", `X-Matrix origin="a.example,key="ed25519:k",sig="x"`, ErrMalformed},
		{"trailing backslash", `X-Matrix origin="a.example",key="ed25519:k",sig="x\`, ErrMalformed},
		{"parameter without value", `X-Matrix origin,key="ed25519:k",sig="x"`, ErrMalformed},
		{"repeated parameter", `X-Matrix origin="a.example",origin="evil.example",key="ed25519:k",sig="x"`, ErrMalformed},
		{"repeated parameter differing in case", `X-Matrix origin="a.example",Origin="evil.example",key="ed25519:k",sig="x"`, ErrMalformed},
		{"sig and signature disagree", `X-Matrix origin="a.example",key="ed25519:k",sig="x",signature="y"`, ErrMalformed},
		{"junk between params", `X-Matrix origin="a.example" key="ed25519:k",sig="x"`, ErrMalformed},
		{"origin not a server name", `X-Matrix origin="a example",key="ed25519:k",sig="x"`, ErrMalformed},
		{"destination not a server name", `X-Matrix origin="a.example",destination="",key="ed25519:k",sig="x"`, ErrMalformed},
		{"bad key ID", `X-Matrix origin="a.example",key="ed25519",sig="x"`, ErrMalformed},
		{"control character in quotes", "X-Matrix origin=\"a.example\x01\",key=\"ed25519:k\",sig=\"x\"", ErrMalformed},
		{"huge", "X-Matrix origin=" + strings.Repeat("a", 10000), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorization(tt.header)
			if err == nil {
				t.Fatalf("ParseAuthorization(%q) = %+v, want an error", tt.header, got)
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v does not wrap %v", err, tt.kind)
			}
		})
	}
}

// TestAuthorization_String: senders use the compatible form the spec
// recommends (one space, lower-case names, quoted values, no spaces around
// commas), and it parses back to the same value.
func TestAuthorization_String(t *testing.T) {
	a := Authorization{Origin: "origin.hs.example.com", Destination: "destination.hs.example.com", KeyID: "ed25519:key1", Signature: "ABCDEF"}
	want := `X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF"`
	if got := a.String(); got != want {
		t.Fatalf("String() = %s\nwant       %s", got, want)
	}
	back, err := ParseAuthorization(a.String())
	if err != nil || *back != a {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// TestSigningBytes_MatchesSignJSON: the bytes signed are exactly what the
// appendices' JSON signing algorithm signs for the object of step 1, so a
// signature made here verifies with signing.VerifyJSON on that object and
// vice versa.
func TestSigningBytes_MatchesSignJSON(t *testing.T) {
	key := testKey(t, "key1", 7)
	req := Request{
		Method: "PUT", URI: "/_matrix/federation/v1/send/txn1?x=%20y",
		Origin: "origin.hs.example.com", Destination: "destination.hs.example.com",
		Content: []byte(`{ "pdus": [ {"b": 1, "a": "é\u00e9"} ], "edus": [] }`),
	}
	auth, err := Sign(req, key)
	if err != nil {
		t.Fatal(err)
	}
	obj := []byte(`{"method":"PUT","uri":"/_matrix/federation/v1/send/txn1?x=%20y","origin":"origin.hs.example.com",` +
		`"destination":"destination.hs.example.com","content":{"pdus":[{"a":"éé","b":1}],"edus":[]}}`)
	signed, err := signing.SignJSON(obj, req.Origin, key)
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := signing.Signatures(signed)
	if got := sigs[req.Origin][key.ID]; got != auth.Signature {
		t.Fatalf("Sign gave %s, SignJSON %s", auth.Signature, got)
	}
	// And the other way: inserting the header's signature verifies.
	withSig := []byte(`{"content":{"pdus":[{"a":"éé","b":1}],"edus":[]},"destination":"destination.hs.example.com",` +
		`"method":"PUT","origin":"origin.hs.example.com","signatures":{"origin.hs.example.com":{"ed25519:key1":"` + auth.Signature + `"}},` +
		`"uri":"/_matrix/federation/v1/send/txn1?x=%20y"}`)
	if err := signing.VerifyJSON(withSig, req.Origin, key.ID, key.Public()); err != nil {
		t.Fatalf("VerifyJSON: %v", err)
	}
}

// TestSigningBytes_NoContent: a request without a body signs an object
// without "content" (the spec's example code adds it only when there is
// one).
func TestSigningBytes_NoContent(t *testing.T) {
	got, err := Request{Method: "GET", URI: "/_matrix/federation/v1/version", Origin: "a", Destination: "b"}.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"destination":"b","method":"GET","origin":"a","uri":"/_matrix/federation/v1/version"}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Whitespace only is no body too.
	got2, _ := Request{Method: "GET", URI: "/_matrix/federation/v1/version", Origin: "a", Destination: "b", Content: []byte(" \n")}.SigningBytes()
	if !bytes.Equal(got, got2) {
		t.Fatalf("whitespace body signed as %s", got2)
	}
}

// TestVerify: a signature covers method, URI, origin, destination and the
// parsed body; changing any of them breaks it, reformatting the body does
// not.
func TestVerify(t *testing.T) {
	key := testKey(t, "key1", 1)
	other := testKey(t, "key1", 2)
	base := Request{Method: "POST", URI: "/_matrix/federation/v1/user/keys/query", Origin: "a.example", Destination: "b.example",
		Content: []byte(`{"device_keys":{"@u:b.example":[]}}`)}
	auth, err := Sign(base, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(base, auth, key.Public()); err != nil {
		t.Fatalf("Verify of a fresh signature: %v", err)
	}
	reformatted := base
	reformatted.Content = []byte("{ \"device_keys\" : { \"@u:b.example\" : [ ] } }\n")
	if err := Verify(reformatted, auth, key.Public()); err != nil {
		t.Fatalf("Verify with a reformatted body: %v", err)
	}

	mutations := map[string]func(r *Request, a *Authorization){
		"method":              func(r *Request, a *Authorization) { r.Method = "PUT" },
		"uri":                 func(r *Request, a *Authorization) { r.URI += "?x=1" },
		"body":                func(r *Request, a *Authorization) { r.Content = []byte(`{"device_keys":{}}`) },
		"body dropped":        func(r *Request, a *Authorization) { r.Content = nil },
		"destination":         func(r *Request, a *Authorization) { r.Destination = "c.example"; a.Destination = "c.example" },
		"origin":              func(r *Request, a *Authorization) { r.Origin = "c.example"; a.Origin = "c.example" },
		"header origin only":  func(r *Request, a *Authorization) { a.Origin = "c.example" },
		"header dest differs": func(r *Request, a *Authorization) { a.Destination = "c.example" },
		"signature":           func(r *Request, a *Authorization) { a.Signature = "AAAA" + a.Signature[4:] },
		"not base64":          func(r *Request, a *Authorization) { a.Signature = "!!!" },
		"other algorithm":     func(r *Request, a *Authorization) { a.KeyID = "curve25519:key1" },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			r, a := base, auth
			mutate(&r, &a)
			if err := Verify(r, a, key.Public()); err == nil {
				t.Fatal("Verify succeeded on a tampered request")
			}
		})
	}
	if err := Verify(base, auth, other.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify with the wrong key: %v", err)
	}
	if err := Verify(base, auth, ed25519.PublicKey{1, 2}); err == nil {
		t.Fatal("Verify with a short key must fail, not panic")
	}
}

// TestVerify_HeaderWithoutDestination: an older sender omits destination
// from the header but signed our name; the caller passes our name.
func TestVerify_HeaderWithoutDestination(t *testing.T) {
	key := testKey(t, "k", 3)
	r := Request{Method: "GET", URI: "/_matrix/federation/v1/query/profile?user_id=%40u%3Ab.example", Origin: "a.example", Destination: "b.example"}
	auth, err := Sign(r, key)
	if err != nil {
		t.Fatal(err)
	}
	auth.Destination = ""
	parsed, err := ParseAuthorization(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(r, *parsed, key.Public()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r.Destination = "c.example"
	if err := Verify(r, *parsed, key.Public()); err == nil {
		t.Fatal("a signature for b.example verified as one for c.example")
	}
}

// TestSign_RejectsBadInput: bodies that are not JSON and requests missing
// fields cannot be signed.
func TestSign_RejectsBadInput(t *testing.T) {
	key := testKey(t, "k", 3)
	bad := []Request{
		{Method: "PUT", URI: "/x", Origin: "a", Destination: "b", Content: []byte(`{"a":`)},
		{Method: "PUT", URI: "/x", Origin: "a", Destination: "b", Content: []byte(`{"a":1,"a":2}`)},
		{Method: "PUT", URI: "/x", Origin: "a"},
		{Method: "PUT", URI: "/\xff", Origin: "a", Destination: "b"},
	}
	for _, r := range bad {
		if _, err := Sign(r, key); err == nil {
			t.Errorf("Sign(%+v) succeeded", r)
		}
	}
	if _, err := Sign(bad[0], signing.SigningKey{ID: "ed25519:k"}); err == nil {
		t.Error("Sign without a private key succeeded")
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF"`)
	f.Add(`X-Matrix origin=a,key=ed25519:k,sig=x`)
	f.Add(`X-Matrix origin="a\"b",key="ed25519:k" , sig="x",,`)
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			return
		}
		// What parses must format to something that parses to the same.
		back, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", a.String(), err)
		}
		if *back != *a {
			t.Fatalf("round trip changed %+v into %+v", *a, *back)
		}
	})
}
