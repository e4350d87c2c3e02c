package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// DefaultMaxBody bounds request bodies when ReadJSON is given no limit. The
// largest ordinary client requests (key uploads, to-device batches) stay
// well below it; media uploads do not go through ReadJSON.
const DefaultMaxBody = 1 << 20

// ReadJSON reads a JSON object from the request body into v.
//
// The body may be at most max bytes (DefaultMaxBody when max <= 0); beyond
// that the error is 413 M_TOO_LARGE. Before decoding, the body is checked
// with canonicaljson's lenient rules, which encoding/json alone would not
// enforce: invalid UTF-8, unpaired surrogates and syntax errors give
// M_NOT_JSON; duplicate keys (which encoding/json resolves silently, last
// one wins) and nesting beyond canonicaljson.DefaultMaxDepth give
// M_BAD_JSON. Using the same depth bound as federation keeps clients from
// creating events other servers would reject. A body that is valid JSON but
// not an object, or whose values have the wrong type for v, is M_BAD_JSON
// naming the field.
//
// Every returned error is an *Error ready for WriteError.
func ReadJSON(r *http.Request, max int64, v any) error {
	body, err := ReadBody(r, max)
	if err != nil {
		return err
	}
	return DecodeJSON(body, v)
}

// ReadOptionalJSON is ReadJSON for endpoints whose body has no required
// field (join, leave, knock and the like): an empty body (none at all, or
// only whitespace) reads as {}. Many clients send no body to such endpoints,
// and Synapse accepts that; everything else is checked as ReadJSON does.
func ReadOptionalJSON(r *http.Request, max int64, v any) error {
	body, err := ReadBody(r, max)
	if err != nil {
		return err
	}
	return DecodeOptionalJSON(body, v)
}

// DecodeOptionalJSON is DecodeJSON reading an empty body as {}, as
// ReadOptionalJSON does, for bodies already in memory.
func DecodeOptionalJSON(body []byte, v any) error {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return nil
	}
	return DecodeJSON(body, v)
}

// ReadBody reads the whole request body, bounded as ReadJSON describes.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		return nil, TooLarge(fmt.Sprintf("Request body is larger than %d bytes", max))
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, TooLarge(fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's request_body_timeout passed (see
			// internal/server/bodydeadline.go).
			return nil, Unknown(http.StatusRequestTimeout, "The request body was not received in time")
		}
		return nil, Unknown(http.StatusBadRequest, "Could not read the request body")
	}
	if int64(len(body)) > max {
		return nil, TooLarge(fmt.Sprintf("Request body is larger than %d bytes", max))
	}
	return body, nil
}

// DecodeJSON checks and decodes a JSON object as ReadJSON does, for bodies
// already in memory. Strings decoded into v (not those left inside a
// json.RawMessage) must not contain U+0000: they become identifiers, names
// and lookup keys, and PostgreSQL can neither store nor compare text with
// NUL in it (see text.go), so such a body is M_BAD_JSON on both backends.
func DecodeJSON(body []byte, v any) error {
	if err := CheckJSONObject(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return BadJSON(fmt.Sprintf("Field %q must be of type %s, not %s", te.Field, jsonTypeName(te.Type.Kind().String()), te.Value))
			}
			return BadJSON(fmt.Sprintf("Expected %s, not %s", jsonTypeName(te.Type.Kind().String()), te.Value))
		}
		var he *Error
		if errors.As(err, &he) {
			// A custom UnmarshalJSON reported a Matrix error itself.
			return he
		}
		return BadJSON("Malformed JSON: " + err.Error())
	}
	// Only a body that spells the escape can hold a NUL (a raw one is a
	// syntax error), so most bodies skip the walk.
	if bytes.Contains(body, []byte(`\u0000`)) && rejectNULStrings(reflect.ValueOf(v)) {
		return BadJSON("Strings must not contain U+0000 (NUL)")
	}
	return nil
}

// CheckJSONObject applies ReadJSON's checks to a body kept as JSON text
// (event and account data content): canonicaljson's lenient rules and a
// top-level object. "\u0000" inside such a body is allowed: canonical JSON
// defines its escape (appendices, "Canonical JSON"), Synapse accepts it in
// event content, and the text stored keeps the escape, which both backends
// hold.
func CheckJSONObject(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return NotJSON("Content not JSON: the body is empty; expected a JSON object")
	}
	if err := canonicaljson.Valid(body, canonicaljson.LenientOptions); err != nil {
		switch {
		case errors.Is(err, canonicaljson.ErrSyntax), errors.Is(err, canonicaljson.ErrInvalidUTF8):
			return NotJSON("Content not JSON: " + trimPrefix(err))
		default:
			return BadJSON("Malformed JSON: " + trimPrefix(err))
		}
	}
	if trimmed[0] != '{' {
		return BadJSON("Content must be a JSON object")
	}
	return nil
}

// trimPrefix drops canonicaljson's package prefix from messages sent to
// clients.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "canonicaljson: ")
}

// jsonTypeName turns a Go kind into the JSON type a client would call it.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	}
	return kind
}

// WriteJSON writes v as a JSON response with the given status. HTML
// characters are not escaped: responses are JSON for API clients, and the
// escapes only make them larger. A value that cannot be encoded (a bug) is
// turned into a 500 response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if sw := findStatusWriter(w); sw != nil {
			sw.info.err = fmt.Errorf("encode response: %w", err)
		}
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(internalError().Body())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
