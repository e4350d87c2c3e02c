package fede2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The harness's ground: every server answers on its own address over TLS
// with a certificate only the test CA vouches for, publishes a self-signed
// key document under its IP-literal name (server-server-api, "Publishing
// Keys"), and fetches another server's keys directly when asked as a
// notary (GET /_matrix/key/v2/query/{serverName}), which needs the custom
// CA and the loopback whitelist from its configuration.
func TestFederation_ServersPublishAndFetchKeys(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")

	for _, s := range []*homeserver{hs1, hs2} {
		x, err := s.do(context.Background(), "", "GET", "/_matrix/key/v2/server", nil)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusOK {
			t.Fatalf("unexpected answer:\n%s", x)
		}
		checkKeyDocument(t, s.name, x.RespBody)
	}

	// Only the test CA vouches for the certificate.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{}}}
	_, err := plain.Get(hs1.url + "/_matrix/federation/v1/version")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client without the test CA: want an unknown-authority error, got %v", err)
	}

	t.Run("notary fetch", func(t *testing.T) {
		var resp struct {
			ServerKeys []json.RawMessage `json:"server_keys"`
		}
		// The notary API needs no authentication (server-server-api,
		// "Querying Keys Through Another Server").
		x, err := hs1.do(context.Background(), "", "GET", "/_matrix/key/v2/query/"+url.PathEscape(hs2.name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusOK || json.Unmarshal(x.RespBody, &resp) != nil {
			t.Fatalf("unexpected answer:\n%s", x)
		}
		if len(resp.ServerKeys) != 1 {
			t.Fatalf("hs1 answered %d key documents for hs2, want 1:\n%s", len(resp.ServerKeys), x)
		}
		checkKeyDocument(t, hs2.name, resp.ServerKeys[0])
		// "The notary server will additionally sign the response from the
		// queried server before returning the results."
		var signed struct {
			Signatures map[string]map[string]string `json:"signatures"`
		}
		_ = json.Unmarshal(resp.ServerKeys[0], &signed)
		if len(signed.Signatures[hs1.name]) == 0 {
			t.Errorf("hs1 returned hs2's keys without its own notary signature: signatures %v", signed.Signatures)
		}
	})
}

// checkKeyDocument checks a server key document for server: its name,
// a future valid_until_ts, and a valid signature by each of its verify
// keys. It canonicalises on its own (sorted keys, no spaces, no HTML
// escaping, which is canonical JSON for this document's plain strings
// and integers) rather than with the server's code.
func checkKeyDocument(t testing.TB, server string, raw []byte) {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("key document of %s: %v", server, err)
	}
	if doc["server_name"] != server {
		t.Errorf("key document names %v, want %s", doc["server_name"], server)
	}
	if n, ok := doc["valid_until_ts"].(json.Number); !ok {
		t.Errorf("key document of %s without valid_until_ts", server)
	} else if ms, _ := n.Int64(); ms <= time.Now().UnixMilli() {
		t.Errorf("key document of %s expired: valid_until_ts %d", server, ms)
	}
	keys, _ := doc["verify_keys"].(map[string]any)
	sigs, _ := doc["signatures"].(map[string]any)
	own, _ := sigs[server].(map[string]any)
	if len(keys) == 0 || len(own) == 0 {
		t.Fatalf("key document of %s lacks verify_keys or its own signatures: %s", server, raw)
	}
	delete(doc, "signatures")
	delete(doc, "unsigned")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	signed := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	for id, k := range keys {
		kb, _ := k.(map[string]any)["key"].(string)
		pub, err1 := base64.RawStdEncoding.DecodeString(strings.TrimRight(kb, "="))
		sb, _ := own[id].(string)
		sig, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(sb, "="))
		if err1 != nil || err2 != nil || len(pub) != ed25519.PublicKeySize {
			t.Errorf("key %s of %s: bad key or signature encoding (%q, %q)", id, server, kb, sb)
			continue
		}
		if !ed25519.Verify(pub, signed, sig) {
			t.Errorf("key %s of %s: the document's signature does not verify", id, server)
		}
	}
}
