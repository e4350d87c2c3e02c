package syncapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Body is an encoded /sync response, held in parts of at most bodyPart
// bytes. An initial sync of a user in 5 000 rooms is ~13 MB of JSON:
// encoded into one growing buffer it took about three times that while the
// buffer doubled, and the whole response tree stayed alive until the end.
type Body struct {
	parts [][]byte
	n     int
}

// bodyPart is the size of a Body's parts: large enough that writing one
// out is a single system call's worth, small enough that the last, partly
// filled part wastes little.
const bodyPart = 64 << 10

// Len is the body's length in bytes.
func (b *Body) Len() int { return b.n }

// Write appends p to the body; it never fails. The first part starts
// small and doubles (most responses are small); once it reaches bodyPart,
// further parts are allocated whole.
func (b *Body) Write(p []byte) (int, error) {
	n := len(p)
	b.n += n
	for len(p) > 0 {
		i := len(b.parts) - 1
		if i < 0 || len(b.parts[i]) == cap(b.parts[i]) && cap(b.parts[i]) >= bodyPart {
			size := bodyPart
			if i < 0 {
				size = min(bodyPart, max(len(p), 512))
			}
			b.parts = append(b.parts, make([]byte, 0, size))
			i++
		}
		part := b.parts[i]
		if len(part) == cap(part) {
			part = slices.Grow(part, cap(part))
		}
		k := min(len(p), cap(part)-len(part))
		b.parts[i] = append(part, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// WriteTo writes the body to w.
func (b *Body) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range b.parts {
		k, err := w.Write(p)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Bytes is the body in one piece (a copy, but for a body of one part).
func (b *Body) Bytes() []byte {
	if len(b.parts) == 1 {
		return b.parts[0]
	}
	out := make([]byte, 0, b.n)
	for _, p := range b.parts {
		out = append(out, p...)
	}
	return out
}

// joinMarker is where the joined rooms go in the encoding of a response
// whose join map is empty. The token before it is a JSON string, in which
// the marker's quotes would be escaped, so its first occurrence is the
// place.
var joinMarker = []byte(`"rooms":{"join":{}`)

// encodeResponse writes resp out as JSON, byte for byte what an
// encoding/json Encoder without HTML escaping writes for it (newline
// included), but one joined room at a time: each room's section is
// encoded alone and then dropped from resp, so the response tree shrinks
// as the body grows. resp is consumed: its join map is empty afterwards.
func encodeResponse(resp *Response) (*Body, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	encode := func(v any) ([]byte, error) {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	body := &Body{}
	join := resp.Rooms.Join
	if join != nil {
		resp.Rooms.Join = map[string]*JoinedRoom{}
	}
	shell, err := encode(resp)
	resp.Rooms.Join = join
	if err != nil {
		return nil, err
	}
	if len(join) == 0 {
		_, _ = body.Write(shell)
		return body, nil
	}
	cut := bytes.Index(shell, joinMarker)
	if cut < 0 {
		return nil, fmt.Errorf("syncapi: no join section in the encoded response")
	}
	cut += len(joinMarker) - 1
	rest := bytes.Clone(shell[cut:])
	_, _ = body.Write(shell[:cut])
	// encoding/json writes a map's entries in the order of their keys.
	ids := make([]string, 0, len(join))
	for id := range join {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if i > 0 {
			_, _ = body.Write([]byte{','})
		}
		key, err := encode(id)
		if err != nil {
			return nil, err
		}
		_, _ = body.Write(key[:len(key)-1]) // without the Encoder's newline
		_, _ = body.Write([]byte{':'})
		room, err := encode(join[id])
		if err != nil {
			return nil, err
		}
		_, _ = body.Write(room[:len(room)-1])
		delete(join, id) // written: let it go
	}
	_, _ = body.Write(rest)
	return body, nil
}
