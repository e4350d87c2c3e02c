package appservice

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The spec's example registration (application-service-api.md,
// Registration), with the extensions bridges write.
const ircRegistration = `
id: "IRC Bridge"
url: "http://127.0.0.1:1234/"
as_token: "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46"
hs_token: "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e"
sender_localpart: "_irc_bot" # Will result in @_irc_bot:example.org
namespaces:
  users:
    - exclusive: true
      regex: "@_irc_bridge_.*"
  aliases:
    - exclusive: false
      regex: "#_irc_bridge_.*"
  rooms: []
protocols: [irc]
de.sorunome.msc2409.push_ephemeral: true
org.matrix.msc3202: true
`

func TestParse_SpecExample(t *testing.T) {
	r, err := Parse([]byte(ircRegistration), "irc.yaml", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "IRC Bridge" || r.URL != "http://127.0.0.1:1234" || r.SenderUserID("example.org") != "@_irc_bot:example.org" {
		t.Errorf("parsed %+v", r)
	}
	if !r.IsRateLimited() || !r.ReceiveEphemeral || !r.MSC3202 || !r.ServesProtocol("irc") || r.ServesProtocol("slack") {
		t.Errorf("flags: rate %v eph %v msc3202 %v", r.IsRateLimited(), r.ReceiveEphemeral, r.MSC3202)
	}
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"@_irc_bot:example.org", true},          // the sender
		{"@_irc_bridge_alice:example.org", true}, // in the namespace
		{"@_irc_bridge_alice:other.org", false},  // only local users
		{"@alice:example.org", false},
		{"@x_irc_bridge_alice:example.org", false}, // anchored at the start
	} {
		if got := r.IsInterestedInUser(c.id); got != c.want {
			t.Errorf("IsInterestedInUser(%s) = %v", c.id, got)
		}
	}
	if !r.IsExclusiveUser("@_irc_bridge_a:example.org") || !r.IsExclusiveUser("@_irc_bot:example.org") {
		t.Error("exclusive users: the namespace and the sender")
	}
	if !r.IsInterestedInAlias("#_irc_bridge_x:example.org") || r.IsExclusiveAlias("#_irc_bridge_x:example.org") {
		t.Error("a non-exclusive alias namespace is of interest but not exclusive")
	}
	if r.IsInterestedInRoomID("!a:example.org") {
		t.Error("no room namespaces")
	}
}

func TestParse_EphemeralNames(t *testing.T) {
	base := "id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n"
	for _, key := range []string{"receive_ephemeral", "push_ephemeral", "de.sorunome.msc2409.push_ephemeral"} {
		r, err := Parse([]byte(base+key+": true\n"), "f", "hs")
		if err != nil || !r.ReceiveEphemeral {
			t.Errorf("%s: %v %v", key, r, err)
		}
	}
	r, err := Parse([]byte(base+"rate_limited: false\n"), "f", "hs")
	if err != nil || r.IsRateLimited() || r.URL != "" || r.ReceiveEphemeral {
		t.Errorf("url null, rate_limited false: %+v %v", r, err)
	}
}

func TestParse_RefusesBadFiles(t *testing.T) {
	base := map[string]string{"id": "id: a\n", "url": "url: http://localhost:9000\n", "as": "as_token: x\n", "hs": "hs_token: y\n", "sender": "sender_localpart: bot\n"}
	build := func(drop string, extra string) string {
		var b strings.Builder
		for _, k := range []string{"id", "url", "as", "hs", "sender"} {
			if k != drop {
				b.WriteString(base[k])
			}
		}
		return b.String() + extra
	}
	for _, c := range []struct{ name, file, want string }{
		{"missing id", build("id", ""), "id is missing"},
		{"missing url", build("url", ""), "url is missing"},
		{"missing as_token", build("as", ""), "as_token is missing"},
		{"missing hs_token", build("hs", ""), "hs_token is missing"},
		{"missing sender", build("sender", ""), "sender_localpart is missing"},
		{"url not http", strings.Replace(build("", ""), "http://localhost:9000", "ftp://x", 1), "not an http(s) base URL"},
		{"same tokens", strings.Replace(build("", ""), "hs_token: y", "hs_token: x", 1), "as_token and hs_token are the same"},
		{"bad regex", build("", "namespaces:\n  users:\n    - {exclusive: true, regex: '@(?=x).*'}\n"), "namespaces.users[0].regex"},
		{"exclusive missing", build("", "namespaces:\n  users:\n    - {regex: '@x.*'}\n"), "exclusive must be true or false"},
		{"namespace not a list", build("", "namespaces:\n  rooms: '!x'\n"), "namespaces.rooms must be a list"},
		{"rate_limited not bool", build("", "rate_limited: sometimes\n"), "rate_limited must be true or false"},
		{"protocols not strings", build("", "protocols: [1]\n"), "protocols must be a list"},
		{"bad sender", strings.Replace(build("", ""), "bot", "a:b", 1), "does not make a valid user ID"},
		{"not yaml", "id: [", "not valid YAML"},
		{"empty", "", "empty"},
	} {
		_, err := Parse([]byte(c.file), "reg.yaml", "example.org")
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "reg.yaml") {
			t.Errorf("%s: err = %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
}

func reg(t *testing.T, id, as, hs, sender, users string) *Registration {
	t.Helper()
	f := "id: " + id + "\nurl: null\nas_token: " + as + "\nhs_token: " + hs + "\nsender_localpart: " + sender + "\n"
	if users != "" {
		f += "namespaces:\n  users:\n    - {exclusive: true, regex: '" + users + "'}\n"
	}
	r, err := Parse([]byte(f), id+".yaml", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewSet_RefusesClashes(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b *Registration
		want string
	}{
		{"same id", reg(t, "a", "t1", "t2", "s1", ""), reg(t, "a", "t3", "t4", "s2", ""), `both have id "a"`},
		{"same as_token", reg(t, "a", "t1", "t2", "s1", ""), reg(t, "b", "t1", "t4", "s2", ""), "share a token"},
		{"token crossed", reg(t, "a", "t1", "t2", "s1", ""), reg(t, "b", "t2", "t4", "s2", ""), "share a token"},
		{"same sender", reg(t, "a", "t1", "t2", "bot", ""), reg(t, "b", "t3", "t4", "bot", ""), "same sender_localpart"},
		{"sender in exclusive ns", reg(t, "a", "t1", "t2", "_x_bot", ""), reg(t, "b", "t3", "t4", "s2", "@_x_.*"), "is in an exclusive user namespace"},
		{"identical exclusive", reg(t, "a", "t1", "t2", "s1", "@_x_.*"), reg(t, "b", "t3", "t4", "s2", "@_x_.*"), "overlap"},
		{"literal inside other", reg(t, "a", "t1", "t2", "s1", "@_x_.*"), reg(t, "b", "t3", "t4", "s2", "@_x_bob:example\\.org"), "overlap"},
	} {
		_, err := NewSet(c.a, c.b)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSet_Lookups(t *testing.T) {
	a := reg(t, "a", "ta", "ha", "abot", "@_a_.*")
	b := reg(t, "b", "tb", "hb", "bbot", "@_b_.*")
	s, err := NewSet(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if s.ByASToken("tb") != b || s.ByASToken("hb") != nil || s.ByASToken("") != nil || s.ByID("a") != a || s.Len() != 2 {
		t.Error("lookups by token and id")
	}
	if s.ExclusiveOwnerOfUser("@_b_x:example.org") != b || s.ExclusiveOwnerOfUser("@abot:example.org") != a || s.ExclusiveOwnerOfUser("@c:example.org") != nil {
		t.Error("exclusive owners")
	}
	var none *Set
	if none.ByASToken("x") != nil || none.ExclusiveOwnerOfAlias("#a:b") != nil || none.All() != nil {
		t.Error("a nil set has no appservices")
	}
}

func TestLoad_NamesEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\n"), 0o600)
	os.WriteFile(bad, []byte("id: b\n"), 0o600)
	if s, err := Load([]string{good}, "example.org"); err != nil || s.Len() != 1 {
		t.Fatalf("good file: %v", err)
	}
	_, err := Load([]string{good, bad, filepath.Join(dir, "missing.yaml")}, "example.org")
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("err = %v", err)
	}
}

func TestRegistration_IPRangeWhitelist(t *testing.T) {
	r, err := Parse([]byte("id: a\nurl: null\nas_token: x\nhs_token: y\nsender_localpart: a\nip_range_whitelist: [10.0.0.0/8, 127.0.0.1]\n"), "f", "hs")
	if err != nil {
		t.Fatal(err)
	}
	if !r.AllowsClient(netip.MustParseAddr("10.1.2.3")) || !r.AllowsClient(netip.MustParseAddr("::ffff:127.0.0.1")) || r.AllowsClient(netip.MustParseAddr("192.168.0.1")) {
		t.Error("ip_range_whitelist limits where the as_token is accepted from")
	}
}
