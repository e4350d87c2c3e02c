package event

import (
	"bytes"

	"encoding/json"
	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"sort"
	"strconv"
	"unicode/utf8"
)

// object is a top-level JSON object whose values are canonical JSON
// fragments. Working at this level lets hashing and redaction drop keys
// without re-encoding (and so without re-validating) every value.
type object map[string]json.RawMessage

func parseObject(canonical []byte) (object, error) {
	var o object
	if err := json.Unmarshal(canonical, &o); err != nil {
		return nil, err
	}
	if o == nil {
		return nil, errorf("event is not a JSON object")
	}
	return o, nil
}

// encode writes o as canonical JSON, given canonical values: keys sorted
// bytewise (code point order for UTF-8) and written with canonical escapes.
func (o object) encode() []byte {
	out, _ := o.encodeFinding("")
	return out
}

// encodeFinding is encode that also returns the value of key as a slice of
// the output (nil when absent), so that a value kept beside the JSON, such
// as an event's content, shares its bytes instead of holding a second
// copy. The slice's capacity ends with the value: appending to it copies.
func (o object) encodeFinding(key string) (out, value []byte) {
	var start, end int
	keys := make([]string, 0, len(o))
	n := 2
	for k, v := range o {
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	buf := bytes.NewBuffer(make([]byte, 0, n))
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(buf, k)
		buf.WriteByte(':')
		if k == key {
			start, end = buf.Len(), buf.Len()+len(o[k])
		}
		buf.Write(o[k])
	}
	buf.WriteByte('}')
	out = buf.Bytes()
	if end > start {
		value = out[start:end:end]
	}
	return out, value
}

func (o object) clone() object {
	c := make(object, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// writeString encodes s the canonical way (appendices, "Canonical JSON"):
// only '"', '\\' and control characters are escaped, using the short forms
// \b \t \n \f \r where they exist and \u00XX otherwise; everything else is raw
// UTF-8.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				buf.WriteByte(c)
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf.WriteString(`\ufffd`)
			} else {
				buf.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\t':
			buf.WriteString(`\t`)
		case '\n':
			buf.WriteString(`\n`)
		case '\f':
			buf.WriteString(`\f`)
		case '\r':
			buf.WriteString(`\r`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		}
		i++
	}
	buf.WriteByte('"')
}

func quote(s string) json.RawMessage {
	var buf bytes.Buffer
	writeString(&buf, s)
	return buf.Bytes()
}

func intJSON(n int64) json.RawMessage { return strconv.AppendInt(nil, n, 10) }

// stringAt returns the string at a key path of a canonical JSON object.
// Keys match exactly: encoding/json's struct decoding matches field names
// case-insensitively, which would let {"Membership":"join"} pass for a join
// on our side and not on other servers'.
func stringAt(obj json.RawMessage, path ...string) (string, bool) {
	raw, err := canonicaljson.Get(obj, path...)
	if err != nil || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
