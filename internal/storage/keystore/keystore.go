// Package keystore persists other servers' signing keys as fetched over
// federation (server-server API, "Retrieving server keys"), on SQLite or
// PostgreSQL through one set of queries (internal/storage/sqldb).
//
// Two tables:
//
//   - server_signing_keys: one row per (server, key ID) with the public key
//     and what bounds its validity: valid_until_ts and fetched_ts for a
//     current key (room versions 5+ cap validity at fetched_ts + 7 days,
//     so the fetch time must survive restarts), expired_ts for a key the
//     server listed under old_verify_keys;
//   - server_key_responses: the latest self-signed key response of each
//     server, which the notary API serves again.
//
// Timestamps are milliseconds since the epoch, passed in by the caller: the
// store never reads a clock.
package keystore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "serverkeys"

// ErrNotFound is returned by Response when nothing is stored.
var ErrNotFound = merr.ErrNotFound

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "server signing keys and key responses", SQL: `
CREATE TABLE server_signing_keys (
	server_name    TEXT     NOT NULL,
	key_id         TEXT     NOT NULL,
	public_key     {{bytes}} NOT NULL,
	-- valid_until_ts of the response that listed the key as current, or 0
	-- for a key only seen in old_verify_keys.
	valid_until_ts BIGINT   NOT NULL,
	-- expired_ts from old_verify_keys, or 0 for a current key.
	expired_ts     BIGINT   NOT NULL,
	fetched_ts     BIGINT   NOT NULL,
	-- The server we got the response from: the key's owner, or a notary.
	from_server    TEXT     NOT NULL,
	-- The last time for which the key is valid under the room v5+ rules,
	-- derived from the three timestamps above; a row is only replaced by
	-- one whose bound is at least as late (see Save).
	valid_bound_ts BIGINT   NOT NULL,
	PRIMARY KEY (server_name, key_id)
);

CREATE TABLE server_key_responses (
	server_name    TEXT   NOT NULL PRIMARY KEY,
	from_server    TEXT   NOT NULL,
	fetched_ts     BIGINT NOT NULL,
	valid_until_ts BIGINT NOT NULL,
	response       TEXT   NOT NULL
);
`},
}

// Key is one stored verify key.
type Key struct {
	ServerName string
	KeyID      signing.KeyID
	PublicKey  ed25519.PublicKey
	// ValidUntilTS is set for a key seen as current (verify_keys).
	ValidUntilTS int64
	// ExpiredTS is set for a key seen only as old (old_verify_keys).
	ExpiredTS  int64
	FetchedTS  int64
	FromServer string
}

// ValidBound is the last origin_server_ts for which the key may verify an
// event in a room version that enforces key validity (5+): expired_ts for
// an old key; for a current key the lesser of valid_until_ts and the fetch
// time plus 7 days, or valid_until_ts alone when the fetch time is unknown
// (rooms/fragments/v5-signing-requirements; signing.EffectiveValidUntil).
func (k Key) ValidBound() int64 {
	if k.ExpiredTS != 0 {
		return k.ExpiredTS
	}
	sk := signing.ServerKeys{ValidUntilTS: k.ValidUntilTS, FetchedTS: k.FetchedTS}
	return sk.EffectiveValidUntil()
}

// KeysOf lists the keys a verified response carries, stamped with its
// fetch time and source. A key listed both as current and as old is
// treated as current, as verify_keys is the stronger statement.
func KeysOf(r *signing.ServerKeys, fromServer string) []Key {
	out := make([]Key, 0, len(r.VerifyKeys)+len(r.OldVerifyKeys))
	for id, vk := range r.VerifyKeys {
		out = append(out, Key{ServerName: r.ServerName, KeyID: id, PublicKey: ed25519.PublicKey(vk.Key),
			ValidUntilTS: r.ValidUntilTS, FetchedTS: r.FetchedTS, FromServer: fromServer})
	}
	for id, ok := range r.OldVerifyKeys {
		if _, current := r.VerifyKeys[id]; current {
			continue
		}
		out = append(out, Key{ServerName: r.ServerName, KeyID: id, PublicKey: ed25519.PublicKey(ok.Key),
			ExpiredTS: ok.ExpiredTS, FetchedTS: r.FetchedTS, FromServer: fromServer})
	}
	return out
}

// Response is a stored key response.
type Response struct {
	ServerName   string
	FromServer   string
	FetchedTS    int64
	ValidUntilTS int64
	// JSON is the canonical response as the server signed it.
	JSON []byte
}

// Store is the server keys storage. It is safe for concurrent use.
type Store struct {
	db *sqldb.DB
}

// New runs the domain's migrations and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Save stores a verified response and its keys in one transaction.
//
// Each key row is replaced only when the new row's ValidBound is at least
// the stored one's, so validity never shrinks because a notary served an
// older copy; this matches Synapse, which uses the latest validity any
// source gave for a key. The response row is replaced only by a response
// fetched at the same time or later.
func (s *Store) Save(ctx context.Context, resp Response, keys []Key) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `
INSERT INTO server_signing_keys
	(server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts, from_server, valid_bound_ts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (server_name, key_id) DO UPDATE SET
	public_key = excluded.public_key, valid_until_ts = excluded.valid_until_ts,
	expired_ts = excluded.expired_ts, fetched_ts = excluded.fetched_ts,
	from_server = excluded.from_server, valid_bound_ts = excluded.valid_bound_ts
WHERE excluded.valid_bound_ts >= server_signing_keys.valid_bound_ts`,
				k.ServerName, string(k.KeyID), []byte(k.PublicKey), k.ValidUntilTS, k.ExpiredTS,
				k.FetchedTS, k.FromServer, k.ValidBound()); err != nil {
				return fmt.Errorf("keystore: save key %s of %s: %w", k.KeyID, k.ServerName, err)
			}
		}
		if resp.JSON == nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO server_key_responses (server_name, from_server, fetched_ts, valid_until_ts, response)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (server_name) DO UPDATE SET
	from_server = excluded.from_server, fetched_ts = excluded.fetched_ts,
	valid_until_ts = excluded.valid_until_ts, response = excluded.response
WHERE excluded.fetched_ts >= server_key_responses.fetched_ts`,
			resp.ServerName, resp.FromServer, resp.FetchedTS, resp.ValidUntilTS, string(resp.JSON))
		if err != nil {
			return fmt.Errorf("keystore: save response of %s: %w", resp.ServerName, err)
		}
		return nil
	})
}

// Keys returns every key stored for server, in key ID order; none is an
// empty slice, not an error.
func (s *Store) Keys(ctx context.Context, server string) ([]Key, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
SELECT key_id, public_key, valid_until_ts, expired_ts, fetched_ts, from_server
FROM server_signing_keys WHERE server_name = $1 ORDER BY key_id`, server)
	if err != nil {
		return nil, fmt.Errorf("keystore: keys of %s: %w", server, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k := Key{ServerName: server}
		var id string
		var pub []byte
		if err := rows.Scan(&id, &pub, &k.ValidUntilTS, &k.ExpiredTS, &k.FetchedTS, &k.FromServer); err != nil {
			return nil, fmt.Errorf("keystore: keys of %s: %w", server, err)
		}
		if len(pub) != ed25519.PublicKeySize {
			continue // cannot happen through Save; skip rather than panic later
		}
		k.KeyID, k.PublicKey = signing.KeyID(id), ed25519.PublicKey(pub)
		out = append(out, k)
	}
	return out, rows.Err()
}

// Response returns the latest stored response of server, or ErrNotFound.
func (s *Store) Response(ctx context.Context, server string) (*Response, error) {
	r := Response{ServerName: server}
	var body string
	err := s.db.Read.QueryRowContext(ctx, `
SELECT from_server, fetched_ts, valid_until_ts, response FROM server_key_responses WHERE server_name = $1`, server).
		Scan(&r.FromServer, &r.FetchedTS, &r.ValidUntilTS, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: response of %s: %w", server, err)
	}
	r.JSON = []byte(body)
	return &r, nil
}
