package e2ee

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// EDUSigningKeyUpdate is the EDU type by which a server tells others that
// a user's master or self-signing key changed (server-server-api
// "m.signing_key_update").
const EDUSigningKeyUpdate = "m.signing_key_update"

// signingKeyUpdate is an m.signing_key_update EDU's content. The
// user-signing key is never sent: only its owner sees it.
type signingKeyUpdate struct {
	UserID         string          `json:"user_id"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// sendSigningKeyUpdate tells the servers sharing a room with a local user
// of their master and self-signing keys as they are now.
func (s *Service) sendSigningKeyUpdate(ctx context.Context, userID string) error {
	if s.fed == nil {
		return nil
	}
	master, ssk, err := s.publicCrossSigningKeys(ctx, userID)
	if err != nil || (master == nil && ssk == nil) {
		return err
	}
	u := signingKeyUpdate{UserID: userID, MasterKey: master, SelfSigningKey: ssk}
	sharing, err := s.devLists.rooms.UsersSharingRoom(ctx, userID)
	if err != nil {
		return err
	}
	servers := map[string]bool{}
	for other := range sharing {
		if server, local, err := s.serverOf(other); err == nil && !local {
			servers[server] = true
		}
	}
	if len(servers) == 0 {
		return nil
	}
	content, err := json.Marshal(u)
	if err != nil {
		return err
	}
	dests := make([]string, 0, len(servers))
	for d := range servers {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	for _, dest := range dests {
		if err := s.fed.SendEDU(ctx, EDUSigningKeyUpdate, content, dest); err != nil {
			return err
		}
	}
	return nil
}

// ReceiveSigningKeyUpdate handles an m.signing_key_update from origin: the
// keys are checked as an upload's are (the self-signing key signed by the
// master key) and stored for users a local user shares a room with, who
// then see the user in device_lists.changed. Updates for other users are
// dropped, as their keys are not tracked.
func (s *Service) ReceiveSigningKeyUpdate(ctx context.Context, origin string, content json.RawMessage) error {
	if err := storableJSON("m.signing_key_update", content); err != nil {
		return err
	}
	var u signingKeyUpdate
	if err := json.Unmarshal(content, &u); err != nil {
		return merr.BadJSON("m.signing_key_update: " + err.Error())
	}
	if server, _, err := s.serverOf(u.UserID); err != nil || server != origin {
		return merr.Forbidden("m.signing_key_update: the user is not a user of the origin server")
	}
	tracked, err := s.tracked(ctx, u.UserID)
	if err != nil || !tracked {
		return err
	}
	changed, err := s.storeRemoteCrossSigningKeys(ctx, u.UserID, u.MasterKey, u.SelfSigningKey)
	if err != nil || !changed {
		return err
	}
	return s.NotifyKeysChanged(ctx, u.UserID)
}

// publicCrossSigningKeys returns a local user's master key, with the
// signatures of it by the user's own devices, and self-signing key: what
// other servers are told (nil for a key the user has not uploaded).
func (s *Service) publicCrossSigningKeys(ctx context.Context, userID string) (master, selfSigning json.RawMessage, err error) {
	keys, err := s.store.CrossSigningKeys(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if raw, ok := keys[e2eestore.UsageMaster]; ok {
		k, err := storedKey(keys, userID, e2eestore.UsageMaster)
		if err != nil {
			return nil, nil, err
		}
		sigs, err := s.store.SignaturesOf(ctx, userID, userID)
		if err != nil {
			return nil, nil, err
		}
		var own []e2eestore.Signature
		for _, g := range sigs {
			if g.TargetKey == k.id {
				own = append(own, g)
			}
		}
		if master, err = mergeSignatures(raw, own); err != nil {
			return nil, nil, err
		}
	}
	return master, keys[e2eestore.UsageSelfSigning], nil
}

// storeRemoteCrossSigningKeys checks and keeps another server's user's
// master and self-signing keys (from an m.signing_key_update, a
// /user/devices answer) and reports whether they changed. The
// self-signing key must be signed by the master key.
func (s *Service) storeRemoteCrossSigningKeys(ctx context.Context, userID string, master, selfSigning json.RawMessage) (bool, error) {
	keys := map[string]*parsedKey{}
	for usage, raw := range map[string]json.RawMessage{e2eestore.UsageMaster: master, e2eestore.UsageSelfSigning: selfSigning} {
		if raw == nil || string(raw) == "null" {
			continue
		}
		k, err := parseCrossSigningKey(raw, userID, usage)
		if err != nil {
			return false, err
		}
		keys[usage] = k
	}
	if len(keys) == 0 {
		return false, nil
	}
	written, err := s.store.PutCrossSigningKeys(ctx, userID, func(stored map[string]json.RawMessage) (map[string]json.RawMessage, error) {
		return crossSigningChanges(userID, keys, stored)
	})
	return len(written) > 0, err
}

// addRemoteCrossSigning adds the kept cross-signing keys of another
// server's user to an answer.
func (s *Service) addRemoteCrossSigning(ctx context.Context, userID string, out *remoteQueryAnswer) error {
	keys, err := s.store.CrossSigningKeys(ctx, userID)
	if err != nil {
		return err
	}
	if k, ok := keys[e2eestore.UsageMaster]; ok {
		out.MasterKeys = setKey(out.MasterKeys, userID, k)
	}
	if k, ok := keys[e2eestore.UsageSelfSigning]; ok {
		out.SelfSigningKeys = setKey(out.SelfSigningKeys, userID, k)
	}
	return nil
}
