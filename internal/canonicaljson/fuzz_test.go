package canonicaljson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
)

var sentinels = []error{ErrSyntax, ErrInvalidUTF8, ErrDuplicateKey, ErrTooDeep, ErrFloat, ErrIntegerRange}

// FuzzCanonicalize checks, for any input: no panic; Valid agrees with
// Canonicalize; every error wraps one sentinel; output is idempotent,
// canonical (strict mode) and equal in value to the input; input that
// encoding/json calls invalid is never accepted, and input it accepts is
// never called a syntax error; IsCanonical holds exactly for inputs that
// canonicalize to themselves.
func FuzzCanonicalize(f *testing.F) {
	f.Add([]byte(`{"b":"2","a":"1"}`), true)
	f.Add([]byte(`{"a": -0, "b": 1e10}`), false)
	f.Fuzz(fuzzCanonicalize)
}

func fuzzCanonicalize(t *testing.T, data []byte, strict bool) {
	opts := Options{Strict: strict}
	out, err := Canonicalize(data, opts)
	verr := Valid(data, opts)
	if (err == nil) != (verr == nil) {
		t.Fatalf("Canonicalize err %v, Valid err %v", err, verr)
	}
	if strict && IsCanonical(data) != (err == nil && bytes.Equal(out, data)) {
		t.Fatalf("IsCanonical(%q) = %v, but Canonicalize gives %q, %v", data, IsCanonical(data), out, err)
	}
	if err != nil {
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v wraps %d sentinels", err, n)
		}
		if errors.Is(err, ErrSyntax) && json.Valid(data) {
			t.Fatalf("encoding/json accepts %q, we say %v", data, err)
		}
		return
	}
	if !json.Valid(data) {
		t.Fatalf("accepted %q, which encoding/json rejects", data)
	}
	again, err := Canonicalize(out, opts)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("not idempotent: %q -> %q -> %q, %v", data, out, again, err)
	}
	if strict && !IsCanonical(out) {
		t.Fatalf("IsCanonical(%q) = false", out)
	}
	if !jsonEqual(t, data, out) {
		t.Fatalf("value changed: %q -> %q", data, out)
	}
	if len(out) > 0 && out[0] == '{' {
		checkObjectHelpers(t, out)
	}
}

// checkObjectHelpers cross-checks Get and RemoveKeys against a decoded copy.
func checkObjectHelpers(t *testing.T, obj []byte) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("unmarshal %q: %v", obj, err)
	}
	for k, v := range m {
		got, err := Get(obj, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("Get(%q, %q) = %q, %v; want %q", obj, k, got, err, v)
		}
		rest, err := RemoveKeys(obj, k)
		if err != nil {
			t.Fatalf("RemoveKeys(%q, %q): %v", obj, k, err)
		}
		if _, err := Get(rest, k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RemoveKeys(%q, %q) = %q still has it", obj, k, rest)
		}
		back, err := Set(rest, k, v)
		if err != nil || !bytes.Equal(back, obj) {
			t.Fatalf("Set(RemoveKeys(%q, %q)) = %q, %v", obj, k, back, err)
		}
	}
}

// jsonEqual compares two documents by value: integers exactly, other
// numbers as float64.
func jsonEqual(t *testing.T, a, b []byte) bool {
	decode := func(d []byte) any {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %q: %v", d, err)
		}
		return v
	}
	return valueEqual(decode(a), decode(b))
}

func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valueEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if strings.ContainsAny(string(x), ".eE") || strings.ContainsAny(string(y), ".eE") {
			fx, err1 := strconv.ParseFloat(string(x), 64)
			fy, err2 := strconv.ParseFloat(string(y), 64)
			return err1 == nil && err2 == nil && fx == fy
		}
		ix, ok1 := new(big.Int).SetString(string(x), 10)
		iy, ok2 := new(big.Int).SetString(string(y), 10)
		return ok1 && ok2 && ix.Cmp(iy) == 0
	default:
		return a == b
	}
}

// Synapse computes hashes and signatures of room v1–5 events over Python's
// canonical encoding; lenient mode must reproduce it byte for byte. See
// testdata/README.md for how the cases were made.
func TestCanonicalize_MatchesPythonLenient(t *testing.T) {
	f, err := os.Open("testdata/python_lenient.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var c [2]string
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		n++
		got, err := Canonicalize([]byte(c[0]), LenientOptions)
		if err != nil {
			t.Errorf("case %d: %v", n, err)
			continue
		}
		if string(got) != c[1] {
			t.Errorf("case %d:\ngot  %s\nwant %s", n, got, c[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}
