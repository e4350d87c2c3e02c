package eventauth

import (
	"reflect"
	"testing"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// The scanner walks canonical JSON objects: escaped keys are decoded,
// strings containing brackets do not confuse nesting, and anything that is
// not one well-formed object is an error.
func TestEachMember(t *testing.T) {
	good := map[string][][2]string{
		`{}`:                          nil,
		`{"a":1}`:                     {{"a", "1"}},
		`{"a":"}","b":[1,{"c":"]"}]}`: {{"a", `"}"`}, {"b", `[1,{"c":"]"}]`}},
		`{"k\"\\":"v\"","x":null}`:    {{`k"\`, `"v\""`}, {"x", "null"}},
		`{"\u0001":true}`:             {{"\x01", "true"}},
	}
	for in, want := range good {
		var got [][2]string
		if err := eachMember(in, func(k, v string) error { got = append(got, [2]string{k, v}); return nil }); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `[]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":"1}`, `{"a":[1}`, `{a:1}`} {
		if err := eachMember(bad, func(k, v string) error { return nil }); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// Integers beyond 2^53 only occur in v1–v5 (lenient canonical JSON). Those
// that fit int64 are read; larger ones are refused rather than wrapped.
func TestParseLevel_LargeIntegersV1ToV5(t *testing.T) {
	v := roomversion.MustGet("1")
	if n, err := parseLevel("9223372036854775807", v); err != nil || n != 9223372036854775807 {
		t.Errorf("max int64: %d, %v", n, err)
	}
	for _, bad := range []string{"9223372036854775808", "-99999999999999999999", "1e19", `"9223372036854775808"`} {
		if n, err := parseLevel(bad, v); err == nil {
			t.Errorf("%s read as %d", bad, n)
		}
	}
}

// Before v6 the auth rules ignore notifications, so a malformed
// notifications object costs only its meaning; from v6 it rejects.
func TestParseLevels_MalformedNotifications(t *testing.T) {
	for _, v := range roomversion.All() {
		_, err := parseLevels([]byte(`{"notifications":{"room":[]}}`), v, true)
		if got, want := err != nil, v.NotificationsPowerLevels; got != want {
			t.Errorf("v%s: error %v, want error: %v", v.ID, err, want)
		}
	}
}
