package xmatrix

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Request is what an X-Matrix signature covers (server-server API,
// "Request Authentication", step 1).
type Request struct {
	// Method is the HTTP method, e.g. "PUT".
	Method string
	// URI is the request target as sent on the wire: the path from
	// "/_matrix/..." with "?" and the query when present, without scheme
	// or host.
	URI string
	// Origin and Destination are the two servers' names before any
	// delegation (the server names, not the hosts connected to).
	Origin      string
	Destination string
	// Content is the request body as sent. Empty (after whitespace) means
	// the request has no body and the signed object has no "content";
	// otherwise it must be JSON, and its parsed value is what is signed,
	// so the signature does not depend on how the body was spaced or
	// ordered.
	Content []byte
}

// SigningBytes returns the canonical JSON of the object the signature
// covers: {"content"?, "destination", "method", "origin", "uri"}. The body
// is canonicalized leniently: a /send transaction may carry room v1–5
// events whose numbers are not valid in strict canonical JSON.
func (r Request) SigningBytes() ([]byte, error) {
	if r.Method == "" || r.URI == "" || r.Origin == "" || r.Destination == "" {
		return nil, fmt.Errorf("%w: method, uri, origin and destination are required", ErrMalformed)
	}
	for _, v := range []string{r.Method, r.URI, r.Origin, r.Destination} {
		if !utf8.ValidString(v) {
			// canonicaljson.AppendString would copy the bytes through and
			// produce something that is not JSON.
			return nil, fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
		}
	}
	var content []byte
	if len(bytes.TrimSpace(r.Content)) > 0 {
		c, err := canonicaljson.Canonicalize(r.Content, canonicaljson.LenientOptions)
		if err != nil {
			return nil, fmt.Errorf("xmatrix: request body: %w", err)
		}
		content = c
	}
	// Members in canonical (code point) order; canonicaljson.AppendString
	// writes strings exactly as canonical JSON requires.
	out := make([]byte, 0, len(content)+len(r.URI)+len(r.Origin)+len(r.Destination)+80)
	out = append(out, '{')
	if content != nil {
		out = append(out, `"content":`...)
		out = append(out, content...)
		out = append(out, ',')
	}
	out = append(out, `"destination":`...)
	out = canonicaljson.AppendString(out, r.Destination)
	out = append(out, `,"method":`...)
	out = canonicaljson.AppendString(out, r.Method)
	out = append(out, `,"origin":`...)
	out = canonicaljson.AppendString(out, r.Origin)
	out = append(out, `,"uri":`...)
	out = canonicaljson.AppendString(out, r.URI)
	out = append(out, '}')
	return out, nil
}

// Sign signs r with key on behalf of r.Origin and returns the
// Authorization to send. The object has no "signatures" or "unsigned"
// member, so signing its canonical bytes directly is exactly the
// appendices' "Signing JSON" algorithm.
func Sign(r Request, key signing.SigningKey) (Authorization, error) {
	if len(key.Private) != ed25519.PrivateKeySize {
		return Authorization{}, fmt.Errorf("%w: private key is %d bytes", signing.ErrInvalidKey, len(key.Private))
	}
	if _, _, err := signing.ParseKeyID(string(key.ID)); err != nil {
		return Authorization{}, err
	}
	msg, err := r.SigningBytes()
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{
		Origin:      r.Origin,
		Destination: r.Destination,
		KeyID:       key.ID,
		Signature:   signing.EncodeBase64(ed25519.Sign(key.Private, msg)),
	}, nil
}

// Verify checks that auth is a valid signature of r by pub. r.Origin must
// equal auth.Origin and, when the header named one, r.Destination must
// equal auth.Destination: the caller fills r.Destination with its own
// name, which is what a sender that omitted the parameter signed.
func Verify(r Request, auth Authorization, pub ed25519.PublicKey) error {
	if r.Origin != auth.Origin {
		return fmt.Errorf("%w: origin %q does not match the header's %q", ErrBadSignature, r.Origin, auth.Origin)
	}
	if auth.Destination != "" && r.Destination != auth.Destination {
		return fmt.Errorf("%w: destination %q does not match the header's %q", ErrBadSignature, r.Destination, auth.Destination)
	}
	if alg := auth.KeyID.Algorithm(); alg != signing.AlgorithmEd25519 {
		return fmt.Errorf("%w: unsupported key algorithm %q", ErrBadSignature, alg)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes", signing.ErrInvalidKey, len(pub))
	}
	sig, err := signing.DecodeBase64(auth.Signature)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	msg, err := r.SigningBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: %s from %s", ErrBadSignature, auth.KeyID, auth.Origin)
	}
	return nil
}
