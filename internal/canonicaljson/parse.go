package canonicaljson

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// parser is a single-pass recursive-descent JSON parser that writes the
// canonical encoding as it goes. Objects are written in input order and
// re-ordered in place when they close, which costs nothing for input that is
// already sorted (the common case: most PDUs arrive canonical).
type parser struct {
	data     []byte
	pos      int
	out      []byte
	strict   bool
	emit     bool // false for Valid: check only
	canon    bool // IsCanonical: any deviation from canonical form fails
	maxDepth int
	depth    int

	// Scratch shared by all nesting levels; an object pushes its members
	// and keys on top and truncates back when it closes.
	keys    []byte
	members []member
	tmp     []byte
}

// member locates one object member: its decoded key in p.keys and its
// canonical `"key":value` encoding in p.out.
type member struct {
	keyStart, keyEnd int
	outStart, outEnd int
}

func (p *parser) fail(kind error, detail string) error {
	return &Error{Kind: kind, Offset: p.pos, Detail: detail}
}

func (p *parser) parseDocument() error {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.fail(ErrSyntax, "empty input")
	}
	if err := p.parseValue(); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return p.fail(ErrSyntax, "trailing data after JSON value")
	}
	return nil
}

func (p *parser) skipSpace() {
	if p.canon {
		// Canonical JSON has no insignificant whitespace; leaving it
		// unskipped makes the caller fail.
		return
	}
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) parseValue() error {
	if p.pos >= len(p.data) {
		return p.fail(ErrSyntax, "unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.parseObject()
	case c == '[':
		return p.parseArray()
	case c == '"':
		return p.parseStringValue()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.parseNumber()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.fail(ErrSyntax, "unexpected character")
	}
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.fail(ErrSyntax, "invalid literal")
	}
	p.pos += len(lit)
	if p.emit {
		p.out = append(p.out, lit...)
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return p.fail(ErrTooDeep, "")
	}
	return nil
}

func (p *parser) parseArray() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++ // '['
	if p.emit {
		p.out = append(p.out, '[')
	}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if err := p.parseValue(); err != nil {
				return err
			}
			p.skipSpace()
			if p.pos >= len(p.data) {
				return p.fail(ErrSyntax, "unterminated array")
			}
			c := p.data[p.pos]
			p.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				p.pos--
				return p.fail(ErrSyntax, "expected ',' or ']' in array")
			}
			if p.emit {
				p.out = append(p.out, ',')
			}
		}
	}
	if p.emit {
		p.out = append(p.out, ']')
	}
	p.depth--
	return nil
}

func (p *parser) parseObject() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++ // '{'
	if p.emit {
		p.out = append(p.out, '{')
	}
	bodyStart := len(p.out)
	base := len(p.members)
	keyBase := len(p.keys)
	sorted := true

	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return p.fail(ErrSyntax, "expected string key")
			}
			keyOffset := p.pos
			var m member
			m.keyStart = len(p.keys)
			var err error
			if p.keys, err = p.readString(p.keys); err != nil {
				return err
			}
			m.keyEnd = len(p.keys)
			key := p.keys[m.keyStart:m.keyEnd]
			if n := len(p.members) - base; n > 0 {
				prev := p.members[len(p.members)-1]
				switch bytes.Compare(p.keys[prev.keyStart:prev.keyEnd], key) {
				case 0:
					p.pos = keyOffset
					return p.fail(ErrDuplicateKey, string(key))
				case 1:
					sorted = false
				}
			}
			if p.emit {
				if len(p.members) > base {
					p.out = append(p.out, ',')
				}
				m.outStart = len(p.out)
				p.out = appendString(p.out, key)
				p.out = append(p.out, ':')
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return p.fail(ErrSyntax, "expected ':' after object key")
			}
			p.pos++
			p.skipSpace()
			if err := p.parseValue(); err != nil {
				return err
			}
			m.outEnd = len(p.out)
			p.members = append(p.members, m)
			p.skipSpace()
			if p.pos >= len(p.data) {
				return p.fail(ErrSyntax, "unterminated object")
			}
			c := p.data[p.pos]
			p.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				p.pos--
				return p.fail(ErrSyntax, "expected ',' or '}' in object")
			}
		}
	}
	if !sorted {
		if p.canon {
			return p.fail(ErrSyntax, "keys not in canonical order")
		}
		if err := p.sortMembers(base, bodyStart); err != nil {
			return err
		}
	}
	if p.emit {
		p.out = append(p.out, '}')
	}
	p.members = p.members[:base]
	p.keys = p.keys[:keyBase]
	p.depth--
	return nil
}

// sortMembers orders the members of the object being closed by key (bytewise
// UTF-8 order equals code point order), rejects duplicates that were not
// adjacent in the input, and rewrites the object body in sorted order.
func (p *parser) sortMembers(base, bodyStart int) error {
	ms := p.members[base:]
	keys := p.keys
	slices.SortFunc(ms, func(a, b member) int {
		return bytes.Compare(keys[a.keyStart:a.keyEnd], keys[b.keyStart:b.keyEnd])
	})
	for i := 1; i < len(ms); i++ {
		k := keys[ms[i].keyStart:ms[i].keyEnd]
		if bytes.Equal(keys[ms[i-1].keyStart:ms[i-1].keyEnd], k) {
			// The offset of the second occurrence is not tracked; report
			// the end of the object.
			return p.fail(ErrDuplicateKey, string(k))
		}
	}
	if !p.emit {
		return nil
	}
	p.tmp = append(p.tmp[:0], p.out[bodyStart:]...)
	p.out = p.out[:bodyStart]
	for i, m := range ms {
		if i > 0 {
			p.out = append(p.out, ',')
		}
		p.out = append(p.out, p.tmp[m.outStart-bodyStart:m.outEnd-bodyStart]...)
	}
	return nil
}

func (p *parser) parseStringValue() error {
	if !p.emit {
		var err error
		p.tmp, err = p.readString(p.tmp[:0])
		return err
	}
	// Fast path: a string without escapes is already in canonical form once
	// its UTF-8 is known to be valid, so copy it straight through.
	start := p.pos
	end, ok, err := p.scanPlainString()
	if err != nil {
		return err
	}
	if ok {
		p.out = append(p.out, p.data[start:end]...)
		return nil
	}
	p.tmp, err = p.readString(p.tmp[:0])
	if err != nil {
		return err
	}
	p.out = appendString(p.out, p.tmp)
	return nil
}

// scanPlainString checks a string starting at p.pos for the fast path. If it
// contains no escapes it advances past it and returns the end offset and
// true; if it meets a backslash it leaves p.pos alone and returns false.
func (p *parser) scanPlainString() (int, bool, error) {
	data := p.data
	i := p.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return i + 1, true, nil
		case c == '\\':
			return 0, false, nil
		case c < 0x20:
			p.pos = i
			return 0, false, p.fail(ErrSyntax, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				p.pos = i
				return 0, false, p.fail(ErrInvalidUTF8, "")
			}
			i += size
		}
	}
	p.pos = i
	return 0, false, p.fail(ErrSyntax, "unterminated string")
}

// readString decodes the JSON string at p.pos (which must be '"') and appends
// its UTF-8 value to dst.
func (p *parser) readString(dst []byte) ([]byte, error) {
	data := p.data
	i := p.pos + 1
	for {
		// Copy the run of ordinary characters in one go.
		start := i
		for i < len(data) {
			c := data[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				p.pos = i
				return dst, p.fail(ErrInvalidUTF8, "")
			}
			i += size
		}
		dst = append(dst, data[start:i]...)
		if i >= len(data) {
			p.pos = i
			return dst, p.fail(ErrSyntax, "unterminated string")
		}
		c := data[i]
		if c == '"' {
			p.pos = i + 1
			return dst, nil
		}
		if c < 0x20 {
			p.pos = i
			return dst, p.fail(ErrSyntax, "control character in string")
		}
		// Backslash escape.
		if i+1 >= len(data) {
			p.pos = i
			return dst, p.fail(ErrSyntax, "unterminated escape")
		}
		switch data[i+1] {
		case '"':
			dst = append(dst, '"')
		case '\\':
			dst = append(dst, '\\')
		case '/':
			if p.canon {
				p.pos = i
				return dst, p.fail(ErrSyntax, "non-canonical escape")
			}
			dst = append(dst, '/')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(data, i+2)
			if !ok {
				p.pos = i
				return dst, p.fail(ErrSyntax, "invalid \\u escape")
			}
			n := 6
			if utf16IsSurrogate(r) {
				// A high surrogate must be followed by an escaped low
				// surrogate; anything else cannot be encoded as UTF-8.
				lo, ok := rune(0), false
				if r < 0xDC00 && i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					lo, ok = hex4(data, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					p.pos = i
					return dst, p.fail(ErrInvalidUTF8, "unpaired surrogate")
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				n = 12
			}
			if p.canon && !canonicalUEscape(data[i+2:i+6], r) {
				p.pos = i
				return dst, p.fail(ErrSyntax, "non-canonical escape")
			}
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			p.pos = i
			return dst, p.fail(ErrSyntax, "invalid escape")
		}
		i += 2
	}
}

// canonicalUEscape reports whether \uXXXX (hex digits h, value r) is how
// canonical JSON writes r: only control characters without a short escape,
// with lowercase hex.
func canonicalUEscape(h []byte, r rune) bool {
	if r >= 0x20 {
		return false
	}
	switch r {
	case '\b', '\t', '\n', '\f', '\r':
		return false
	}
	return h[2] == '0'+byte(r>>4) && h[3] == hexDigits[r&0xF]
}

func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

// hex4 decodes four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// needsEscape marks the bytes canonical JSON escapes: control characters,
// '"' and '\' (spec: appendices, "Canonical JSON", grammar).
var needsEscape = func() (t [256]bool) {
	for i := 0; i < 0x20; i++ {
		t[i] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// appendString appends the canonical JSON encoding of the UTF-8 string s.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !needsEscape[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendString appends the canonical JSON encoding of s to dst. s must be
// valid UTF-8 (Go strings from a parsed document always are); invalid bytes
// are copied through unchanged, which would make the output invalid.
func AppendString(dst []byte, s string) []byte {
	return appendString(dst, s)
}
