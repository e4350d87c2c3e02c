package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RFC 8032 section 7.1, test 1: a known seed and its public key.
const (
	rfcSeedHex   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPublicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func rfcSeed(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(rfcSeedHex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormat_SynapseLineShape(t *testing.T) {
	k := Key{Version: "a_AbC1", Seed: rfcSeed(t)}
	got, err := Format(k)
	if err != nil {
		t.Fatal(err)
	}
	// Unpadded standard base64 of the seed, as Synapse writes it.
	want := "ed25519 a_AbC1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n"
	if string(got) != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
}

func TestParse_RoundTripAndKeyMaterial(t *testing.T) {
	data := "\ned25519 a_AbC1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n\n" +
		"ed25519 old_1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n"
	keys, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Version != "a_AbC1" || keys[1].Version != "old_1" {
		t.Fatalf("keys = %+v", keys)
	}
	if got := keys[0].KeyID(); got != "ed25519:a_AbC1" {
		t.Errorf("KeyID = %q", got)
	}
	if got := hex.EncodeToString(keys[0].PublicKey()); got != rfcPublicHex {
		t.Errorf("public key = %s, want %s (RFC 8032 test 1)", got, rfcPublicHex)
	}
	if !bytes.Equal(keys[0].PrivateKey().Seed(), rfcSeed(t)) {
		t.Error("PrivateKey seed mismatch")
	}
}

func TestParse_RejectsMalformedLines(t *testing.T) {
	const seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	tests := []struct {
		name, data, wantErr string
	}{
		{"empty file", "\n\n", "no signing keys"},
		{"two fields", "ed25519 " + seed, "line 1: want"},
		{"other algorithm", "curve25519 a_1 " + seed, "unsupported key algorithm"},
		{"bad version chars", "ed25519 a-1 " + seed, "key version"},
		{"bad base64", "ed25519 a_1 !!!", "not valid base64"},
		{"short seed", "ed25519 a_1 AAAA", "seed is 3 bytes"},
		{"duplicate version", "ed25519 a_1 " + seed + "\ned25519 a_1 " + seed, "line 2: key version \"a_1\" already defined on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGenerate_VersionShapeAndRoundTrip(t *testing.T) {
	// A reader of fixed bytes makes the result deterministic.
	r := bytes.NewReader(bytes.Repeat([]byte{7}, 64))
	k, err := Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Version) != 6 || !strings.HasPrefix(k.Version, "a_") || !ValidVersion(k.Version) {
		t.Errorf("version %q is not a_ + 4 alphanumerics", k.Version)
	}
	data, err := Format(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil || len(back) != 1 || back[0].Version != k.Version || !bytes.Equal(back[0].Seed, k.Seed) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestGenerate_ShortRandomnessIsAnError(t *testing.T) {
	if _, err := Generate(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("want error when the reader runs dry")
	}
}

func TestWriteNew_CreatesPrivateFileAndNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "example.org.signing.key")
	k1 := Key{Version: "a_one1", Seed: rfcSeed(t)}
	if err := WriteNew(path, k1); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	k2 := Key{Version: "a_two2", Seed: bytes.Repeat([]byte{1}, 32)}
	err = WriteNew(path, k2)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew error = %v, want fs.ErrExist", err)
	}
	keys, err := ReadFile(path)
	if err != nil || len(keys) != 1 || keys[0].Version != "a_one1" {
		t.Fatalf("file changed after refused overwrite: %+v, %v", keys, err)
	}
}

func TestFormat_RejectsWhatParseRejects(t *testing.T) {
	if _, err := Format(Key{Version: "a b", Seed: make([]byte, 32)}); err == nil {
		t.Error("want error for version with space")
	}
	if _, err := Format(Key{Version: "a_1", Seed: make([]byte, 31)}); err == nil {
		t.Error("want error for short seed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ed25519 a_AbC1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n"))
	f.Add([]byte("ed25519 a_1 AAAA=\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := Parse(data)
		if err != nil {
			return
		}
		out, err := Format(keys...)
		if err != nil {
			t.Fatalf("Format rejected parsed keys: %v", err)
		}
		again, err := Parse(out)
		if err != nil || len(again) != len(keys) {
			t.Fatalf("reparse: %v", err)
		}
	})
}
