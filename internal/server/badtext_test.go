package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A bad value in each of its spellings: as raw text for paths and query
// strings, and as it appears inside a JSON string literal.
type badValue struct {
	name string
	raw  string // path and query form
	json string // inside "..." in a JSON body
}

var badValues = []badValue{
	{"nul", "a\x00b", `a\u0000b`},
	{"invalid-utf8", "a\xffb", "a\xffb"},
	// A lone surrogate: CESU-style bytes in a path (invalid UTF-8), the
	// escape in JSON.
	{"lone-surrogate", "a\xed\xa0\x80b", `a\ud800b`},
	{"long", strings.Repeat("x", 300), strings.Repeat("x", 3000)},
	{"very-long", strings.Repeat("x", 1100), strings.Repeat("x", 30000)},
}

// Where the placeholder {X} sits, which decides the answer a bad value must
// get. Long values only have to be answered alike, without a 5xx, except
// a very long path parameter, which no route takes.
type where int

const (
	inPath    where = iota // 400 M_INVALID_PARAM
	inQuery                // 400 M_INVALID_PARAM
	inJSON                 // NUL: 400 M_BAD_JSON; invalid UTF-8, surrogates: 400 M_NOT_JSON
	inContent              // JSON kept as text (event, account data content, signed keys, push rules): NUL allowed
)

type badTextCase struct {
	name   string
	who    string // alice (room creator), bob (in no room), anon
	method string
	path   string // {room}, {event}, {user}, {dev} are filled in; {X} is the bad value
	body   string
	at     where
}

// Every path parameter, query parameter and JSON string field the client
// API takes, each a place for {X}.
var badTextCases = []badTextCase{
	// Path parameters.
	{"state/roomId", "alice", "GET", "/rooms/{X}/state", "", inPath},
	{"send/roomId", "alice", "PUT", "/rooms/{X}/send/m.room.message/t1", `{"body":"x"}`, inPath},
	{"send/eventType", "alice", "PUT", "/rooms/{room}/send/{X}/t1", `{"body":"x"}`, inPath},
	{"send/txnId", "alice", "PUT", "/rooms/{room}/send/m.room.message/{X}", `{"body":"x"}`, inPath},
	{"state/eventType", "alice", "PUT", "/rooms/{room}/state/{X}/", `{}`, inPath},
	{"state/stateKey", "alice", "PUT", "/rooms/{room}/state/m.x/{X}", `{}`, inPath},
	{"getState/stateKey", "alice", "GET", "/rooms/{room}/state/m.x/{X}", "", inPath},
	{"event/eventId", "alice", "GET", "/rooms/{room}/event/{X}", "", inPath},
	{"context/eventId", "alice", "GET", "/rooms/{room}/context/{X}", "", inPath},
	{"redact/eventId", "alice", "PUT", "/rooms/{room}/redact/{X}/t1", `{}`, inPath},
	{"redact/txnId", "alice", "PUT", "/rooms/{room}/redact/{event}/{X}", `{}`, inPath},
	{"join/roomIdOrAlias", "bob", "POST", "/join/{X}", `{}`, inPath},
	{"knock/roomIdOrAlias", "bob", "POST", "/knock/{X}", `{}`, inPath},
	{"rooms/join/roomId", "bob", "POST", "/rooms/{X}/join", `{}`, inPath},
	{"invite/roomId", "alice", "POST", "/rooms/{X}/invite", `{"user_id":"@bob:localhost"}`, inPath},
	{"leave/roomId", "bob", "POST", "/rooms/{X}/leave", `{}`, inPath},
	{"forget/roomId", "bob", "POST", "/rooms/{X}/forget", `{}`, inPath},
	{"kick/roomId", "alice", "POST", "/rooms/{X}/kick", `{"user_id":"@bob:localhost"}`, inPath},
	{"messages/roomId", "alice", "GET", "/rooms/{X}/messages", "", inPath},
	{"members/roomId", "alice", "GET", "/rooms/{X}/members", "", inPath},
	{"joined_members/roomId", "alice", "GET", "/rooms/{X}/joined_members", "", inPath},
	{"aliases/roomId", "alice", "GET", "/rooms/{X}/aliases", "", inPath},
	{"timestamp_to_event/roomId", "alice", "GET", "/rooms/{X}/timestamp_to_event?ts=1&dir=f", "", inPath},
	{"putAlias/roomAlias", "alice", "PUT", "/directory/room/{X}", `{"room_id":"{room}"}`, inPath},
	{"getAlias/roomAlias", "anon", "GET", "/directory/room/{X}", "", inPath},
	{"deleteAlias/roomAlias", "alice", "DELETE", "/directory/room/{X}", "", inPath},
	{"getVisibility/roomId", "anon", "GET", "/directory/list/room/{X}", "", inPath},
	{"putVisibility/roomId", "alice", "PUT", "/directory/list/room/{X}", `{"visibility":"public"}`, inPath},
	{"postFilter/userId", "alice", "POST", "/user/{X}/filter", `{}`, inPath},
	{"getFilter/filterId", "alice", "GET", "/user/{user}/filter/{X}", "", inPath},
	{"putAccountData/type", "alice", "PUT", "/user/{user}/account_data/{X}", `{}`, inPath},
	{"getAccountData/type", "alice", "GET", "/user/{user}/account_data/{X}", "", inPath},
	{"putRoomAccountData/roomId", "alice", "PUT", "/user/{user}/rooms/{X}/account_data/m.x", `{}`, inPath},
	{"getRoomAccountData/type", "alice", "GET", "/user/{user}/rooms/{room}/account_data/{X}", "", inPath},
	{"getDevice/deviceId", "alice", "GET", "/devices/{X}", "", inPath},
	{"putDevice/deviceId", "alice", "PUT", "/devices/{X}", `{"display_name":"d"}`, inPath},
	{"deleteDevice/deviceId", "alice", "DELETE", "/devices/{X}", `{}`, inPath},
	{"getProfile/userId", "anon", "GET", "/profile/{X}", "", inPath},
	{"getProfileField/keyName", "anon", "GET", "/profile/{user}/{X}", "", inPath},
	{"putProfileField/keyName", "alice", "PUT", "/profile/{user}/{X}", `{"k":"v"}`, inPath},
	{"whois/userId", "alice", "GET", "/admin/whois/{X}", "", inPath},
	{"sendToDevice/eventType", "alice", "PUT", "/sendToDevice/{X}/t1", `{"messages":{}}`, inPath},
	{"sendToDevice/txnId", "alice", "PUT", "/sendToDevice/m.x/{X}", `{"messages":{}}`, inPath},
	{"pushrules/kind", "alice", "GET", "/pushrules/global/{X}/r1", "", inPath},
	{"pushrules/ruleId", "alice", "PUT", "/pushrules/global/content/{X}", `{"pattern":"x","actions":["notify"]}`, inPath},
	{"pushrules/enabled/ruleId", "alice", "PUT", "/pushrules/global/override/{X}/enabled", `{"enabled":true}`, inPath},
	{"pushrules/delete/ruleId", "alice", "DELETE", "/pushrules/global/room/{X}", "", inPath},

	// Query parameters.
	{"messages?from", "alice", "GET", "/rooms/{room}/messages?dir=b&from={X}", "", inQuery},
	{"messages?filter", "alice", "GET", "/rooms/{room}/messages?dir=b&filter={X}", "", inQuery},
	{"timestamp_to_event?dir", "alice", "GET", "/rooms/{room}/timestamp_to_event?ts=1&dir={X}", "", inQuery},
	{"sync?since", "alice", "GET", "/sync?since={X}", "", inQuery},
	{"sync?filter", "alice", "GET", "/sync?filter={X}", "", inQuery},
	{"register/available?username", "anon", "GET", "/register/available?username={X}", "", inQuery},
	{"register?kind", "anon", "POST", "/register?kind={X}", `{}`, inQuery},
	{"publicRooms?server", "anon", "GET", "/publicRooms?server={X}", "", inQuery},
	{"publicRooms?since", "anon", "GET", "/publicRooms?since={X}", "", inQuery},
	{"join?server_name", "bob", "POST", "/join/{room}?server_name={X}", `{}`, inQuery},
	{"whoami?access_token", "anon", "GET", "/account/whoami?access_token={X}", "", inQuery},

	// JSON string fields.
	{"register.username", "anon", "POST", "/register", `{"username":"{X}","password":"pw-long-enough","auth":{"type":"m.login.dummy"}}`, inJSON},
	{"register.password", "anon", "POST", "/register", `{"username":"carol","password":"{X}","auth":{"type":"m.login.dummy"}}`, inJSON},
	{"register.device_id", "anon", "POST", "/register", `{"username":"dave","password":"pw-long-enough","device_id":"{X}","auth":{"type":"m.login.dummy"}}`, inJSON},
	{"register.initial_device_display_name", "anon", "POST", "/register", `{"username":"erin","password":"pw-long-enough","initial_device_display_name":"{X}","auth":{"type":"m.login.dummy"}}`, inJSON},
	{"register.auth.session", "anon", "POST", "/register", `{"username":"frank","password":"pw-long-enough","auth":{"type":"m.login.dummy","session":"{X}"}}`, inJSON},
	{"login.identifier.user", "anon", "POST", "/login", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"{X}"},"password":"x"}`, inJSON},
	{"login.password", "anon", "POST", "/login", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"{X}"}`, inJSON},
	{"login.type", "anon", "POST", "/login", `{"type":"{X}"}`, inJSON},
	{"login.device_id", "anon", "POST", "/login", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery staple","device_id":"{X}"}`, inJSON},
	{"login.initial_device_display_name", "anon", "POST", "/login", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery staple","initial_device_display_name":"{X}"}`, inJSON},
	{"refresh.refresh_token", "anon", "POST", "/refresh", `{"refresh_token":"{X}"}`, inJSON},
	{"putDevice.display_name", "alice", "PUT", "/devices/{dev}", `{"display_name":"{X}"}`, inJSON},
	{"delete_devices.devices", "alice", "POST", "/delete_devices", `{"devices":["{X}"]}`, inJSON},
	{"profile.displayname", "alice", "PUT", "/profile/{user}/displayname", `{"displayname":"{X}"}`, inJSON},
	{"profile.avatar_url", "alice", "PUT", "/profile/{user}/avatar_url", `{"avatar_url":"{X}"}`, inJSON},
	{"password.new_password", "alice", "POST", "/account/password", `{"new_password":"{X}"}`, inJSON},
	{"deactivate.auth.user", "alice", "POST", "/account/deactivate", `{"auth":{"type":"m.login.password","identifier":{"type":"m.id.user","user":"{X}"},"password":"x"}}`, inJSON},
	{"createRoom.name", "alice", "POST", "/createRoom", `{"name":"{X}"}`, inJSON},
	{"createRoom.topic", "alice", "POST", "/createRoom", `{"topic":"{X}"}`, inJSON},
	{"createRoom.room_alias_name", "alice", "POST", "/createRoom", `{"room_alias_name":"{X}"}`, inJSON},
	{"createRoom.invite", "alice", "POST", "/createRoom", `{"invite":["{X}"]}`, inJSON},
	{"createRoom.room_version", "alice", "POST", "/createRoom", `{"room_version":"{X}"}`, inJSON},
	{"createRoom.preset", "alice", "POST", "/createRoom", `{"preset":"{X}"}`, inJSON},
	{"createRoom.initial_state.type", "alice", "POST", "/createRoom", `{"initial_state":[{"type":"{X}","state_key":"","content":{}}]}`, inJSON},
	{"createRoom.initial_state.state_key", "alice", "POST", "/createRoom", `{"initial_state":[{"type":"m.x","state_key":"{X}","content":{}}]}`, inJSON},
	{"invite.user_id", "alice", "POST", "/rooms/{room}/invite", `{"user_id":"{X}"}`, inJSON},
	{"invite.reason", "alice", "POST", "/rooms/{room}/invite", `{"user_id":"@nobody:localhost","reason":"{X}"}`, inJSON},
	{"kick.user_id", "alice", "POST", "/rooms/{room}/kick", `{"user_id":"{X}"}`, inJSON},
	{"ban.user_id", "alice", "POST", "/rooms/{room}/ban", `{"user_id":"{X}"}`, inJSON},
	{"unban.user_id", "alice", "POST", "/rooms/{room}/unban", `{"user_id":"{X}"}`, inJSON},
	{"leave.reason", "bob", "POST", "/rooms/{room}/leave", `{"reason":"{X}"}`, inJSON},
	{"join.reason", "bob", "POST", "/join/{room}", `{"reason":"{X}"}`, inJSON},
	{"redact.reason", "alice", "PUT", "/rooms/{room}/redact/{event}/tr", `{"reason":"{X}"}`, inJSON},
	{"putAlias.room_id", "alice", "PUT", "/directory/room/%23a:localhost", `{"room_id":"{X}"}`, inJSON},
	{"putVisibility.visibility", "alice", "PUT", "/directory/list/room/{room}", `{"visibility":"{X}"}`, inJSON},
	{"publicRooms.generic_search_term", "alice", "POST", "/publicRooms", `{"filter":{"generic_search_term":"{X}"}}`, inJSON},
	{"publicRooms.since", "alice", "POST", "/publicRooms", `{"since":"{X}"}`, inJSON},
	{"filter.rooms", "alice", "POST", "/user/{user}/filter", `{"room":{"rooms":["{X}"]}}`, inJSON},
	{"filter.types", "alice", "POST", "/user/{user}/filter", `{"room":{"timeline":{"types":["{X}"]}}}`, inJSON},
	{"filter.event_fields", "alice", "POST", "/user/{user}/filter", `{"event_fields":["{X}"]}`, inJSON},
	{"sendToDevice.user", "alice", "PUT", "/sendToDevice/m.x/{txn}", `{"messages":{"{X}":{"D":{}}}}`, inJSON},
	{"sendToDevice.device", "alice", "PUT", "/sendToDevice/m.x/{txn}", `{"messages":{"{user}":{"{X}":{}}}}`, inJSON},
	{"keys/upload.one_time_keys", "alice", "POST", "/keys/upload", `{"one_time_keys":{"signed_curve25519:{X}":{"key":"k","signatures":{}}}}`, inJSON},
	{"keys/query.user", "alice", "POST", "/keys/query", `{"device_keys":{"{X}":[]}}`, inJSON},
	{"keys/query.device", "alice", "POST", "/keys/query", `{"device_keys":{"{user}":["{X}"]}}`, inJSON},
	{"keys/claim.device", "alice", "POST", "/keys/claim", `{"one_time_keys":{"{user}":{"{X}":"signed_curve25519"}}}`, inJSON},
	{"keys/claim.algorithm", "alice", "POST", "/keys/claim", `{"one_time_keys":{"{user}":{"{dev}":"{X}"}}}`, inJSON},
	{"pushrules.actions", "alice", "PUT", "/pushrules/global/room/{room}", `{"actions":["{X}"]}`, inJSON},
	{"shared_secret.nonce", "anon", "POST", "/_synapse/admin/v1/register", `{"nonce":"{X}","username":"u","password":"p","mac":"00"}`, inJSON},

	// Content kept as JSON text.
	{"send.content", "alice", "PUT", "/rooms/{room}/send/m.room.message/{txn}", `{"msgtype":"m.text","body":"{X}"}`, inContent},
	{"send.content.key", "alice", "PUT", "/rooms/{room}/send/m.room.message/{txn}", `{"{X}":1}`, inContent},
	{"state.name", "alice", "PUT", "/rooms/{room}/state/m.room.name/", `{"name":"{X}"}`, inContent},
	{"state.membership", "alice", "PUT", "/rooms/{room}/state/m.room.member/{user}", `{"membership":"{X}"}`, inContent},
	{"state.canonical_alias", "alice", "PUT", "/rooms/{room}/state/m.room.canonical_alias/", `{"alias":"{X}"}`, inContent},
	{"accountData.content", "alice", "PUT", "/user/{user}/account_data/m.x", `{"k":"{X}"}`, inContent},
	{"createRoom.initial_state.content", "alice", "POST", "/createRoom", `{"initial_state":[{"type":"m.x","state_key":"","content":{"k":"{X}"}}]}`, inContent},
	{"createRoom.creation_content", "alice", "POST", "/createRoom", `{"creation_content":{"k":"{X}"}}`, inContent},
	{"keys/upload.device_keys.user_id", "alice", "POST", "/keys/upload", `{"device_keys":{"user_id":"{X}","device_id":"{dev}","algorithms":[],"keys":{},"signatures":{}}}`, inContent},
	{"keys/upload.device_keys.keys", "alice", "POST", "/keys/upload", `{"device_keys":{"user_id":"{user}","device_id":"{dev}","algorithms":["{X}"],"keys":{"ed25519:{dev}":"{X}"},"signatures":{}}}`, inContent},
	{"keys/upload.fallback_keys", "alice", "POST", "/keys/upload", `{"fallback_keys":{"signed_curve25519:AAAA":{"key":"{X}","fallback":true,"signatures":{}}}}`, inContent},
	{"pushrules.pattern", "alice", "PUT", "/pushrules/global/content/r1", `{"pattern":"{X}","actions":["notify"]}`, inContent},
	{"pushrules.conditions", "alice", "PUT", "/pushrules/global/override/r2", `{"conditions":[{"kind":"event_match","key":"content.body","pattern":"{X}"}],"actions":["notify"]}`, inContent},
}

type answer struct {
	Status  int
	Errcode string
}

// Bad text (NUL, invalid UTF-8, lone surrogates, over-long values) in every
// path parameter, query parameter and JSON string field of the client API
// is refused at the edge with a Matrix error, the same on SQLite and
// PostgreSQL: PostgreSQL cannot hold NUL or invalid UTF-8 in text, and
// SQLite must not quietly accept what PostgreSQL refuses, nor rewrite it.
func TestClientAPI_BadTextIsRefusedAlikeOnBothBackends(t *testing.T) {
	answers := map[string]map[string]answer{} // backend → case/value → answer
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := servertest.Start(t, db, servertest.Options{})
		got := map[string]answer{}
		answers[db.Dialect().String()] = got
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		eventID := alice.SendText(roomID, "hi")
		clients := map[string]*servertest.Client{"alice": alice, "bob": bob, "anon": s.Anonymous()}
		txn := 0
		for _, c := range badTextCases {
			for _, v := range badValues {
				key := c.name + "/" + v.name
				path := strings.NewReplacer("{room}", url.PathEscape(roomID), "{event}", url.PathEscape(eventID),
					"{user}", url.PathEscape(alice.UserID), "{dev}", url.PathEscape(alice.DeviceID),
					"{txn}", fmt.Sprint("txn", txn)).Replace(c.path)
				txn++
				body := strings.NewReplacer("{room}", roomID, "{user}", alice.UserID, "{dev}", alice.DeviceID).Replace(c.body)
				switch c.at {
				case inPath:
					path = strings.ReplaceAll(path, "{X}", url.PathEscape(v.raw))
				case inQuery:
					path = strings.ReplaceAll(path, "{X}", url.QueryEscape(v.raw))
				default:
					body = strings.ReplaceAll(body, "{X}", v.json)
				}
				if !strings.HasPrefix(path, "/_") {
					path = "/_matrix/client/v3" + path
				}
				var b any
				if body != "" {
					b = body
				}
				status, raw := clients[c.who].Do(c.method, path, b, nil)
				a := answer{status, servertest.Errcode(raw)}
				got[key] = a
				if status >= 500 {
					t.Errorf("%s: %d %s", key, status, raw)
					continue
				}
				if want, ok := wantForBadText(c.at, v.name); ok && a != want {
					t.Errorf("%s: got %d %s, want %d %s (%s)", key, a.Status, a.Errcode, want.Status, want.Errcode, raw)
				}
			}
		}
	})
	sq, pg := answers["sqlite"], answers["postgres"]
	if sq == nil || pg == nil {
		return
	}
	var keys []string
	for k := range sq {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sq[k] != pg[k] {
			t.Errorf("%s: SQLite answers %+v, PostgreSQL %+v", k, sq[k], pg[k])
		}
	}
}

// wantForBadText is the answer a bad value must get where it sits; false
// when any answer but a 5xx will do (long values, which some fields allow).
func wantForBadText(at where, value string) (answer, bool) {
	if value == "very-long" && at == inPath {
		return answer{http.StatusBadRequest, "M_INVALID_PARAM"}, true
	}
	if value == "long" || value == "very-long" {
		return answer{}, false
	}
	switch at {
	case inPath, inQuery:
		return answer{http.StatusBadRequest, "M_INVALID_PARAM"}, true
	case inJSON:
		if value == "nul" {
			return answer{http.StatusBadRequest, "M_BAD_JSON"}, true
		}
	case inContent:
		if value == "nul" {
			return answer{}, false
		}
	}
	return answer{http.StatusBadRequest, "M_NOT_JSON"}, true
}

// A User-Agent is informational: bytes that are not UTF-8 (which HTTP
// allows in a header) are replaced, not stored raw (PostgreSQL would refuse
// them) nor a reason to refuse the login. A token that is not UTF-8 is just
// an unknown token.
func TestClientAPI_UserAgentNotUTF8IsCleanedNotStoredRaw(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		s.Register("alice")
		const ua = "Client\xff/1.0"
		do := func(method, path, body string, headers ...string) (int, []byte) {
			t.Helper()
			req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw
		}
		status, raw := do("POST", "/_matrix/client/v3/login",
			`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery staple"}`,
			"User-Agent", ua)
		if status != http.StatusOK {
			t.Fatalf("login with a non-UTF-8 User-Agent: %d %s", status, raw)
		}
		var login struct {
			UserID      string `json:"user_id"`
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(raw, &login); err != nil {
			t.Fatal(err)
		}
		var whois struct {
			Devices map[string]struct {
				Sessions []struct {
					Connections []struct {
						UserAgent string `json:"user_agent"`
					} `json:"connections"`
				} `json:"sessions"`
			} `json:"devices"`
		}
		status, raw = do("GET", "/_matrix/client/v3/admin/whois/"+url.PathEscape(login.UserID), "",
			"Authorization", "Bearer "+login.AccessToken, "User-Agent", ua)
		if status != http.StatusOK {
			t.Fatalf("whois: %d %s", status, raw)
		}
		if err := json.Unmarshal(raw, &whois); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range whois.Devices {
			for _, sess := range d.Sessions {
				for _, conn := range sess.Connections {
					found = found || conn.UserAgent == "Client\uFFFD/1.0"
				}
			}
		}
		if !found {
			t.Errorf("no connection with the cleaned User-Agent: %s", raw)
		}

		status, raw = do("GET", "/_matrix/client/v3/account/whoami", "", "Authorization", "Bearer tok\xff\xfe")
		if status != http.StatusUnauthorized || servertest.Errcode(raw) != "M_UNKNOWN_TOKEN" {
			t.Errorf("non-UTF-8 token: %d %s, want 401 M_UNKNOWN_TOKEN", status, raw)
		}
	})
}
