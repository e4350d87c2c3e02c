package event

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"

	"github.com/myelin-chat/myelin/internal/signing"
)

// KeyRing answers which public key a server used under a key ID, if that key
// is known and was valid for an event created at ts (the caller applies the
// room version's validity rules). The federation layer fetches keys first and
// then verifies with a KeyRing that only looks up.
type KeyRing interface {
	VerifyKey(server string, keyID signing.KeyID, ts int64) (ed25519.PublicKey, bool)
}

// RequiredSigners lists the servers whose signatures the event must carry
// (server-server-api.md, "Validating hashes and signatures on received
// events"):
//   - the sender's server;
//   - in room v1/v2, the server of the event_id too;
//   - for an m.room.member join with join_authorised_via_users_server (v8+),
//     that user's server (rooms/v8.md auth rule 4.2);
//   - for an invite that completes a third-party invite, the sender's
//     server if it signed the event, else the invitee's server: the
//     sender's server builds it when it answers
//     /exchange_third_party_invite (as Myelin and Synapse do), while
//     Synapse, when the invitee's server is already in the room, builds it
//     there in the sender's name ("send_on_behalf_of") and signs only as
//     the invitee's server. Synapse requires neither signature for such an
//     invite; requiring one of the two keeps the event attributable, and
//     the identity server's signature in content.third_party_invite.signed
//     (auth rules, "If membership is invite and content contains a
//     third_party_invite property") is what authorises it.
func (e *Event) RequiredSigners() []string {
	servers := map[string]bool{}
	senderServer := domain(e.Sender())
	if e.Type() == TypeMember && e.Membership() == Invite {
		if mxid, ok := stringAt(e.content, "third_party_invite", "signed", "mxid"); ok && mxid != "" {
			if _, signed := e.Signatures()[senderServer]; !signed {
				senderServer = domain(mxid)
			}
		}
	}
	servers[senderServer] = true
	if !e.version.EventIDsAreHashes() {
		servers[domain(e.EventID())] = true
	}
	if via := e.JoinAuthorisedVia(); via != "" {
		servers[domain(via)] = true
	}
	out := make([]string, 0, len(servers))
	for s := range servers {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// JoinAuthorisedVia returns content.join_authorised_via_users_server of a
// join in a room version with restricted joins, else "".
func (e *Event) JoinAuthorisedVia() string {
	if e.Type() != TypeMember || !e.version.RestrictedJoins {
		return ""
	}
	via, _ := stringAt(e.content, "join_authorised_via_users_server")
	return via
}

// Signatures returns the event's signatures: server → key ID → signature.
func (e *Event) Signatures() map[string]map[signing.KeyID]string {
	sigs, _ := signing.Signatures(e.json)
	return sigs
}

// VerifySignatures checks that every required server signed the redacted
// event with a key the ring knows, and that no known key's signature is bad.
// Signatures under unknown or expired keys are skipped, as the spec says.
func (e *Event) VerifySignatures(keys KeyRing) error {
	obj, err := parseObject(e.json)
	if err != nil {
		return err
	}
	redacted := redactObject(obj, e.version).encode()
	sigs := e.Signatures()
	for _, server := range e.RequiredSigners() {
		verified := false
		for keyID := range sigs[server] {
			pub, ok := keys.VerifyKey(server, keyID, e.ts)
			if !ok {
				continue
			}
			if err := signing.VerifyJSON(redacted, server, keyID, pub); err != nil {
				return fmt.Errorf("%w: %s key %s: %v", ErrBadSignature, server, keyID, err)
			}
			verified = true
		}
		if !verified {
			return fmt.Errorf("%w: no valid signature from %s", ErrBadSignature, server)
		}
	}
	return nil
}

// domain returns the server part of a user, room (pre-v12) or event (v1/v2)
// ID: everything after the first colon.
func domain(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}
