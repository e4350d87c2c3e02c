package ids

// Sigil returns the sigil of a user ID ('@'), room ID ('!'), event ID ('$')
// or room alias ('#'), or 0 if s starts with none of them (appendices, Common
// Identifier Format). It does not validate the rest of s.
func Sigil(s string) byte {
	if s == "" {
		return 0
	}
	switch c := s[0]; c {
	case '@', '!', '$', '#':
		return c
	}
	return 0
}

// ValidOpaqueID reports whether s follows the Opaque Identifier Grammar
// (appendices, Opaque Identifiers): 1–255 characters of [0-9A-Za-z-._~], the
// RFC 3986 unreserved set. The spec uses it for VoIP call_id and party_id,
// registration tokens (which are further limited to 64 characters), SSO
// identity provider IDs and terms-of-service policy IDs. Transaction IDs and
// device IDs are NOT specified with this grammar and may be any string.
func ValidOpaqueID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// ValidNamespacedID reports whether s follows the Common Namespaced
// Identifier Grammar (appendices, since v1.2): 1–255 characters, starting with
// [a-z], entirely [a-z0-9-_.]. It does not check the "m." reservation or
// reverse-DNS namespacing, which depend on who is defining the identifier.
func ValidNamespacedID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
