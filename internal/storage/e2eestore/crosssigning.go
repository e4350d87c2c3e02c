package e2eestore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// CrossSigningDomain is the schema_versions domain of the cross-signing
// tables (end_to_end_encryption.md "Cross-signing"):
//
//   - e2ee_cross_signing_keys: each user's master, self-signing and
//     user-signing keys as uploaded;
//   - e2ee_cross_signing_sigs: signatures uploaded through
//     /keys/signatures/upload, kept apart from the keys they sign because
//     who may see them depends on who made them: a user's devices signed
//     by their self-signing key and their master key signed by their
//     devices are public, another user's signature of a master key is
//     seen only by that user.
const CrossSigningDomain = "crosssigning"

var crossSigningMigrations = []sqldb.Migration{
	{Version: 1, Name: "cross-signing keys and signatures", SQL: `
CREATE TABLE e2ee_cross_signing_keys (
	user_id  TEXT NOT NULL,
	usage    TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, usage)
);

-- target_key is the device ID, or the master key's public key, signed.
CREATE TABLE e2ee_cross_signing_sigs (
	target_user TEXT NOT NULL,
	target_key  TEXT NOT NULL,
	signer_user TEXT NOT NULL,
	signer_key  TEXT NOT NULL,
	signature   TEXT NOT NULL,
	PRIMARY KEY (target_user, target_key, signer_user, signer_key)
);
`},
}

// Cross-signing key usages, as the keys' "usage" names them.
const (
	UsageMaster      = "master"
	UsageSelfSigning = "self_signing"
	UsageUserSigning = "user_signing"
)

// CrossSigningKeys returns the user's cross-signing keys by usage.
func (s *Store) CrossSigningKeys(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	return crossSigningKeys(ctx, s.db.Read, userID)
}

func crossSigningKeys(ctx context.Context, q querier, userID string) (map[string]json.RawMessage, error) {
	rows, err := q.QueryContext(ctx, `SELECT usage, key_json FROM e2ee_cross_signing_keys WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var usage, j string
		if err := rows.Scan(&usage, &j); err != nil {
			return nil, err
		}
		out[usage] = json.RawMessage(j)
	}
	return out, rows.Err()
}

// PutCrossSigningKeys replaces some of the user's cross-signing keys in
// one transaction. decide is called inside it with the stored keys and
// returns the keys to write by usage; its error aborts the change, so a
// key is always checked against the master key stored when it is written.
func (s *Store) PutCrossSigningKeys(ctx context.Context, userID string, decide func(stored map[string]json.RawMessage) (map[string]json.RawMessage, error)) (map[string]json.RawMessage, error) {
	var written map[string]json.RawMessage
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// Lock the user's keys (PostgreSQL) so that two uploads cannot
		// each check against a master key the other replaces. (Two first
		// uploads at once lock nothing; the last one wins, as in Synapse.)
		if _, err := tx.ExecContext(ctx, s.db.Expand(`SELECT usage FROM e2ee_cross_signing_keys WHERE user_id = $1 {{for_update}}`), userID); err != nil {
			return err
		}
		stored, err := crossSigningKeys(ctx, tx, userID)
		if err != nil {
			return err
		}
		if written, err = decide(stored); err != nil {
			return err
		}
		for usage, key := range written {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_cross_signing_keys (user_id, usage, key_json) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, usage) DO UPDATE SET key_json = excluded.key_json`, userID, usage, string(key)); err != nil {
				return err
			}
		}
		return nil
	})
	return written, err
}

// Signature is one signature of a device or master key made through
// /keys/signatures/upload.
type Signature struct {
	TargetUser string
	// TargetKey is the device ID, or the master key's public key.
	TargetKey  string
	SignerUser string
	// SignerKey is the signing key's ID, "ed25519:<device ID or public key>".
	SignerKey string
	Signature string
}

// AddSignatures stores signatures; one already stored for the same target
// and signing key is replaced.
func (s *Store) AddSignatures(ctx context.Context, sigs []Signature) error {
	if len(sigs) == 0 {
		return nil
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, g := range sigs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_cross_signing_sigs (target_user, target_key, signer_user, signer_key, signature)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (target_user, target_key, signer_user, signer_key) DO UPDATE SET signature = excluded.signature`,
				g.TargetUser, g.TargetKey, g.SignerUser, g.SignerKey, g.Signature); err != nil {
				return err
			}
		}
		return nil
	})
}

// SignaturesOf returns the stored signatures of the user's keys (devices
// and master key) made by any of signers.
func (s *Store) SignaturesOf(ctx context.Context, userID string, signers ...string) ([]Signature, error) {
	if len(signers) == 0 {
		return nil, nil
	}
	args := []any{userID}
	for _, sg := range signers {
		args = append(args, sg)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT target_key, signer_user, signer_key, signature FROM e2ee_cross_signing_sigs
		WHERE target_user = $1 AND signer_user IN (`+sqldb.Placeholders(2, len(signers))+`)
		ORDER BY target_key, signer_user, signer_key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Signature
	for rows.Next() {
		g := Signature{TargetUser: userID}
		if err := rows.Scan(&g.TargetKey, &g.SignerUser, &g.SignerKey, &g.Signature); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
