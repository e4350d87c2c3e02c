package tpinvite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// server-server-api "Third-party invites": the inviter's server answers
// /exchange_third_party_invite only for an m.room.member invite of the
// requesting server's user, in the room of the path, from the user of
// ours who sent the m.room.third_party_invite the token names, with a
// signed object the identity server signed with one of that event's keys.
// Everything else is refused before anything is built or sent.
func TestExchange_RefusesWhatItMustNotBuild(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		eng := roomstest.NewEngine(t, db, "hs1")
		s := &Service{Engine: eng}
		const alice, carol, bob = "@alice:hs1", "@carol:hs1", "@bob:hs3"
		room := roomstest.PublicRoom(t, eng, alice, carol)
		isPub, isKey, _ := ed25519.GenerateKey(rand.Reader)
		token := "tok"
		// No key_validity_url: the key is valid indefinitely (the spec's
		// public_keys[].key_validity_url), so no identity server is asked.
		tpi := &event.Builder{Type: event.TypeThirdPartyInvite, StateKey: &token, Sender: alice, Content: rooms.Content(map[string]any{
			"display_name": "b...", "public_keys": []map[string]string{{"public_key": base64.RawStdEncoding.EncodeToString(isPub)}}})}
		if _, err := eng.Send(ctx, room, tpi, nil); err != nil {
			t.Fatal(err)
		}
		sign := func(key ed25519.PrivateKey, mxid, tok string) json.RawMessage {
			raw, _ := json.Marshal(map[string]string{"mxid": mxid, "token": tok})
			out, err := signing.SignJSON(raw, "id.example.org", signing.SigningKey{ID: "ed25519:0", Private: key})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		partial := func(typ, roomID, sender, target string, signed json.RawMessage) json.RawMessage {
			raw, _ := json.Marshal(map[string]any{"type": typ, "room_id": roomID, "sender": sender, "state_key": target,
				"content": map[string]any{"membership": "invite", "third_party_invite": map[string]any{"display_name": "b...", "signed": signed}}})
			return raw
		}
		good := sign(isKey, bob, token)
		for _, c := range []struct {
			name, origin string
			body         json.RawMessage
			code         string
		}{
			{"not a member event", "hs3", partial("m.room.message", room, alice, bob, good), merr.CodeInvalidParam},
			{"another room than the path's", "hs3", partial(event.TypeMember, "!other:hs1", alice, bob, good), merr.CodeInvalidParam},
			{"an inviter of another server", "hs3", partial(event.TypeMember, room, "@mallory:hs2", bob, good), merr.CodeForbidden},
			{"an invitee of another server than the requester", "hs4", partial(event.TypeMember, room, alice, bob, good), merr.CodeForbidden},
			{"signed for another user", "hs3", partial(event.TypeMember, room, alice, bob, sign(isKey, "@eve:hs3", token)), merr.CodeInvalidParam},
			{"a token no invite has", "hs3", partial(event.TypeMember, room, alice, bob, sign(isKey, bob, "nope")), merr.CodeForbidden},
			{"an inviter who did not send the invite", "hs3", partial(event.TypeMember, room, carol, bob, good), merr.CodeForbidden},
			{"a signature by another key", "hs3", partial(event.TypeMember, room, alice, bob, sign(otherKey, bob, token)), merr.CodeForbidden},
			{"not JSON", "hs3", json.RawMessage(`[`), merr.CodeBadJSON},
		} {
			err := s.Exchange(ctx, c.origin, room, c.body)
			if merr.CodeOf(err) != c.code {
				t.Errorf("%s: got %v, want %s", c.name, err, c.code)
			}
		}
		if ev, err := eng.State(ctx, room, event.TypeMember, bob); err == nil {
			t.Errorf("bob has a membership after refused exchanges: %s", ev.Content())
		}
	})
}
