package rooms

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// client-server-api "Restricted rooms", "Conditions": only
// m.room_membership conditions with a room_id exist; anything else can
// never be met.
func TestAllowedRooms_OnlyRoomMembershipConditionsCount(t *testing.T) {
	for _, c := range []struct {
		name, content string
		want          []string
	}{
		{"spec example", `{"join_rule":"restricted","allow":[{"room_id":"!other:example.org","type":"m.room_membership"}]}`, []string{"!other:example.org"}},
		{"several, in order", `{"allow":[{"type":"m.room_membership","room_id":"!b:x"},{"type":"m.room_membership","room_id":"!a:x"}]}`, []string{"!b:x", "!a:x"}},
		{"unknown condition type", `{"allow":[{"type":"org.example.age","room_id":"!a:x"}]}`, nil},
		{"room_id not a string", `{"allow":[{"type":"m.room_membership","room_id":5}]}`, nil},
		{"missing room_id", `{"allow":[{"type":"m.room_membership"}]}`, nil},
		{"condition not an object", `{"allow":["!a:x",{"type":"m.room_membership","room_id":"!b:x"}]}`, []string{"!b:x"}},
		{"allow not a list", `{"allow":{"type":"m.room_membership","room_id":"!a:x"}}`, nil},
		{"no allow", `{"join_rule":"restricted"}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := AllowedRooms(json.RawMessage(c.content)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("AllowedRooms = %v, want %v", got, c.want)
			}
		})
	}
}

// server-server-api "Restricted rooms": met conditions let the join in;
// conditions the resident cannot check give M_UNABLE_TO_AUTHORISE_JOIN
// (400); failing all that it can check, or having none, gives 403.
func TestCheckAllowConditions_SpecOutcomes(t *testing.T) {
	known := RoomMembership{Known: true}
	joined := RoomMembership{Known: true, Joined: true}
	unknown := RoomMembership{}
	for _, c := range []struct {
		name    string
		allowed []string
		rooms   map[string]RoomMembership
		code    string // "" for allowed
	}{
		{"joined to the allowed room", []string{"!a"}, map[string]RoomMembership{"!a": joined}, ""},
		{"joined to any one of them", []string{"!a", "!b"}, map[string]RoomMembership{"!a": known, "!b": joined}, ""},
		{"joined where known beats an unknown room", []string{"!u", "!a"}, map[string]RoomMembership{"!u": unknown, "!a": joined}, ""},
		{"known rooms, not joined", []string{"!a", "!b"}, map[string]RoomMembership{"!a": known, "!b": known}, merr.CodeForbidden},
		{"no conditions", nil, nil, merr.CodeForbidden},
		{"an allowed room we are not in", []string{"!a", "!u"}, map[string]RoomMembership{"!a": known, "!u": unknown}, merr.CodeUnableToAuthoriseJoin},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckAllowConditions(c.allowed, func(r string) RoomMembership { return c.rooms[r] })
			if c.code == "" {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				return
			}
			if merr.CodeOf(err) != c.code {
				t.Fatalf("want %s, got %v", c.code, err)
			}
		})
	}
}

// rooms/v8 auth rule 4.3.4 (restricted join): the authorising user must be
// joined and reach the invite level; among several we take the most
// powerful, then the smallest user ID.
func TestChooseAuthoriser_NeedsInviteLevel(t *testing.T) {
	pl := &eventauth.PowerLevels{Invite: 50, UsersDefault: 0, Users: map[string]int64{
		"@mod:hs1": 50, "@admin:hs1": 100, "@peer:hs1": 100, "@user:hs1": 0}}
	for _, c := range []struct {
		name   string
		joined []string
		want   string
	}{
		{"highest level wins", []string{"@mod:hs1", "@admin:hs1", "@user:hs1"}, "@admin:hs1"},
		{"ties go to the smallest ID", []string{"@peer:hs1", "@admin:hs1"}, "@admin:hs1"},
		{"exactly the invite level suffices", []string{"@user:hs1", "@mod:hs1"}, "@mod:hs1"},
		{"nobody may invite", []string{"@user:hs1", "@other:hs1"}, ""},
		{"nobody joined", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ChooseAuthoriser(c.joined, pl); got != c.want {
				t.Errorf("ChooseAuthoriser = %q, want %q", got, c.want)
			}
		})
	}
	creators := &eventauth.PowerLevels{Invite: 50, Creators: map[string]bool{"@creator:hs1": true}, Users: map[string]int64{"@admin:hs1": 100}}
	if got := ChooseAuthoriser([]string{"@admin:hs1", "@creator:hs1"}, creators); got != "@creator:hs1" {
		t.Errorf("a v12 creator has infinite power; got %q", got)
	}
}

func joinRulesState(rule string, allowed ...string) StateInput {
	var allow []map[string]any
	for _, r := range allowed {
		allow = append(allow, map[string]any{"type": "m.room_membership", "room_id": r})
	}
	return StateInput{Type: event.TypeJoinRules, Content: Content(map[string]any{"join_rule": rule, "allow": allow})}
}

func sendJoin(ctx context.Context, e *Engine, roomID, user, via string) error {
	content := map[string]any{"membership": event.Join}
	if via != "" {
		content["join_authorised_via_users_server"] = via
	}
	b := &event.Builder{Type: event.TypeMember, StateKey: &user, Sender: user, Content: Content(content)}
	_, err := e.Send(ctx, roomID, b, nil)
	return err
}

// client-server-api "Restricted rooms": a local user joined to an allowed
// room joins, vouched for by a local user who may invite; others are
// refused; an invite needs no conditions.
func TestRestrictedJoin_LocalUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		space, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []roomversion.ID{"8", "10", "12"} {
			for _, rule := range []string{"restricted", "knock_restricted"} {
				if rule == "knock_restricted" && v == "8" {
					continue
				}
				t.Run("v"+string(v)+" "+rule, func(t *testing.T) {
					room, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: roomversion.MustGet(v),
						Preset: "private_chat", InitialState: []StateInput{joinRulesState(rule, space)}})
					if err != nil {
						t.Fatal(err)
					}
					bob, carol, dave := "@bob"+string(v)+rule+":hs1", "@carol:hs1", "@dave"+string(v)+rule+":hs1"
					if err := sendJoin(ctx, e, space, bob, ""); err != nil {
						t.Fatal(err)
					}
					via, err := e.RestrictedJoinAuthoriser(ctx, room, bob)
					if err != nil || via != "@alice:hs1" {
						t.Fatalf("bob (in the allowed room): via %q, %v; want @alice:hs1", via, err)
					}
					if err := sendJoin(ctx, e, room, bob, ""); err == nil {
						t.Fatal("a join without join_authorised_via_users_server was accepted")
					}
					if err := sendJoin(ctx, e, room, bob, via); err != nil {
						t.Fatalf("bob's authorised join: %v", err)
					}
					if via, err := e.RestrictedJoinAuthoriser(ctx, room, bob); err != nil || via != "" {
						t.Errorf("a joined user needs no authoriser: %q, %v", via, err)
					}
					if _, err := e.RestrictedJoinAuthoriser(ctx, room, carol); merr.CodeOf(err) != merr.CodeForbidden {
						t.Errorf("carol (not in the allowed room): want M_FORBIDDEN, got %v", err)
					}
					if _, err := e.Send(ctx, room, member("@alice:hs1", dave, event.Invite), nil); err != nil {
						t.Fatal(err)
					}
					if via, err := e.RestrictedJoinAuthoriser(ctx, room, dave); err != nil || via != "" {
						t.Errorf("an invited user needs no authoriser: %q, %v", via, err)
					}
				})
			}
		}
		// Before v8 "restricted" means nothing and never needs an authoriser.
		old, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: roomversion.MustGet("7"),
			Preset: "private_chat", InitialState: []StateInput{joinRulesState("restricted", space)}})
		if err != nil {
			t.Fatal(err)
		}
		if via, err := e.RestrictedJoinAuthoriser(ctx, old, "@bob8restricted:hs1"); err != nil || via != "" {
			t.Errorf("v7: %q, %v", via, err)
		}
	})
}

// server-server-api "Restricted rooms": with no local user able to invite,
// the resident answers M_UNABLE_TO_GRANT_JOIN.
func TestRestrictedJoin_NoLocalUserMayInvite(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		space, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		room, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: roomversion.MustGet("10"),
			Preset: "private_chat", InitialState: []StateInput{joinRulesState("restricted", space)},
			PowerLevelOverride: map[string]any{"invite": 101}})
		if err != nil {
			t.Fatal(err)
		}
		if err := sendJoin(ctx, e, space, "@bob:hs1", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.RestrictedJoinAuthoriser(ctx, room, "@bob:hs1"); merr.CodeOf(err) != merr.CodeUnableToGrantJoin {
			t.Fatalf("want %s, got %v", merr.CodeUnableToGrantJoin, err)
		}
	})
}

// server-server-api "Restricted rooms" and "Joining Rooms": hs1's make_join
// names its user in join_authorised_via_users_server, send_join adds hs1's
// signature, and the join is accepted on both servers. hs2's user outside
// the allowed room is refused, and a room allowing members of a room hs1
// is not in cannot be vouched for.
func TestRestrictedJoin_OverFederation(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1, hs2 := newFedServer(t, db, "hs1", 1), newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		space, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		room, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "private_chat",
			InitialState: []StateInput{joinRulesState("restricted", space)}})
		if err != nil {
			t.Fatal(err)
		}
		joinVia(t, hs2, hs1, space, "@bob:hs2")

		all := []string{"8", "9", "10", "11", "12"}
		tmpl, err := hs1.e.MakeMembership(ctx, room, "@bob:hs2", event.Join, all)
		if err != nil {
			t.Fatalf("make_join: %v", err)
		}
		content, _ := tmpl.Event["content"].(map[string]any)
		if content["join_authorised_via_users_server"] != "@alice:hs1" {
			t.Fatalf("template content %v lacks the authoriser", content)
		}
		v := roomversion.MustGet(roomversion.ID(tmpl.RoomVersion))
		raw, _ := json.Marshal(tmpl.Event)
		b, err := event.BuilderFromTemplate(raw, v)
		if err != nil {
			t.Fatal(err)
		}
		join, err := b.Build(v, "hs2", hs2.key)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := hs1.e.CountersignJoin(ctx, room, join)
		if err != nil {
			t.Fatalf("countersign: %v", err)
		}
		if len(signed.Signatures()["hs1"]) == 0 || len(signed.Signatures()["hs2"]) == 0 || signed.EventID() != join.EventID() {
			t.Fatalf("countersigned join: signatures %v, id %s vs %s", signed.Signatures(), signed.EventID(), join.EventID())
		}
		res, err := hs1.e.AcceptMembership(ctx, room, signed)
		if err != nil {
			t.Fatalf("send_join: %v", err)
		}
		if err := hs2.e.JoinRemoteRoom(ctx, v, res.Event, res.State, res.AuthChain); err != nil {
			t.Fatalf("hs2 persisting the join: %v", err)
		}
		for _, s := range []*fedServer{hs1, hs2} {
			if m, err := s.e.State(ctx, room, event.TypeMember, "@bob:hs2"); err != nil || m.Membership() != event.Join {
				t.Errorf("%s: bob's membership %v, %v", s.name, m, err)
			}
		}

		if _, err := hs1.e.MakeMembership(ctx, room, "@carol:hs2", event.Join, all); merr.CodeOf(err) != merr.CodeForbidden {
			t.Errorf("carol (not in the allowed room): want M_FORBIDDEN, got %v", err)
		}

		// A join naming hs1's user that hs1 would not vouch for is not signed.
		carol := "@carol:hs2"
		forged := &event.Builder{Type: event.TypeMember, StateKey: &carol, Sender: carol, RoomID: room,
			Content:    Content(map[string]any{"membership": "join", "join_authorised_via_users_server": "@alice:hs1"}),
			PrevEvents: b.PrevEvents, AuthEvents: b.AuthEvents, Depth: b.Depth, OriginServerTS: b.OriginServerTS}
		fj, err := forged.Build(v, "hs2", hs2.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hs1.e.CountersignJoin(ctx, room, fj); merr.CodeOf(err) != merr.CodeForbidden {
			t.Errorf("countersigning carol's join: want M_FORBIDDEN, got %v", err)
		}

		// hs2 holds a room hs1 is not in; a room on hs1 allowing its members
		// cannot be vouched for by hs1.
		elsewhere, err := hs2.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@bob:hs2", Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		far, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "private_chat",
			InitialState: []StateInput{joinRulesState("restricted", elsewhere)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hs1.e.MakeMembership(ctx, far, "@bob:hs2", event.Join, all); merr.CodeOf(err) != merr.CodeUnableToAuthoriseJoin {
			t.Errorf("allowed room unknown to hs1: want %s, got %v", merr.CodeUnableToAuthoriseJoin, err)
		}
	})
}

// When no user of ours may vouch for a join, it can be made through another
// server with a joined member at the invite level (as Synapse does).
func TestAuthorisingServers_OtherServersWithInvitePower(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		room, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat",
			PowerLevelOverride: map[string]any{"users": map[string]any{"@mod:hs3": 50, "@left:hs4": 100}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"@user:hs2", "@mod:hs3", "@left:hs4"} {
			if err := sendJoin(ctx, e, room, u, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.Send(ctx, room, member("@left:hs4", "@left:hs4", event.Leave), nil); err != nil {
			t.Fatal(err)
		}
		got, err := e.AuthorisingServers(ctx, room)
		if err != nil || !reflect.DeepEqual(got, []string{"hs3"}) {
			t.Errorf("AuthorisingServers = %v, %v; want [hs3] (not ourselves, not a server without power, not one that left)", got, err)
		}
	})
}
