package accounts

import "github.com/myelin-chat/myelin/internal/storage/sqldb"

// Domain is the schema_versions domain of this package's tables.
const Domain = "accounts"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "users, devices, tokens, account data, filters, threepids", SQL: `
CREATE TABLE users (
	user_id       TEXT PRIMARY KEY,
	password_hash TEXT,
	is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
	is_guest      BOOLEAN NOT NULL DEFAULT FALSE,
	deactivated   BOOLEAN NOT NULL DEFAULT FALSE,
	erased        BOOLEAN NOT NULL DEFAULT FALSE,
	user_type     TEXT,
	created_ts    BIGINT NOT NULL,
	displayname   TEXT,
	avatar_url    TEXT,
	consent_version TEXT
);

CREATE TABLE devices (
	user_id              TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	device_id            TEXT NOT NULL,
	display_name         TEXT,
	created_ts           BIGINT NOT NULL,
	last_seen_ts         BIGINT,
	last_seen_ip         TEXT,
	last_seen_user_agent TEXT,
	PRIMARY KEY (user_id, device_id)
);

-- A refresh token is replaced by next_token_id when used; the old one stays
-- valid until the new pair is used, so a client that lost the response can
-- retry (client-server-api, "Refreshing access tokens").
CREATE TABLE refresh_tokens (
	id                 {{serial_pk}},
	token_hash         {{bytes}} NOT NULL UNIQUE,
	user_id            TEXT NOT NULL,
	device_id          TEXT NOT NULL,
	created_ts         BIGINT NOT NULL,
	expires_ts         BIGINT,
	session_expires_ts BIGINT,
	next_token_id      BIGINT REFERENCES refresh_tokens (id) ON DELETE SET NULL,
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_token_id);

-- Deleting a device deletes its tokens, and deleting a refresh token deletes
-- the access tokens issued with it, through the foreign keys.
CREATE TABLE access_tokens (
	id               {{serial_pk}},
	token_hash       {{bytes}} NOT NULL UNIQUE,
	user_id          TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	device_id        TEXT,
	created_ts       BIGINT NOT NULL,
	expires_ts       BIGINT,
	last_used_ts     BIGINT,
	used             BOOLEAN NOT NULL DEFAULT FALSE,
	refresh_token_id BIGINT REFERENCES refresh_tokens (id) ON DELETE CASCADE,
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id);

CREATE TABLE account_data (
	user_id    TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	type       TEXT NOT NULL,
	content    TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_user_pos ON account_data (user_id, stream_pos);
CREATE INDEX account_data_pos ON account_data (stream_pos);

CREATE TABLE filters (
	id          {{serial_pk}},
	user_id     TEXT NOT NULL,
	filter_json TEXT NOT NULL
);
CREATE INDEX filters_user ON filters (user_id);

CREATE TABLE user_threepids (
	user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	medium       TEXT NOT NULL,
	address      TEXT NOT NULL,
	validated_at BIGINT NOT NULL,
	added_at     BIGINT NOT NULL,
	PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);
`},
	{Version: 2, Name: "locked users, registration tokens", SQL: `
-- Synapse's locked flag: the account keeps its data but cannot log in or use
-- its tokens until an admin unlocks it.
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;

-- Registration tokens (client-server-api "Token-authenticated
-- registration"; the admin API is Synapse's). completed counts the
-- registrations that used a token; pending ones are per process, with the
-- UIA sessions that hold them (see users.RegistrationTokens).
CREATE TABLE registration_tokens (
	token        TEXT PRIMARY KEY,
	uses_allowed BIGINT,
	completed    BIGINT NOT NULL DEFAULT 0,
	expiry_time  BIGINT
);
`},
	{Version: 3, Name: "rate-limit overrides", SQL: `
-- Synapse's override_ratelimit: a user's own rc_message rate and burst;
-- 0/0 exempts the user from every rate limit.
CREATE TABLE ratelimit_overrides (
	user_id             TEXT PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
	messages_per_second BIGINT NOT NULL,
	burst_count         BIGINT NOT NULL
);
`},
	{Version: 4, Name: "users registered by application services", SQL: `
-- Synapse's users.appservice_id: the application service that registered
-- the user in one of its exclusive namespaces (NULL for everyone else).
-- Such users are not counted as real users.
ALTER TABLE users ADD COLUMN appservice_id TEXT;
`},
	{Version: 5, Name: "shadow-banned users", SQL: `
-- Synapse's users.shadow_banned: the user's requests succeed but what they
-- send is not seen by anyone else (see clientapi's shadowban.go).
ALTER TABLE users ADD COLUMN shadow_banned BOOLEAN NOT NULL DEFAULT FALSE;
`},
	{Version: 6, Name: "profile fields beyond the display name and avatar", SQL: `
-- profile.yaml (spec v1.16, MSC4133): m.tz and custom fields, any JSON
-- value (value is its JSON text). displayname and avatar_url stay in users.
CREATE TABLE profile_fields (
	user_id TEXT NOT NULL,
	field   TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (user_id, field)
);
`},
	{Version: 7, Name: "user-interactive authentication sessions", SQL: `
-- UIA sessions (client-server-api "User-Interactive Authentication API"),
-- stored so that a client's next stage may reach any process. A session
-- serves one operation (method and path), one user ('' for registration)
-- and, once bound, one request body (body_hash: SHA-256 of its canonical
-- JSON without "auth"). completed is a JSON array of the stages done.
-- registration_token is the token whose pending use the session holds:
-- pending uses are counted from the unexpired rows, so they end with the
-- session. spent: the request the session authorised succeeded.
CREATE TABLE uia_sessions (
	session_id         TEXT PRIMARY KEY,
	operation          TEXT NOT NULL,
	user_id            TEXT NOT NULL,
	body_hash          {{bytes}},
	completed          TEXT NOT NULL DEFAULT '[]',
	registration_token TEXT,
	spent              BOOLEAN NOT NULL DEFAULT FALSE,
	email              TEXT,
	email_validated_ts BIGINT,
	created_ts         BIGINT NOT NULL,
	expires_ts         BIGINT NOT NULL
);
CREATE INDEX uia_sessions_expires ON uia_sessions (expires_ts);
CREATE INDEX uia_sessions_registration_token ON uia_sessions (registration_token) WHERE registration_token IS NOT NULL;
`},
	{Version: 8, Name: "suspended users", SQL: `
-- Synapse's users.suspended (client-server-api "Account suspension",
-- MSC3823): the user keeps logging in, reading and syncing, but may not
-- act on others (see clientapi's suspension.go).
ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
`},
}
