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

// member locates one object member: its decoded key (aliasing p.data when
// the key had no escapes, else p.keys) and its canonical `"key":value`
// encoding in p.out.
type member struct {
	key              []byte
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
			end, plain, err := p.scanPlainString()
			if err != nil {
				return err
			}
			if plain {
				// No escapes: the raw bytes are the key and already
				// its canonical encoding.
				m.key = p.data[keyOffset+1 : end-1]
			} else {
				// Earlier keys keep pointing into the old array if
				// this append reallocates, and that array is never
				// written again, so they stay valid.
				start := len(p.keys)
				if p.keys, err = p.readString(p.keys, strDecode); err != nil {
					return err
				}
				m.key = p.keys[start:len(p.keys):len(p.keys)]
			}
			if len(p.members) > base {
				prev := p.members[len(p.members)-1]
				switch bytes.Compare(prev.key, m.key) {
				case 0:
					p.pos = keyOffset
					return p.fail(ErrDuplicateKey, string(m.key))
				case 1:
					sorted = false
				}
			}
			if p.emit {
				if len(p.members) > base {
					p.out = append(p.out, ',')
				}
				m.outStart = len(p.out)
				if plain {
					p.out = append(p.out, p.data[keyOffset:end]...)
				} else {
					p.out = appendString(p.out, m.key)
				}
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
	slices.SortFunc(ms, func(a, b member) int {
		return bytes.Compare(a.key, b.key)
	})
	for i := 1; i < len(ms); i++ {
		k := ms[i].key
		if bytes.Equal(ms[i-1].key, k) {
			// The offset of the second occurrence is not tracked; report
			// the end of the object.
			return p.fail(ErrDuplicateKey, string(k))
		}
	}
	if !p.emit {
		return nil
	}
	if p.tmp == nil {
		// Sized for the whole output so nested sorts reuse it.
		p.tmp = make([]byte, 0, cap(p.out))
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
		_, err := p.readString(nil, strDiscard)
		return err
	}
	p.out = append(p.out, '"')
	var err error
	if p.out, err = p.readString(p.out, strEncode); err != nil {
		return err
	}
	p.out = append(p.out, '"')
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

// String reading modes.
const (
	strDecode  = iota // append the decoded UTF-8 value
	strEncode         // append the canonical encoding, without quotes
	strDiscard        // validate only
)

// readString reads the JSON string at p.pos (which must be '"'), checking
// it fully, and appends to dst according to mode. Runs of characters that
// need no escaping are copied in one go; they read the same decoded and
// canonically encoded, since canonical JSON escapes only '"', '\' and
// control characters, which end a run.
func (p *parser) readString(dst []byte, mode int) ([]byte, error) {
	data := p.data
	i := p.pos + 1
	for {
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
		if mode != strDiscard {
			dst = append(dst, data[start:i]...)
		}
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
		r, n, err := p.readEscape(i)
		if err != nil {
			return dst, err
		}
		switch {
		case mode == strDiscard:
		case mode == strEncode && r < utf8.RuneSelf:
			dst = appendEscapedASCII(dst, byte(r))
		default:
			dst = utf8.AppendRune(dst, r)
		}
		i += n
	}
}

// readEscape decodes the escape sequence at data[i] ('\\'), returning the
// character and the sequence length. A \u escape for a UTF-16 high surrogate
// must be followed by one for a low surrogate; an unpaired surrogate has no
// UTF-8 encoding and is rejected.
func (p *parser) readEscape(i int) (rune, int, error) {
	data := p.data
	if i+1 >= len(data) {
		p.pos = i
		return 0, 0, p.fail(ErrSyntax, "unterminated escape")
	}
	switch data[i+1] {
	case '"':
		return '"', 2, nil
	case '\\':
		return '\\', 2, nil
	case '/':
		if p.canon {
			p.pos = i
			return 0, 0, p.fail(ErrSyntax, "non-canonical escape")
		}
		return '/', 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
	default:
		p.pos = i
		return 0, 0, p.fail(ErrSyntax, "invalid escape")
	}
	r, ok := hex4(data, i+2)
	if !ok {
		p.pos = i
		return 0, 0, p.fail(ErrSyntax, "invalid \\u escape")
	}
	n := 6
	if utf16IsSurrogate(r) {
		lo, ok := rune(0), false
		if r < 0xDC00 && i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
			lo, ok = hex4(data, i+8)
		}
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			p.pos = i
			return 0, 0, p.fail(ErrInvalidUTF8, "unpaired surrogate")
		}
		r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
		n = 12
	}
	if p.canon && !canonicalUEscape(data[i+2:i+6], r) {
		p.pos = i
		return 0, 0, p.fail(ErrSyntax, "non-canonical escape")
	}
	return r, n, nil
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

// appendEscapedASCII appends the ASCII character c as canonical JSON writes
// it inside a string.
func appendEscapedASCII(dst []byte, c byte) []byte {
	if !needsEscape[c] {
		return append(dst, c)
	}
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	case '\f':
		return append(dst, '\\', 'f')
	case '\r':
		return append(dst, '\\', 'r')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

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
		dst = appendEscapedASCII(dst, c)
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
