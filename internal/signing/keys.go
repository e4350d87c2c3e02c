// Package signing implements Matrix JSON signing and verification (spec:
// appendices, "Signing JSON", "Signing Details", "Checking for a Signature")
// and a pure model of the server key responses used over federation
// (server-server API, "Retrieving server keys").
package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
)

// AlgorithmEd25519 is the only signing algorithm the spec defines.
const AlgorithmEd25519 = "ed25519"

var (
	// ErrInvalidKeyID is wrapped when a key ID is not "algorithm:version"
	// with both parts matching [a-zA-Z0-9_]+.
	ErrInvalidKeyID = errors.New("signing: invalid key ID")
	// ErrInvalidKey is wrapped when key material has the wrong size.
	ErrInvalidKey = errors.New("signing: invalid key")
)

// KeyID is a signing key identifier such as "ed25519:a_AbCd": the algorithm
// and the key version joined by a colon.
type KeyID string

// ParseKeyID splits a key ID into algorithm and version. Both must be
// non-empty and match [a-zA-Z0-9_]+ (server-server API, "Publishing Keys":
// the version must have characters matching [a-zA-Z0-9_]). Any algorithm is
// accepted here; callers skip algorithms they do not understand (appendices,
// "Checking for a Signature", step 2).
func ParseKeyID(s string) (algorithm, version string, err error) {
	algorithm, version, ok := strings.Cut(s, ":")
	if !ok || !validVersion(algorithm) || !validVersion(version) {
		return "", "", fmt.Errorf("%w: %q", ErrInvalidKeyID, s)
	}
	return algorithm, version, nil
}

// Algorithm returns the part of the key ID before the colon, or "" if the ID
// is malformed.
func (id KeyID) Algorithm() string {
	alg, _, err := ParseKeyID(string(id))
	if err != nil {
		return ""
	}
	return alg
}

// Version returns the part of the key ID after the colon, or "" if the ID is
// malformed.
func (id KeyID) Version() string {
	_, v, err := ParseKeyID(string(id))
	if err != nil {
		return ""
	}
	return v
}

func validVersion(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// SigningKey is an ed25519 key this server signs with.
type SigningKey struct {
	ID      KeyID
	Private ed25519.PrivateKey
}

// Public returns the verification key that matches k.
func (k SigningKey) Public() ed25519.PublicKey {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Private.Public().(ed25519.PublicKey)
}

// Seed returns the 32-byte seed the key was derived from, the form stored in
// key files.
func (k SigningKey) Seed() []byte {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Private.Seed()
}

// NewSigningKey derives an ed25519 key deterministically from a 32-byte seed
// and names it "ed25519:<version>".
func NewSigningKey(version string, seed []byte) (SigningKey, error) {
	if !validVersion(version) {
		return SigningKey{}, fmt.Errorf("%w: version %q", ErrInvalidKeyID, version)
	}
	if len(seed) != ed25519.SeedSize {
		return SigningKey{}, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	return SigningKey{
		ID:      KeyID(AlgorithmEd25519 + ":" + version),
		Private: ed25519.NewKeyFromSeed(seed),
	}, nil
}

// GenerateSigningKey makes a new key from rand (pass crypto/rand.Reader) with
// a random version of the form "a_XXXX", the shape Synapse uses.
func GenerateSigningKey(rand io.Reader) (SigningKey, error) {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var buf [ed25519.SeedSize + 4]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return SigningKey{}, fmt.Errorf("signing: reading randomness: %w", err)
	}
	version := []byte("a_")
	for _, b := range buf[ed25519.SeedSize:] {
		// 256 % 52 != 0 gives a slight bias, irrelevant for a key name.
		version = append(version, letters[int(b)%len(letters)])
	}
	return NewSigningKey(string(version), buf[:ed25519.SeedSize])
}
