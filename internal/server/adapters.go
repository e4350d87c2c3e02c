package server

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/tags"
)

// userData adapts the accounts store to what the room and sync APIs need
// (profiles for membership events, filters, account data).
type userData struct{ store accounts.Store }

func (u userData) Profile(ctx context.Context, userID string) (clientapi.Profile, error) {
	usr, err := u.store.GetUser(ctx, userID)
	if err != nil {
		return clientapi.Profile{}, err
	}
	return clientapi.Profile{DisplayName: usr.DisplayName, AvatarURL: usr.AvatarURL}, nil
}

func (u userData) PutFilter(ctx context.Context, userID string, filter []byte) (string, error) {
	return u.store.CreateFilter(ctx, userID, filter)
}

func (u userData) Filter(ctx context.Context, userID, filterID string) ([]byte, error) {
	return u.store.GetFilter(ctx, userID, filterID)
}

func (u userData) PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error {
	return u.store.PutAccountData(ctx, userID, roomID, typ, content, pos)
}

func (u userData) AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error) {
	raw, err := u.store.GetAccountData(ctx, userID, roomID, typ)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

func (u userData) AccountDataSince(ctx context.Context, userID string, from, to int64) ([]syncapi.AccountDataItem, error) {
	return accountDataItems(u.store.AccountDataSince(ctx, userID, from, to))
}

func (u userData) RoomAccountData(ctx context.Context, userID, roomID string, limit int) ([]syncapi.AccountDataItem, error) {
	return accountDataItems(u.store.RoomAccountData(ctx, userID, roomID, limit))
}

func accountDataItems(items []accounts.AccountData, err error) ([]syncapi.AccountDataItem, error) {
	if err != nil {
		return nil, err
	}
	out := make([]syncapi.AccountDataItem, len(items))
	for i, it := range items {
		out[i] = syncapi.AccountDataItem{RoomID: it.RoomID, Type: it.Type, Content: it.Content}
	}
	return out, nil
}

// clientAccountData is account data as clients read it, through the
// account data API and /sync: m.push_rules is the user's full ruleset,
// the server defaults merged in, and an initial sync carries it even for a
// user who never changed a rule (client-server-api "Push Rules: Events").
// Registration stores the defaults (push.Rules.OnRegister), so only users
// created before that need the stand-in added here. from = 0 is also a
// since token at position 0: while the stream is empty (to = 0) nothing is
// added, or a long poll from that token would return at once, forever.
type clientAccountData struct{ userData }

func (c clientAccountData) AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error) {
	raw, err := c.userData.AccountData(ctx, userID, roomID, typ)
	if err != nil || roomID != "" || typ != push.AccountDataType {
		return raw, err
	}
	return push.Content(userID, raw)
}

func (c clientAccountData) AccountDataSince(ctx context.Context, userID string, from, to int64) ([]syncapi.AccountDataItem, error) {
	items, err := c.userData.AccountDataSince(ctx, userID, from, to)
	if err != nil {
		return nil, err
	}
	seen := false
	for i, it := range items {
		if it.RoomID == "" && it.Type == push.AccountDataType {
			if items[i].Content, err = push.Content(userID, it.Content); err != nil {
				return nil, err
			}
			seen = true
		}
	}
	if from == 0 && to > 0 && !seen {
		content, err := push.Content(userID, nil)
		if err != nil {
			return nil, err
		}
		items = append(items, syncapi.AccountDataItem{Type: push.AccountDataType, Content: content})
	}
	return items, nil
}

// upgradeCopier carries a user's tags, m.direct entry and push rules about
// a room to its replacement (clientapi.UpgradeCopier).
type upgradeCopier struct {
	tags  *tags.Service
	rules *push.Rules
}

func (u upgradeCopier) CopyOnUpgrade(ctx context.Context, userID, oldRoom, newRoom string) error {
	if err := u.tags.CopyOnUpgrade(ctx, userID, oldRoom, newRoom); err != nil {
		return err
	}
	return u.rules.CopyRoomRules(ctx, userID, oldRoom, newRoom)
}
