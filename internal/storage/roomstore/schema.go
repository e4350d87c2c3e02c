package roomstore

import "github.com/myelin-chat/myelin/internal/storage/sqldb"

// migrations of the "rooms" domain. Released migrations are never edited.
var migrations = []sqldb.Migration{{
	Version: 1,
	Name:    "rooms, events, state snapshots, current state, memberships, aliases",
	SQL: `
CREATE TABLE rooms (
	room_id          TEXT PRIMARY KEY,
	room_version     TEXT NOT NULL,
	created_ts       BIGINT NOT NULL,
	current_snapshot BIGINT NOT NULL DEFAULT 0,
	is_public        BOOLEAN NOT NULL DEFAULT FALSE
);

-- Every event we hold. stream_pos orders the timeline and sync: positive
-- for live events, NULL for outliers (known, but not in the timeline).
CREATE TABLE events (
	event_nid        {{serial_pk}},
	event_id         TEXT NOT NULL UNIQUE,
	room_id          TEXT NOT NULL,
	stream_pos       BIGINT UNIQUE,
	depth            BIGINT NOT NULL,
	type             TEXT NOT NULL,
	state_key        TEXT,
	sender           TEXT NOT NULL,
	origin_server_ts BIGINT NOT NULL,
	pdu              TEXT NOT NULL,
	rejected         BOOLEAN NOT NULL DEFAULT FALSE,
	soft_failed      BOOLEAN NOT NULL DEFAULT FALSE,
	state_before     BIGINT NOT NULL DEFAULT 0,
	redacted_by      TEXT,
	txn_device       TEXT,
	txn_id           TEXT
);
CREATE INDEX events_room_stream ON events (room_id, stream_pos);
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts);

-- Room state as content-addressed-by-id snapshots, each a delta over a
-- parent; an empty event_id removes a key. chain_len bounds read cost.
CREATE TABLE state_snapshots (
	snapshot_id {{serial_pk}},
	room_id     TEXT NOT NULL,
	parent_id   BIGINT NOT NULL DEFAULT 0,
	chain_len   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE state_snapshot_entries (
	snapshot_id BIGINT NOT NULL,
	type        TEXT NOT NULL,
	state_key   TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	PRIMARY KEY (snapshot_id, type, state_key)
);

-- The current state of each room, flat, for fast reads.
CREATE TABLE current_state (
	room_id    TEXT NOT NULL,
	type       TEXT NOT NULL,
	state_key  TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	membership TEXT,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_user_membership ON current_state (state_key, membership);

-- Membership history, so sync can tell which rooms a user was in at a position.
CREATE TABLE membership_log (
	event_id   TEXT PRIMARY KEY,
	room_id    TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	sender     TEXT NOT NULL,
	membership TEXT NOT NULL,
	stream_pos BIGINT NOT NULL
);
CREATE INDEX membership_log_user ON membership_log (user_id, stream_pos);

CREATE TABLE forward_extremities (
	room_id  TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (room_id, event_id)
);

CREATE TABLE txn_ids (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	txn_id    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE room_aliases (
	alias   TEXT PRIMARY KEY,
	room_id TEXT NOT NULL,
	creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

CREATE TABLE forgotten_rooms (
	user_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	PRIMARY KEY (user_id, room_id)
);
`,
}, {
	Version: 2,
	Name:    "state after each event, and outliers",
	// state_after is the snapshot of the state after a state event (0: same
	// as state_before), so an event's children find their state without
	// recomputing it; outlier marks events known only as auth or state of
	// others (no place in the timeline, no state of their own).
	SQL: `
ALTER TABLE events ADD COLUMN state_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN outlier BOOLEAN NOT NULL DEFAULT FALSE;
`,
}, {
	Version: 3,
	Name:    "federation outbox",
	// Local events bound for other servers are recorded in the transaction
	// that commits them and cleared once the federation sender has queued
	// them, so a crash between the two cannot leave an event unsent.
	SQL: `
CREATE TABLE federation_outbox (
	stream_pos BIGINT PRIMARY KEY,
	event_id   TEXT NOT NULL
);
`,
}, {
	Version: 4,
	Name:    "client transaction IDs scoped to the device and the endpoint",
	// A transaction ID is scoped to a device and an HTTP endpoint, and a
	// retransmission has the same path (client-server-api, "Transaction
	// identifiers"): the key names the room and what the path names after
	// it (the event type of /send, the event ID of /redact), so the same ID
	// in another room is a new request. txn_ids knew only the device and
	// told redactions apart by a "redact:" prefix, which also leaked into
	// unsigned.transaction_id. Rows carry over where the events table says
	// what their path was; a redaction whose target was redacted first by
	// another event cannot be placed and is dropped (a retry of it across
	// the upgrade makes a second, harmless redaction).
	SQL: `
CREATE TABLE client_txns (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	room_id   TEXT NOT NULL,
	endpoint  TEXT NOT NULL,
	target    TEXT NOT NULL,
	txn_id    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id, room_id, endpoint, target)
);
INSERT INTO client_txns (user_id, device_id, room_id, endpoint, target, txn_id, event_id)
	SELECT t.user_id, t.device_id, e.room_id, 'send', e.type, t.txn_id, t.event_id
	FROM txn_ids t JOIN events e ON e.event_id = t.event_id
	WHERE t.txn_id NOT LIKE 'redact:%';
INSERT INTO client_txns (user_id, device_id, room_id, endpoint, target, txn_id, event_id)
	SELECT t.user_id, t.device_id, e.room_id, 'redact', r.event_id, SUBSTR(t.txn_id, 8), t.event_id
	FROM txn_ids t JOIN events e ON e.event_id = t.event_id JOIN events r ON r.redacted_by = t.event_id
	WHERE t.txn_id LIKE 'redact:%';
UPDATE events SET txn_id = SUBSTR(txn_id, 8) WHERE type = 'm.room.redaction' AND txn_id LIKE 'redact:%';
DROP TABLE txn_ids;
`,
}, {
	Version: 5,
	Name:    "rooms blocked by a server admin",
	// Synapse's room block (its admin API's PUT /rooms/{roomId}/block): no
	// local user may join or be invited. A room need not be held to be
	// blocked, so this is a table of its own.
	SQL: `
CREATE TABLE blocked_rooms (
	room_id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL
);
`,
}, {
	Version: 6,
	Name:    "membership history by stream position",
	// Incremental syncs read the membership changes after their token
	// across all rooms (device lists: who newly shares a room with whom).
	SQL: `
CREATE INDEX membership_log_pos ON membership_log (stream_pos);
`,
}, {
	Version: 7,
	Name:    "events received after a gap in the room's history",
	// after_gap marks a received event some of whose prev events we could
	// not get (server-server-api "Retrieving missing events" gave up): the
	// timeline has a hole before it, so /sync answers limited there
	// (client-server-api, "Syncing": the client must page back to fill it).
	SQL: `
ALTER TABLE events ADD COLUMN after_gap BOOLEAN NOT NULL DEFAULT FALSE;
`,
}, {
	Version: 8,
	Name:    "redactions received before the events they redact",
	// A redaction can arrive before its target (over federation, or when
	// backfill brings the target later). It is kept here until the
	// target arrives and is then applied, if it may redact it
	// (any_sender: the redaction's sender had the power to redact
	// others' events; otherwise only events from its own server).
	SQL: `
CREATE TABLE pending_redactions (
	target_id    TEXT NOT NULL,
	redaction_id TEXT NOT NULL,
	room_id      TEXT NOT NULL,
	sender       TEXT NOT NULL,
	any_sender   BOOLEAN NOT NULL,
	PRIMARY KEY (target_id, redaction_id)
);
CREATE INDEX pending_redactions_room ON pending_redactions (room_id);
`,
}, {
	Version: 9,
	Name:    "rooms published in application services' network directories",
	// PUT /directory/list/appservice/{networkId}/{roomId}
	// (application-service-api.md): a room listed in one appservice's list
	// for one third-party network, apart from the main directory
	// (rooms.is_public); /publicRooms reads it by third_party_instance_id.
	SQL: `
CREATE TABLE appservice_room_list (
	appservice_id TEXT NOT NULL,
	network_id    TEXT NOT NULL,
	room_id       TEXT NOT NULL,
	PRIMARY KEY (appservice_id, network_id, room_id)
);
CREATE INDEX appservice_room_list_room ON appservice_room_list (room_id);
`,
}}
