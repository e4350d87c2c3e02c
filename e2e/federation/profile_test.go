package fede2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// GET /profile/{userId} of another server's user is asked of that server
// (server-server-api GET /query/profile), as Synapse does: the whole
// profile with its custom fields (v1.16), one field, 404 for an unset field or an unknown user, and 502
// when the server cannot be reached.
func TestFederation_ProfileOfAnotherServersUser(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	bob.must(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID)+"/displayname", map[string]any{"displayname": "Bob on hs2"}, nil)

	bob.must(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID)+"/m.tz", map[string]any{"m.tz": "Europe/Paris"}, nil)

	var profile map[string]any
	alice.must(t, "GET", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID), nil, &profile)
	if profile["displayname"] != "Bob on hs2" || profile["m.tz"] != "Europe/Paris" {
		t.Errorf("bob's profile seen from hs1: %v", profile)
	}
	var tz map[string]any
	alice.must(t, "GET", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID)+"/m.tz", nil, &tz)
	if len(tz) != 1 || tz["m.tz"] != "Europe/Paris" {
		t.Errorf("bob's time zone seen from hs1: %v", tz)
	}
	var field map[string]any
	alice.must(t, "GET", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID)+"/displayname", nil, &field)
	if len(field) != 1 || field["displayname"] != "Bob on hs2" {
		t.Errorf("bob's display name seen from hs1: %v", field)
	}
	status := func(path string) (int, string) {
		t.Helper()
		x, err := alice.do(context.Background(), "GET", path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Errcode string }
		_ = json.Unmarshal(x.RespBody, &e)
		return x.Status, e.Errcode
	}
	if st, code := status("/_matrix/client/v3/profile/" + url.PathEscape(bob.userID) + "/avatar_url"); st != http.StatusNotFound || code != "M_NOT_FOUND" {
		t.Errorf("unset avatar: %d %s", st, code)
	}
	if st, code := status("/_matrix/client/v3/profile/" + url.PathEscape("@nobody:"+hs2.name)); st != http.StatusNotFound || code != "M_NOT_FOUND" {
		t.Errorf("unknown user: %d %s", st, code)
	}
	hs2.stop()
	if st, _ := status("/_matrix/client/v3/profile/" + url.PathEscape(bob.userID)); st != http.StatusBadGateway {
		t.Errorf("with hs2 stopped: %d, want 502", st)
	}
}
