package signing

import "testing"

// Spec: appendices, "Cryptographic Test Vectors".
const testSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

func testKey(t testing.TB) SigningKey {
	t.Helper()
	seed, err := DecodeBase64(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewSigningKey("1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignJSON_SpecVectors(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct{ name, in, want string }{
		{"empty object", `{}`, `{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}`},
		{"data values", `{"one": 1, "two": "Two"}`, `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SignJSON([]byte(tc.in), "domain", k)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if err := VerifyJSON(got, "domain", k.ID, k.Public()); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}
