package signing

import (
	"encoding/base64"
	"errors"
	"strings"
)

// ErrBadBase64 is wrapped by every base64 decoding error.
var ErrBadBase64 = errors.New("signing: invalid base64")

// EncodeBase64 encodes b as unpadded standard Base64 (spec: appendices,
// "Unpadded Base64").
func EncodeBase64(b []byte) string {
	return base64.RawStdEncoding.EncodeToString(b)
}

// DecodeBase64 decodes Base64 with or without "=" padding, in the standard or
// the URL-safe alphabet, as the spec asks decoders to be liberal (appendices,
// "Unpadded Base64"). Mixing the two alphabets, whitespace and wrong padding
// are errors. Non-zero trailing bits are tolerated, as Python's decoder (used
// by Synapse) tolerates them.
func DecodeBase64(s string) ([]byte, error) {
	unpadded := strings.TrimRight(s, "=")
	if pad := len(s) - len(unpadded); pad > 0 {
		if pad > 2 || len(s)%4 != 0 {
			return nil, errors.Join(ErrBadBase64, errors.New("wrong padding"))
		}
	}
	std, url := false, false
	for i := 0; i < len(unpadded); i++ {
		switch c := unpadded[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		default:
			// Go's decoder would skip \r and \n; we do not.
			return nil, errors.Join(ErrBadBase64, errors.New("invalid character"))
		}
	}
	if std && url {
		return nil, errors.Join(ErrBadBase64, errors.New("mixed alphabets"))
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(unpadded)
	if err != nil {
		return nil, errors.Join(ErrBadBase64, err)
	}
	return b, nil
}
