package clientapi

import (
	"maps"
	"net/http"
)

// specVersions are the client-server API versions advertised on
// /_matrix/client/versions (versions.yaml). Clients read this list as a
// promise: a listed version tells them its new endpoints exist, and they
// call them instead of older ones (Element and matrix-rust-sdk switch to
// authenticated media, /_matrix/client/v1/media/*, once v1.11 is listed;
// the thread list API, /_matrix/client/v1/rooms/{roomId}/threads, and
// private read receipts at v1.4). So only versions whose version-gated
// endpoints Myelin serves are listed:
//
//   - the r0 releases, for older clients that look for them before using
//     the r0 prefix, which Myelin still serves;
//   - v1.1: the v3 prefix, and /knock;
//   - v1.2: restricted joins (room versions 8+), is_guest on whoami;
//   - v1.3: relationships and their aggregation (/relations, bundled
//     aggregations), refresh tokens, /messages without from,
//     knock_restricted;
//   - v1.4: threads (m.thread, GET /threads, dir on /relations), edits
//     (m.replace), private and threaded read receipts with per-thread
//     notification counts, the room_types filter of /publicRooms with
//     room_type in its entries (MSC3827), the .m.rule.room.server_acl
//     push rule, CORP on media, room types kept across upgrades;
//   - v1.5: m.reference relations (bundled);
//   - v1.6: /v1/rooms/{roomId}/timestamp_to_event, M_UNRECOGNIZED with
//     404 and 405 for unknown endpoints and methods (MSC3743);
//   - v1.7: asynchronous uploads (/_matrix/media/v1/create), m.replace
//     bundled whole without touching the original (MSC3925), the
//     event_property_is/contains push conditions, m.mentions and its
//     push rules, transaction IDs scoped to the device (MSC3970);
//     allow_redirect (MSC3860) only permits a redirect, and
//     /login/get_token is optional (m.get_login_token says it is off);
//   - v1.8: reports only by members who can see the event;
//   - v1.9: the .m.rule.suppress_edits default push rule.
//   - v1.10: local erasure requests (erase on /account/deactivate: later
//     joiners get redacted copies), /.well-known/matrix/support (from
//     admin_contact), recursion on /relations, Retry-After on 429,
//     /versions answering with or without a token;
//   - v1.11: authenticated media (/_matrix/client/v1/media/* and the
//     federation media endpoints, with the freeze), the animated
//     thumbnail parameter, no UIA on the first cross-signing upload
//     (MSC3967), unsigned.membership (MSC4115);
//   - v1.12: via on /join and /knock (MSC4156), account locking
//     (M_USER_LOCKED, MSC3939), guests reading authenticated media
//     (MSC4189), inline and attachment Content-Disposition by type
//     (MSC2701/MSC2702), the m.get_login_token capability.
//   - v1.13: POST /rooms/{roomId}/report, M_THREEPID_MEDIUM_NOT_SUPPORTED
//     and the other requestToken errors (MSC4178), one-time keys claimed
//     in upload order (MSC4225), account suspension
//     (M_USER_SUSPENDED, MSC3823: clientapi/suspension.go);
//   - v1.14: POST /users/{userId}/report, /join and /knock with via;
//   - v1.15: /v1/room_summary, the hierarchy's allowed_room_ids,
//     encryption and room_version, the m.topic block written and searched;
//     /v1/auth_metadata answers 404 M_UNRECOGNIZED, as the spec asks of a
//     server without the OAuth 2.0 API;
//   - v1.16: the profile field endpoints with m.tz and custom fields
//     (MSC4133), also asked of other servers' users, format=event
//     on GET /state, use_state_after, room version 12, m.room.create in
//     invite and knock state, whole events in invite_room_state over
//     federation (MSC4311);
//   - v1.17: application services managing their users' devices
//     (MSC4190) and acting as a device (MSC4326), no legacy mention push
//     rules (MSC4210).
//   - v1.18: the suspension and locking admin endpoints with the
//     m.account_moderation capability (MSC4323), the
//     m.forget_forced_upon_leave capability (forget_rooms_on_leave,
//     MSC4267), redactions through /send (MSC4169), invite blocking
//     (MSC4380), Policy Servers (MSC4284: local events signed by the
//     room's Policy Server before they are stored, received ones without
//     its signature soft-failed). Its OAuth 2.0 additions (MSC4191,
//     MSC3824, MSC4341) concern servers that offer the OAuth 2.0 API,
//     which Myelin does not (see v1.15); M_USER_LIMIT_EXCEEDED concerns
//     per-user quotas, which Myelin does not have.
//   - v1.19: GET /v1/mutual_rooms (MSC2666), unsigned.replaces_state,
//     server ACLs matched case-insensitively (MSC4436), the Policy
//     Server's signature kept beside the origin's when they share a name;
//     its other additions (image packs, m.key_backup account data,
//     encrypted history sharing) are between clients.
//
// Later versions stay off the list until every feature they bring is
// served; the stable flags below announce features to clients that look
// for the flag rather than the version.
var specVersions = []string{
	"r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
	"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9",
	"v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17",
	"v1.18", "v1.19",
}

// unstableFeatures are the flags clients check, before a spec version that
// holds the feature is listed, to learn that the server has it. Each is
// the stable flag of a feature now in the spec, for a capability Myelin
// serves whole; none announces anything ahead of the spec (those that do
// are switched: switchedFeatures).
var unstableFeatures = map[string]bool{
	// Authenticated media (MSC3916, spec v1.11): /_matrix/client/v1/media/*
	// downloads, thumbnails, config and previews, and the federation media
	// endpoints. Clients (Element, matrix-rust-sdk) switch to the
	// authenticated endpoints on this flag or on v1.11; v1.11 cannot be
	// listed yet (see above), and without either they would ask the
	// unauthenticated endpoints, which refuse media uploaded since the
	// freeze (enable_authenticated_media).
	"org.matrix.msc3916.stable": true,
	// Private read receipts (MSC2285, spec v1.4): m.read.private.
	"org.matrix.msc2285.stable": true,
	// Threads (spec v1.4): m.thread relations with their bundled
	// aggregation (MSC3440), the thread list, GET /threads (MSC3856), and
	// dir on /relations (MSC3715). matrix-js-sdk uses the server's threads
	// on these flags or on v1.4.
	"org.matrix.msc3440.stable": true,
	"org.matrix.msc3856.stable": true,
	"org.matrix.msc3715.stable": true,
	// Cross-signing (/keys/device_signing/upload, /keys/signatures/upload,
	// the keys in /keys/query), which older clients look for by this flag;
	// Synapse announces it too.
	"org.matrix.e2e_cross_signing": true,
}

// docs/spec-coverage.md lists what these promise; keep the two in step.

// switchedFeatures are unstable features announced ahead of the spec,
// each behind its experimental_features switch, as Synapse announces them.
func (a *AccountAPI) switchedFeatures() map[string]bool {
	if !a.opts.Dehydration {
		return unstableFeatures
	}
	out := maps.Clone(unstableFeatures)
	// Dehydrated devices (MSC3814): matrix-js-sdk's Rust crypto asks for
	// them when this is listed (experimental_features.msc3814_enabled).
	out["org.matrix.msc3814"] = true
	return out
}

// versions is GET /_matrix/client/versions. It needs no authentication and
// gives everyone the same answer.
func (a *AccountAPI) versions(w http.ResponseWriter, r *http.Request) {
	writeAccountJSON(w, map[string]any{
		"versions":          specVersions,
		"unstable_features": a.switchedFeatures(),
	})
}
