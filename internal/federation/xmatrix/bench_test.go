package xmatrix

import (
	"strings"
	"testing"
)

// A /send transaction of 50 small PDUs, roughly what a busy room sends.
func benchRequest() Request {
	pdu := `{"type":"m.room.message","content":{"body":"` + strings.Repeat("x", 200) + `","msgtype":"m.text"},"depth":10}`
	pdus := strings.TrimSuffix(strings.Repeat(pdu+",", 50), ",")
	return Request{Method: "PUT", URI: "/_matrix/federation/v1/send/1234", Origin: "a.example", Destination: "b.example",
		Content: []byte(`{"origin":"a.example","pdus":[` + pdus + `],"edus":[]}`)}
}

func BenchmarkSign(b *testing.B) {
	key := testKey(b, "k", 1)
	r := benchRequest()
	b.SetBytes(int64(len(r.Content)))
	for b.Loop() {
		if _, err := Sign(r, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key := testKey(b, "k", 1)
	r := benchRequest()
	auth, err := Sign(r, key)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(r.Content)))
	for b.Loop() {
		if err := Verify(r, auth, key.Public()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	h := `X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="` + strings.Repeat("A", 86) + `"`
	for b.Loop() {
		if _, err := ParseAuthorization(h); err != nil {
			b.Fatal(err)
		}
	}
}
