package canonicaljson

import (
	"errors"
	"testing"
)

// Signing and hashing strip "signatures", "unsigned" and "hashes" from
// canonical objects (spec: appendices, "Signing Details"; server-server API,
// "Calculating the content hash for an event").
func TestRemoveKeys(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		keys     []string
		want     string
	}{
		{"middle", `{"a":1,"signatures":{"x":{"k":"s"}},"z":2}`, []string{"signatures"}, `{"a":1,"z":2}`},
		{"first", `{"a":1,"b":2}`, []string{"a"}, `{"b":2}`},
		{"last", `{"a":1,"b":2}`, []string{"b"}, `{"a":1}`},
		{"all", `{"a":1,"b":2}`, []string{"a", "b"}, `{}`},
		{"absent", `{"a":1}`, []string{"x"}, `{"a":1}`},
		{"empty object", `{}`, []string{"a"}, `{}`},
		{"no keys", `{"a":1}`, nil, `{"a":1}`},
		{"nested same name kept", `{"content":{"unsigned":1},"unsigned":{"age":5}}`, []string{"unsigned"}, `{"content":{"unsigned":1}}`},
		{"tricky values", `{"a":"},\"unsigned\":","hashes":{"sha256":"x"},"s":[{"}":"]"}],"unsigned":{}}`, []string{"hashes", "unsigned"}, `{"a":"},\"unsigned\":","s":[{"}":"]"}]}`},
		{"escaped key", `{"a\"b":1,"c":2}`, []string{`a"b`}, `{"c":2}`},
		{"the usual three", `{"content":{},"hashes":{"sha256":"h"},"signatures":{},"type":"m","unsigned":{"age":1}}`, []string{"signatures", "unsigned", "hashes"}, `{"content":{},"type":"m"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RemoveKeys([]byte(tc.in), tc.keys...)
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":1`, `{"a"}`, `{"a":}`, `{"a":1}x`, `{"a":"}`, `{"a":[1}`, `{"a":1,}`} {
		if _, err := RemoveKeys([]byte(bad), "a"); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v, want ErrSyntax", bad, err)
		}
	}
}

func TestGet(t *testing.T) {
	obj := []byte(`{"a":{"b":[1,{"c":2}],"d":"x"},"c":3,"e\"":null,"signatures":{"hs":{"ed25519:1":"sig"}}}`)
	for _, tc := range []struct {
		path []string
		want string
		err  error
	}{
		{[]string{"c"}, `3`, nil},
		{[]string{"a"}, `{"b":[1,{"c":2}],"d":"x"}`, nil},
		{[]string{"a", "b"}, `[1,{"c":2}]`, nil},
		{[]string{"a", "d"}, `"x"`, nil},
		{[]string{`e"`}, `null`, nil},
		{[]string{"signatures", "hs", "ed25519:1"}, `"sig"`, nil},
		{nil, string(obj), nil},
		{[]string{"x"}, ``, ErrNotFound},
		{[]string{"a", "x"}, ``, ErrNotFound},
		{[]string{"c", "x"}, ``, ErrNotFound},      // 3 is not an object
		{[]string{"a", "b", "c"}, ``, ErrNotFound}, // arrays are not indexed
	} {
		got, err := Get(obj, tc.path...)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%v: err = %v, want %v", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: got %s, %v; want %s", tc.path, got, err, tc.want)
		}
	}
	if _, err := Get([]byte(`[1]`), "a"); !errors.Is(err, ErrSyntax) {
		t.Errorf("array: err = %v, want ErrSyntax", err)
	}
}

func TestSet(t *testing.T) {
	for _, tc := range []struct{ in, key, value, want string }{
		{`{}`, "a", `1`, `{"a":1}`},
		{`{"b":2}`, "a", `1`, `{"a":1,"b":2}`},
		{`{"a":1}`, "b", `2`, `{"a":1,"b":2}`},
		{`{"a":1,"c":3}`, "b", `2`, `{"a":1,"b":2,"c":3}`},
		{`{"a":1,"b":0,"c":3}`, "b", `2`, `{"a":1,"b":2,"c":3}`},
		{`{"content":{},"type":"m"}`, "signatures", `{"hs":{"ed25519:1":"x"}}`, `{"content":{},"signatures":{"hs":{"ed25519:1":"x"}},"type":"m"}`},
		// Keys order by decoded value: "\"" (0x22) sorts before "a".
		{`{"\"":1,"a":2}`, "b", `3`, `{"\"":1,"a":2,"b":3}`},
		{`{"a":2}`, `"`, `1`, `{"\"":1,"a":2}`},
		{`{"\u0001":1}`, "\x00", `0`, `{"\u0000":0,"\u0001":1}`},
	} {
		got, err := Set([]byte(tc.in), tc.key, []byte(tc.value))
		if err != nil || string(got) != tc.want {
			t.Errorf("Set(%s, %q): got %s, %v; want %s", tc.in, tc.key, got, err, tc.want)
		}
		if !IsCanonical(got) {
			t.Errorf("Set(%s, %q) result not canonical: %s", tc.in, tc.key, got)
		}
	}
	if _, err := Set([]byte(`[]`), "a", []byte(`1`)); !errors.Is(err, ErrSyntax) {
		t.Errorf("array: err = %v, want ErrSyntax", err)
	}
}
