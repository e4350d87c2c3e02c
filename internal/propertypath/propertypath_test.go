package propertypath

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The spec's examples (appendices, "Dot-separated property paths").
func TestSplit(t *testing.T) {
	for _, c := range []struct {
		path string
		want []string
	}{
		{"content.body", []string{"content", "body"}},
		{`content.m\.relates_to`, []string{"content", "m.relates_to"}},
		{`content.m\\foo`, []string{"content", `m\foo`}},
		{`content.m\xfoo`, []string{"content", `m\xfoo`}}, // other escapes stay as written
		{`a\\.b`, []string{`a\`, "b"}},
		{`trailing\`, []string{`trailing\`}},
		{"type", []string{"type"}},
		{"", []string{""}},
		{"a..b", []string{"a", "", "b"}},
	} {
		if got := Split(c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestSelect(t *testing.T) {
	var ev map[string]any
	if err := json.Unmarshal([]byte(`{"type":"m.room.message","sender":"@a:hs","event_id":"$e",
		"content":{"body":"hi","msgtype":"m.text","m.relates_to":{"rel_type":"m.thread","event_id":"$root"}},
		"unsigned":{"age":5}}`), &ev); err != nil {
		t.Fatal(err)
	}
	paths := func(ps ...string) [][]string {
		var out [][]string
		for _, p := range ps {
			out = append(out, Split(p))
		}
		return out
	}
	for _, c := range []struct {
		paths []string
		want  string
	}{
		{[]string{"type", "content.body"}, `{"content":{"body":"hi"},"type":"m.room.message"}`},
		{[]string{`content.m\.relates_to.rel_type`}, `{"content":{"m.relates_to":{"rel_type":"m.thread"}}}`},
		{[]string{"content", "content.body"}, `{"content":{"body":"hi","m.relates_to":{"event_id":"$root","rel_type":"m.thread"},"msgtype":"m.text"}}`},
		{[]string{"content.body", "content"}, `{"content":{"body":"hi","m.relates_to":{"event_id":"$root","rel_type":"m.thread"},"msgtype":"m.text"}}`},
		{[]string{"missing", "type.deeper", "content.body.deeper"}, `{}`},
		{nil, `{}`},
	} {
		got, _ := json.Marshal(Select(ev, paths(c.paths...)))
		if string(got) != c.want {
			t.Errorf("Select(%q) = %s, want %s", c.paths, got, c.want)
		}
	}
}

// Select never fails or panics on any path against any JSON object.
func FuzzSelect(f *testing.F) {
	f.Add(`{"a":{"b":1}}`, `a.b`)
	f.Add(`{"a.b":{"c\\d":[1]}}`, `a\.b.c\\d`)
	f.Fuzz(func(t *testing.T, doc, path string) {
		var obj map[string]any
		if json.Unmarshal([]byte(doc), &obj) != nil {
			return
		}
		out := Select(obj, [][]string{Split(path), Split(path + ".x")})
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("selection does not marshal: %v", err)
		}
	})
}
