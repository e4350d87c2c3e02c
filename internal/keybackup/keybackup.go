// Package keybackup is server-side key backup (client-server-api
// "Server-side key backups"): users keep encrypted copies of their megolm
// session keys in versioned backups, so that a new device can read old
// history without another device online. The server never sees the keys;
// it keeps the best copy of each session as the spec's replace rule says.
package keybackup

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
)

// Bounds. A session key's session_data is a few hundred bytes
// (end_to_end_encryption.md "Backup algorithm"); a heavy user has some
// hundred thousand sessions.
const (
	// MaxAuthData bounds a version's auth_data.
	MaxAuthData = 64 << 10
	// MaxSessionData bounds one key's session_data.
	MaxSessionData = 16 << 10
	// MaxKeysPerRequest bounds the keys of one upload.
	MaxKeysPerRequest = 10_000
	// MaxKeysPerVersion bounds the keys stored in one version.
	MaxKeysPerVersion = 500_000
	// MaxLiveVersions bounds the versions a user keeps at once; clients
	// delete the old one when they make a new backup.
	MaxLiveVersions = 100
	// maxIDLen bounds room and session IDs and algorithm names.
	maxIDLen = 255
)

// Service is the key backup domain. Safe for concurrent use.
type Service struct {
	store *keybackupstore.Store
}

// New returns the service over store.
func New(store *keybackupstore.Store) *Service { return &Service{store: store} }

// VersionInfo is a backup version as GET /room_keys/version answers it.
type VersionInfo struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int             `json:"count"`
	Etag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// checkVersionBody checks a version's algorithm and auth_data.
func checkVersionBody(algorithm string, authData json.RawMessage) (json.RawMessage, error) {
	if algorithm == "" {
		return nil, merr.MissingParam("algorithm is required")
	}
	if len(algorithm) > maxIDLen {
		return nil, merr.InvalidParam("algorithm is too long")
	}
	if len(authData) == 0 || string(authData) == "null" {
		return nil, merr.MissingParam("auth_data is required")
	}
	if len(authData) > MaxAuthData {
		return nil, merr.TooLarge("auth_data is too large")
	}
	c, err := canonicaljson.Canonicalize(authData, canonicaljson.LenientOptions)
	if err != nil || c[0] != '{' {
		return nil, merr.BadJSON("auth_data must be a JSON object")
	}
	return c, nil
}

// CreateVersion makes a new backup version, which becomes the current one,
// and returns its version string. The algorithm is not checked against a
// list: the backup's content is the clients' business, and Synapse stores
// any.
func (s *Service) CreateVersion(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error) {
	c, err := checkVersionBody(algorithm, authData)
	if err != nil {
		return "", err
	}
	return s.store.CreateVersion(ctx, userID, algorithm, c, MaxLiveVersions)
}

// Version returns a version, or with version "" the current one
// (404 M_NOT_FOUND when there is none).
func (s *Service) Version(ctx context.Context, userID, version string) (*VersionInfo, error) {
	v, err := s.store.GetVersion(ctx, userID, version)
	if err != nil {
		return nil, err
	}
	return &VersionInfo{Algorithm: v.Algorithm, AuthData: v.AuthData, Count: v.Count, Etag: v.Etag, Version: v.Version}, nil
}

// UpdateVersion replaces a version's auth_data. bodyVersion is the body's
// optional "version", which must match the path's.
func (s *Service) UpdateVersion(ctx context.Context, userID, version, bodyVersion, algorithm string, authData json.RawMessage) error {
	if bodyVersion != "" && bodyVersion != version {
		return merr.InvalidParam("version in body does not match")
	}
	c, err := checkVersionBody(algorithm, authData)
	if err != nil {
		return err
	}
	return s.store.UpdateVersion(ctx, userID, version, algorithm, c)
}

// DeleteVersion deletes a version and its keys; deleting it again
// succeeds.
func (s *Service) DeleteVersion(ctx context.Context, userID, version string) error {
	return s.store.DeleteVersion(ctx, userID, version)
}

// KeyData is a backed-up key as uploaded (definitions/key_backup_data.yaml);
// pointers tell a missing field from a zero one.
type KeyData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// Rooms is the body of PUT /room_keys/keys and the answer of its GET:
// room ID → its sessions.
type Rooms struct {
	Rooms map[string]RoomSessions `json:"rooms"`
}

// RoomSessions is a room's keys: session ID → key
// (definitions/room_key_backup.yaml).
type RoomSessions struct {
	Sessions map[string]KeyData `json:"sessions"`
}

// Counts is the answer of a key upload or deletion.
type Counts struct {
	Etag  string `json:"etag"`
	Count int    `json:"count"`
}

// PutKeys stores keys in the current version, which version must name.
func (s *Service) PutKeys(ctx context.Context, userID, version string, rooms map[string]RoomSessions) (*Counts, error) {
	if version == "" {
		return nil, merr.MissingParam("version is required")
	}
	var keys []keybackupstore.SessionKey
	for roomID, room := range rooms {
		if err := checkRoomID(roomID); err != nil {
			return nil, err
		}
		for sessionID, kd := range room.Sessions {
			if len(keys) == MaxKeysPerRequest {
				return nil, merr.InvalidParam(fmt.Sprintf("at most %d keys per request", MaxKeysPerRequest))
			}
			k, err := checkKey(roomID, sessionID, kd)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	etag, count, err := s.store.PutKeys(ctx, userID, version, keybackupstore.Put{Keys: keys, Replaces: Replaces, MaxKeys: MaxKeysPerVersion})
	if err != nil {
		return nil, err
	}
	return &Counts{Etag: etag, Count: count}, nil
}

func checkRoomID(roomID string) error {
	if len(roomID) > maxIDLen || !ids.ValidRoomID(roomID) {
		return merr.InvalidParam(fmt.Sprintf("invalid room ID %q", roomID))
	}
	return nil
}

func checkSessionID(sessionID string) error {
	if sessionID == "" || len(sessionID) > maxIDLen {
		return merr.InvalidParam("invalid session ID")
	}
	return nil
}

// checkKey checks one uploaded key.
func checkKey(roomID, sessionID string, kd KeyData) (keybackupstore.SessionKey, error) {
	if err := checkSessionID(sessionID); err != nil {
		return keybackupstore.SessionKey{}, err
	}
	switch {
	case kd.FirstMessageIndex == nil:
		return keybackupstore.SessionKey{}, merr.MissingParam("first_message_index is required")
	case kd.ForwardedCount == nil:
		return keybackupstore.SessionKey{}, merr.MissingParam("forwarded_count is required")
	case kd.IsVerified == nil:
		return keybackupstore.SessionKey{}, merr.MissingParam("is_verified is required")
	case len(kd.SessionData) == 0 || string(kd.SessionData) == "null":
		return keybackupstore.SessionKey{}, merr.MissingParam("session_data is required")
	case *kd.FirstMessageIndex < 0 || *kd.ForwardedCount < 0:
		return keybackupstore.SessionKey{}, merr.InvalidParam("first_message_index and forwarded_count cannot be negative")
	case len(kd.SessionData) > MaxSessionData:
		return keybackupstore.SessionKey{}, merr.TooLarge("session_data is too large")
	}
	data, err := canonicaljson.Canonicalize(kd.SessionData, canonicaljson.LenientOptions)
	if err != nil || data[0] != '{' {
		return keybackupstore.SessionKey{}, merr.BadJSON("session_data must be a JSON object")
	}
	return keybackupstore.SessionKey{RoomID: roomID, SessionID: sessionID, FirstMessageIndex: *kd.FirstMessageIndex,
		ForwardedCount: *kd.ForwardedCount, IsVerified: *kd.IsVerified, SessionData: data}, nil
}

// Replaces is the spec's rule for a key uploaded for a session the backup
// already holds (end_to_end_encryption.md "Server-side key backups"): keep
// the verified one; between equally verified, the lower
// first_message_index (it decrypts more); then the lower forwarded_count.
// A key equal on all three does not replace the stored one, as in Synapse.
func Replaces(key, old keybackupstore.SessionKey) bool {
	if key.IsVerified != old.IsVerified {
		return key.IsVerified
	}
	if key.FirstMessageIndex != old.FirstMessageIndex {
		return key.FirstMessageIndex < old.FirstMessageIndex
	}
	return key.ForwardedCount < old.ForwardedCount
}

// Keys returns the keys of a version: all (roomID ""), a room's, or one
// session's (sessionID set).
func (s *Service) Keys(ctx context.Context, userID, version, roomID, sessionID string) (*Rooms, error) {
	if version == "" {
		return nil, merr.MissingParam("version is required")
	}
	keys, err := s.store.Keys(ctx, userID, version, roomID, sessionID)
	if err != nil {
		return nil, err
	}
	out := &Rooms{Rooms: map[string]RoomSessions{}}
	for _, k := range keys {
		room, ok := out.Rooms[k.RoomID]
		if !ok {
			room = RoomSessions{Sessions: map[string]KeyData{}}
			out.Rooms[k.RoomID] = room
		}
		room.Sessions[k.SessionID] = KeyData{FirstMessageIndex: &k.FirstMessageIndex, ForwardedCount: &k.ForwardedCount,
			IsVerified: &k.IsVerified, SessionData: k.SessionData}
	}
	return out, nil
}

// DeleteKeys deletes keys of a version: all (roomID ""), a room's, or one
// session's.
func (s *Service) DeleteKeys(ctx context.Context, userID, version, roomID, sessionID string) (*Counts, error) {
	if version == "" {
		return nil, merr.MissingParam("version is required")
	}
	etag, count, err := s.store.DeleteKeys(ctx, userID, version, roomID, sessionID)
	if err != nil {
		return nil, err
	}
	return &Counts{Etag: etag, Count: count}, nil
}

// OnDeactivate deletes all of the user's backups (the users service's
// deactivation hook): Synapse does so too, and nobody can read them any
// more.
func (s *Service) OnDeactivate(ctx context.Context, userID string) error {
	return s.store.DeleteUser(ctx, userID)
}
