package canonicaljson

import (
	"errors"
	"strings"
	"testing"
)

// Spec: appendices, "Canonical JSON", "Examples". Every example is listed;
// the last one contains the float 1e10, which the spec's own rules forbid
// ("Float values are not permitted"), so it is checked separately below.
func TestCanonicalize_SpecExamples(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty object", `{}`, `{}`},
		{"whitespace removed", "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", `{"one":1,"two":"Two"}`},
		{"keys sorted", "{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", `{"a":"1","b":"2"}`},
		{"keys sorted compact", `{"b":"2","a":"1"}`, `{"a":"1","b":"2"}`},
		{"nested", `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`, `{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`},
		{"UTF-8 kept raw", `{"a": "日本語"}`, `{"a":"日本語"}`},
		{"non-ASCII keys by code point", `{"本": 2, "日": 1}`, `{"日":1,"本":2}`},
		{"\\u escape decoded", `{"a": "\u65E5"}`, `{"a":"日"}`},
		{"null", `{"a": null}`, `{"a":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range []Options{StrictOptions, LenientOptions} {
				got, err := Canonicalize([]byte(tc.in), opts)
				if err != nil {
					t.Fatalf("strict=%v: %v", opts.Strict, err)
				}
				if string(got) != tc.want {
					t.Errorf("strict=%v:\ngot  %s\nwant %s", opts.Strict, got, tc.want)
				}
				if !IsCanonical(got) {
					t.Errorf("IsCanonical(%s) = false", got)
				}
			}
		})
	}
}

// The spec's last example, {"a": -0, "b": 1e10} → {"a":0,"b":10000000000}.
// Strict mode (room v6+) must reject 1e10: it has an exponent and "Float
// values are not permitted". Lenient mode re-encodes it as Synapse does
// (Python's float repr), because that is what signatures and hashes on
// existing room v1–5 events cover. -0 becomes 0 in both.
func TestCanonicalize_SpecExampleNegativeZeroAndExponent(t *testing.T) {
	in := []byte(`{"a": -0, "b": 1e10}`)
	if _, err := Canonicalize(in, StrictOptions); !errors.Is(err, ErrFloat) {
		t.Errorf("strict: err = %v, want ErrFloat", err)
	}
	got, err := Canonicalize(in, LenientOptions)
	if err != nil || string(got) != `{"a":0,"b":10000000000.0}` {
		t.Errorf("lenient: got %s, %v", got, err)
	}
	got, err = Canonicalize([]byte(`{"a": -0, "b": 10000000000}`), StrictOptions)
	if err != nil || string(got) != `{"a":0,"b":10000000000}` {
		t.Errorf("strict integers: got %s, %v", got, err)
	}
}

// Spec: appendices, "Canonical JSON", grammar: only \" \\ \b \t \n \f \r and
// \u00XX (lowercase hex) for other control characters are escaped; all other
// characters, including '/', DEL and non-ASCII, are written raw.
func TestCanonicalize_StringEscapes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"short escapes kept", `"\b\t\n\f\r\"\\"`, `"\b\t\n\f\r\"\\"`},
		{"short escapes from \\u form", `"\u0008\u0009\u000A\u000c\u000D\u0022\u005C"`, `"\b\t\n\f\r\"\\"`},
		{"other controls as lowercase \\u00XX", `"\u0000\u0001\u0007\u000B\u000E\u000F\u0010\u001F\u001a"`, `"\u0000\u0001\u0007\u000b\u000e\u000f\u0010\u001f\u001a"`},
		{"solidus unescaped", `"a\/b"`, `"a/b"`},
		{"DEL stays raw", "\"\x7f\"", "\"\x7f\""},
		{"escaped DEL decoded", `"\u007f"`, "\"\x7f\""},
		{"ASCII \\u decoded", `"\u0041\u0062"`, `"Ab"`},
		{"HTML escapes decoded", `"\u003c\u003e\u0026"`, `"<>&"`},
		{"BMP escape to UTF-8", `"\u00e9\u20AC"`, `"é€"`},
		{"surrogate pair to UTF-8", `"\ud83d\ude00"`, `"😀"`},
		{"uppercase surrogate pair", `"\uD83D\uDE00"`, `"😀"`},
		{"line separator raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"U+FFFD literal is valid", "\"\uFFFD\"", "\"\uFFFD\""},
		{"noncharacter U+FFFF kept", `"\uffff"`, "\"\uffff\""},
		{"raw 4-byte UTF-8", `"😀"`, `"😀"`},
		{"empty", `""`, `""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in), StrictOptions)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !IsCanonical(got) {
				t.Errorf("IsCanonical(%q) = false", got)
			}
		})
	}
}

// Matrix JSON must be UTF-8, and a lone surrogate has no UTF-8 encoding.
func TestCanonicalize_InvalidUTF8Rejected(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"lone high surrogate", `"\ud83d"`},
		{"lone high surrogate then text", `"\ud83dabcdef"`},
		{"lone low surrogate", `"\ude00"`},
		{"reversed pair", `"\ude00\ud83d"`},
		{"high then non-surrogate escape", `"\ud83d\u0041"`},
		{"high then short escape", `"\ud83d\n"`},
		{"high at end", `"\ud83d`},
		{"invalid byte", "\"\xff\""},
		{"truncated sequence", "\"\xe6\x97\""},
		{"overlong encoding", "\"\xc0\xaf\""},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\""},
		{"invalid byte in key", "{\"\xfe\":1}"},
		{"invalid byte after escape", "\"\\n\xff\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range []Options{StrictOptions, LenientOptions} {
				_, err := Canonicalize([]byte(tc.in), opts)
				if !errors.Is(err, ErrInvalidUTF8) && !(tc.name == "high at end" && errors.Is(err, ErrSyntax)) {
					t.Errorf("strict=%v: err = %v, want ErrInvalidUTF8", opts.Strict, err)
				}
				if verr := Valid([]byte(tc.in), opts); (verr == nil) != (err == nil) {
					t.Errorf("Valid disagrees: %v vs %v", verr, err)
				}
			}
		})
	}
}

// Keys sort by Unicode code point, which for UTF-8 is bytewise order. This
// differs from UTF-16 order (JavaScript's default sort) for characters above
// U+FFFF against U+E000–U+FFFF.
func TestCanonicalize_KeyOrderByCodePoint(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ASCII uppercase before lowercase", `{"b":1,"B":2,"a":3,"A":4}`, `{"A":4,"B":2,"a":3,"b":1}`},
		{"prefix first", `{"ab":1,"a":2,"":3}`, `{"":3,"a":2,"ab":1}`},
		{"Latin-1 after ASCII", `{"é":1,"z":2}`, `{"z":2,"é":1}`},
		{"astral after U+FFFD (not UTF-16 order)", `{"😀":1,"\uFFFD":2}`, "{\"\uFFFD\":2,\"😀\":1}"},
		{"escaped key sorted by its value", `{"b":1,"\u0061":2}`, `{"a":2,"b":1}`},
		{"control-char key sorted by its value", `{"a":1,"\u0001":2,"\"":3}`, `{"\u0001":2,"\"":3,"a":1}`},
		{"nested objects sorted", `{"z":{"y":1,"x":[{"b":1,"a":2}]},"a":0}`, `{"a":0,"z":{"x":[{"a":2,"b":1}],"y":1}}`},
		{"many keys reversed", `{"e":5,"d":4,"c":3,"b":2,"a":1}`, `{"a":1,"b":2,"c":3,"d":4,"e":5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in), StrictOptions)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// Duplicate keys make an object's meaning depend on the parser, so they are
// rejected at any depth, also when written differently (escaped).
func TestCanonicalize_DuplicateKeysRejected(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"adjacent", `{"a":1,"a":2}`},
		{"same value", `{"a":1,"a":1}`},
		{"not adjacent", `{"a":1,"b":2,"a":3}`},
		{"not adjacent unsorted", `{"b":1,"a":2,"b":3}`},
		{"escaped spelling", `{"a":1,"\u0061":2}`},
		{"nested", `{"x":{"k":1,"k":2}}`},
		{"in array", `[{"k":1,"j":0,"k":2}]`},
		{"empty key", `{"":1,"":2}`},
		{"deep", `{"a":{"b":{"c":{"d":1,"d":1}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Canonicalize([]byte(tc.in), LenientOptions)
			if !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("Canonicalize err = %v, want ErrDuplicateKey", err)
			}
			if err := Valid([]byte(tc.in), LenientOptions); !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("Valid err = %v, want ErrDuplicateKey", err)
			}
		})
	}
	// The same key in sibling objects is fine.
	if _, err := Canonicalize([]byte(`{"a":{"k":1},"b":{"k":2}}`), StrictOptions); err != nil {
		t.Errorf("sibling objects: %v", err)
	}
}

func TestCanonicalize_DepthLimit(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	if _, err := Canonicalize(nest(DefaultMaxDepth), StrictOptions); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, err := Canonicalize(nest(DefaultMaxDepth+1), StrictOptions); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth %d: err = %v, want ErrTooDeep", DefaultMaxDepth+1, err)
	}
	opts := Options{MaxDepth: 3, Strict: true}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`1`, true},
		{`{"a":[{}]}`, true},
		{`{"a":[{"b":1}]}`, true},
		{`{"a":[{"b":[]}]}`, false},
		{`[[[[]]]]`, false},
		{`[[],[],[[]]]`, true},
	} {
		_, err := Canonicalize([]byte(tc.in), opts)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrTooDeep)) {
			t.Errorf("%s: err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if verr := Valid([]byte(tc.in), opts); (verr == nil) != (err == nil) {
			t.Errorf("%s: Valid = %v, Canonicalize = %v", tc.in, verr, err)
		}
	}
	// A huge unterminated nesting fails fast and without deep recursion.
	if _, err := Canonicalize([]byte(strings.Repeat("[", 1<<20)), LenientOptions); !errors.Is(err, ErrTooDeep) {
		t.Errorf("1M open brackets: err = %v", err)
	}
}

// Spec: appendices, "Canonical JSON": integers in [-(2**53)+1, (2**53)-1],
// no exponents or decimal places, no -0 (room v6+: v6-canonical-json).
func TestCanonicalize_IntegerRange(t *testing.T) {
	for _, tc := range []struct {
		in, want  string
		strictErr error
	}{
		{"0", "0", nil},
		{"-0", "0", nil}, // Synapse parses -0 as the integer 0 and accepts it
		{"9007199254740991", "9007199254740991", nil},
		{"-9007199254740991", "-9007199254740991", nil},
		{"9007199254740992", "9007199254740992", ErrIntegerRange},
		{"-9007199254740992", "-9007199254740992", ErrIntegerRange},
		{"18446744073709551616", "18446744073709551616", ErrIntegerRange},
		{"123456789012345678901234567890", "123456789012345678901234567890", ErrIntegerRange},
		{"1000000000000000", "1000000000000000", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in), StrictOptions)
			if tc.strictErr != nil {
				if !errors.Is(err, tc.strictErr) {
					t.Errorf("strict: err = %v, want %v", err, tc.strictErr)
				}
			} else if err != nil || string(got) != tc.want {
				t.Errorf("strict: got %s, %v; want %s", got, err, tc.want)
			}
			// Room v1–5: integers are kept exactly, whatever their size.
			got, err = Canonicalize([]byte(tc.in), LenientOptions)
			if err != nil || string(got) != tc.want {
				t.Errorf("lenient: got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	// Python (Synapse) refuses integer literals over 4300 digits.
	long := []byte(strings.Repeat("9", pythonMaxIntDigits+1))
	if _, err := Canonicalize(long, LenientOptions); !errors.Is(err, ErrIntegerRange) {
		t.Errorf("4301-digit integer: err = %v", err)
	}
	if _, err := Canonicalize(long[1:], LenientOptions); err != nil {
		t.Errorf("4300-digit integer: err = %v", err)
	}
}

// Strict mode rejects every number with a fraction or exponent, even when
// its value is integral. Lenient mode re-encodes it as Synapse does, which
// is Python's repr(float); the expected strings were produced by
// json.dumps(json.loads(in)) in CPython 3.
func TestCanonicalize_Floats(t *testing.T) {
	for _, tc := range []struct{ in, lenient string }{
		{"1.0", "1.0"},
		{"1e3", "1000.0"},
		{"1E3", "1000.0"},
		{"1e10", "10000000000.0"},
		{"1e15", "1000000000000000.0"},
		{"1e16", "1e+16"},
		{"1e22", "1e+22"},
		{"123456789012345678.0", "1.2345678901234568e+17"},
		{"0.1", "0.1"},
		{"0.0001", "0.0001"},
		{"0.00001", "1e-05"},
		{"1e-5", "1e-05"},
		{"1.5e-7", "1.5e-07"},
		{"123e-20", "1.23e-18"},
		{"-0.0", "-0.0"},
		{"0.0", "0.0"},
		{"1e-400", "0.0"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"100.5", "100.5"},
		{"12345.678e2", "1234567.8"},
		{"9007199254740993.0", "9007199254740992.0"},
		{"-2.5E+2", "-250.0"},
		{"0.1e1", "1.0"},
		{"3.14159", "3.14159"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if _, err := Canonicalize([]byte(tc.in), StrictOptions); !errors.Is(err, ErrFloat) {
				t.Errorf("strict: err = %v, want ErrFloat", err)
			}
			got, err := Canonicalize([]byte(tc.in), LenientOptions)
			if err != nil || string(got) != tc.lenient {
				t.Errorf("lenient: got %s, %v; want %s", got, err, tc.lenient)
			}
		})
	}
	// Python's encoder (allow_nan=False) refuses infinity, so an overflowing
	// literal is an error even in lenient mode.
	for _, in := range []string{"1e400", "-1e400", "1.8e308"} {
		if _, err := Canonicalize([]byte(in), LenientOptions); !errors.Is(err, ErrFloat) {
			t.Errorf("%s lenient: err = %v, want ErrFloat", in, err)
		}
	}
}

func TestCanonicalize_Whitespace(t *testing.T) {
	want := `{"a":[1,true,null],"b":"x y"}`
	for _, in := range []string{
		`{"a":[1,true,null],"b":"x y"}`,
		" \t\r\n{ \"b\" : \"x y\" , \"a\" : [ 1 , true , null ] } \t\r\n",
		"{\n\t\"a\":[\n1,\ntrue,\nnull\n],\r\n\"b\":\"x y\"}",
	} {
		got, err := Canonicalize([]byte(in), StrictOptions)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %s, %v", in, got, err)
		}
	}
	// Only the four JSON whitespace characters count.
	for _, in := range []string{"\v{}", "{}\f", "\u00a0{}", "{\u2028}", "\ufeff{}"} {
		if _, err := Canonicalize([]byte(in), LenientOptions); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v, want ErrSyntax", in, err)
		}
	}
}

func TestCanonicalize_SyntaxErrors(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{'a':1}`,
		`{"a":1,}`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1 "b":2}`, `{,}`,
		`{} {}`, `{}x`, `[]]`, `{}}`, `1 2`, `"a" "b"`, `nul`, `nulls`, `True`, `NaN`, `Infinity`, `-Infinity`,
		`01`, `-01`, `+1`, `.5`, `1.`, `1.e3`, `1e`, `1e+`, `-`, `--1`, `0x10`, `1_000`,
		`"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, `"\`, "\"a\nb\"", "\"\x00\"", "\"\x1f\"",
		`[1]x`, "{}\x00",
	} {
		for _, opts := range []Options{StrictOptions, LenientOptions} {
			_, err := Canonicalize([]byte(in), opts)
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("%q strict=%v: err = %v, want ErrSyntax", in, opts.Strict, err)
			}
			if verr := Valid([]byte(in), opts); !errors.Is(verr, ErrSyntax) {
				t.Errorf("%q strict=%v: Valid = %v, want ErrSyntax", in, opts.Strict, verr)
			}
		}
	}
}

func TestCanonicalize_ScalarsAndArrays(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`true`, `true`}, {`false`, `false`}, {`null`, `null`}, {` 42 `, `42`}, {`-7`, `-7`},
		{`"x"`, `"x"`}, {`[]`, `[]`}, {`[ ]`, `[]`}, {`{ }`, `{}`},
		{`[3, 1, 2]`, `[3,1,2]`}, // arrays keep their order
		{`[{}, [], "", 0]`, `[{},[],"",0]`},
	} {
		got, err := Canonicalize([]byte(tc.in), StrictOptions)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestError_OffsetAndUnwrap(t *testing.T) {
	_, err := Canonicalize([]byte(`{"a":1, "b": 1.5}`), StrictOptions)
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrFloat || e.Offset != 13 {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "offset 13") {
		t.Errorf("message %q lacks offset", err.Error())
	}
}

func TestIsCanonical(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`{"a":1,"b":[true,null,"x"]}`, true},
		{`{"a":"\u0000\n\"\\"}`, true},
		{`{"日":1,"本":2}`, true},
		{`-5`, true},
		{`{"b":1,"a":2}`, false},          // unsorted
		{`{"a":1,"a":1}`, false},          // duplicate
		{`{"a": 1}`, false},               // whitespace
		{"{}\n", false},                   // trailing whitespace
		{`{"a":"\/"}`, false},             // needless escape
		{`{"a":"\u0041"}`, false},         // needless escape
		{`{"a":"\u000B"}`, false},         // uppercase hex
		{`{"a":"\u000a"}`, false},         // \n has a short form
		{`{"a":"\ud83d\ude00"}`, false},   // must be raw UTF-8
		{`{"a":-0}`, false},               // -0 forbidden
		{`{"a":1.0}`, false},              // float
		{`{"a":9007199254740992}`, false}, // out of range
		{"{\"a\":\"\xff\"}", false},       // invalid UTF-8
		{``, false},
	} {
		if got := IsCanonical([]byte(tc.in)); got != tc.want {
			t.Errorf("IsCanonical(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestValid_AgreesWithCanonicalize(t *testing.T) {
	for _, in := range []string{
		`{"b":{"d":1,"c":2},"a":[1,2,{"y":"\u0041","x":null}]}`,
		`{"b":1,"a":2,"b":3}`,
		`{"a":1.5}`,
		`{"a":"\ud800"}`,
		`[[[[[]]]]]`,
	} {
		for _, opts := range []Options{StrictOptions, LenientOptions, {MaxDepth: 2}} {
			_, cerr := Canonicalize([]byte(in), opts)
			verr := Valid([]byte(in), opts)
			if (cerr == nil) != (verr == nil) || (cerr != nil && errors.Unwrap(cerr) != errors.Unwrap(verr)) {
				t.Errorf("%s %+v: Canonicalize %v, Valid %v", in, opts, cerr, verr)
			}
		}
	}
}

func TestMarshal(t *testing.T) {
	type content struct {
		Body    string `json:"body"`
		MsgType string `json:"msgtype"`
		Skip    string `json:"skip,omitempty"`
	}
	type event struct {
		Type    string         `json:"type"`
		Content content        `json:"content"`
		Depth   int64          `json:"depth"`
		Extra   map[string]any `json:"extra"`
	}
	got, err := Marshal(event{
		Type:    "m.room.message",
		Content: content{Body: "<b>&</b> \u2028 日本", MsgType: "m.text"},
		Depth:   12,
		Extra:   map[string]any{"z": 1, "a": []int{3, 2}, "f": 2.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	// encoding/json escapes <, > and & and U+2028; canonical JSON does not.
	want := `{"content":{"body":"<b>&</b> ` + "\u2028" + ` 日本","msgtype":"m.text"},"depth":12,"extra":{"a":[3,2],"f":2,"z":1},"type":"m.room.message"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := Marshal(map[string]float64{"x": 1.5}); !errors.Is(err, ErrFloat) {
		t.Errorf("float: err = %v, want ErrFloat", err)
	}
	if _, err := Marshal(map[string]int64{"x": 1 << 53}); !errors.Is(err, ErrIntegerRange) {
		t.Errorf("2^53: err = %v, want ErrIntegerRange", err)
	}
	if _, err := Marshal(map[string]int64{"x": MaxSafeInteger}); err != nil {
		t.Errorf("2^53-1: %v", err)
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Error("channel: no error")
	}
}

func TestAppendString(t *testing.T) {
	got := string(AppendString([]byte("x"), "a\"\\\x00\x1f\t/é"))
	if want := `x"a\"\\\u0000\u001f\t/é"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
