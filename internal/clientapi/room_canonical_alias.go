package clientapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// maxAltAliases bounds alt_aliases in an m.room.canonical_alias sent here:
// each new alias may cost a federation query, and no room needs more.
const maxAltAliases = 100

// codeBadAlias is the spec's errcode for an alias that does not point at
// the room (room_state.yaml, PUT /state 400).
const codeBadAlias = "M_BAD_ALIAS"

type canonicalAliasContent struct {
	Alias      *string  `json:"alias"`
	AltAliases []string `json:"alt_aliases"`
}

// parseCanonicalAlias reads the two fields the spec gives meaning to; a
// field of the wrong type is M_INVALID_PARAM, as the spec lists for
// aliases with invalid syntax.
func parseCanonicalAlias(content []byte) (canonicalAliasContent, error) {
	var raw struct {
		Alias      json.RawMessage `json:"alias"`
		AltAliases json.RawMessage `json:"alt_aliases"`
	}
	var c canonicalAliasContent
	if err := json.Unmarshal(content, &raw); err != nil {
		return c, merr.BadRequest(merr.CodeBadJSON, "content is not a JSON object")
	}
	if len(raw.Alias) > 0 && string(raw.Alias) != "null" {
		var s string
		if json.Unmarshal(raw.Alias, &s) != nil {
			return c, merr.BadRequest(merr.CodeInvalidParam, "alias must be a string")
		}
		c.Alias = &s
	}
	if len(raw.AltAliases) > 0 && string(raw.AltAliases) != "null" {
		if json.Unmarshal(raw.AltAliases, &c.AltAliases) != nil {
			return c, merr.BadRequest(merr.CodeInvalidParam, "alt_aliases must be a list of strings")
		}
		if len(c.AltAliases) > maxAltAliases {
			return c, merr.BadRequest(merr.CodeInvalidParam, "too many alt_aliases")
		}
	}
	return c, nil
}

// checkCanonicalAlias enforces what the spec asks of a server receiving an
// m.room.canonical_alias state event from a client (client-server-api,
// PUT /rooms/{roomId}/state: M_INVALID_PARAM for bad syntax, M_BAD_ALIAS
// for an alias that does not point at the room). Only aliases the event
// adds are resolved, as Synapse does: aliases already in the room's
// current event were checked when they were added, and refusing them now
// because their server is unreachable would block every other edit.
func (a *RoomAPI) checkCanonicalAlias(ctx context.Context, roomID string, content []byte) error {
	next, err := parseCanonicalAlias(content)
	if err != nil {
		return err
	}
	var prev canonicalAliasContent
	if cur, err := a.Engine.State(ctx, roomID, event.TypeCanonicalAlias, ""); err == nil {
		// The stored event passed these rules or came over federation;
		// if it is malformed, treat every alias of the new one as new.
		prev, _ = parseCanonicalAlias(cur.Content())
	}
	known := map[string]bool{}
	if prev.Alias != nil {
		known[*prev.Alias] = true
	}
	for _, alias := range prev.AltAliases {
		known[alias] = true
	}
	var added []string
	if next.Alias != nil && !known[*next.Alias] {
		added = append(added, *next.Alias)
	}
	for _, alias := range next.AltAliases {
		if !known[alias] {
			added = append(added, alias)
			known[alias] = true
		}
	}
	for _, alias := range added {
		if _, err := ids.ParseRoomAlias(alias); err != nil {
			return merr.Newf(merr.ErrBadRequest, merr.CodeInvalidParam, "%q is not a valid room alias", alias)
		}
	}
	for _, alias := range added {
		if err := a.aliasPointsAt(ctx, alias, roomID); err != nil {
			return err
		}
	}
	return nil
}

// aliasPointsAt resolves alias, locally or through its server, and
// refuses it unless it names roomID.
func (a *RoomAPI) aliasPointsAt(ctx context.Context, alias, roomID string) error {
	parsed, _ := ids.ParseRoomAlias(alias)
	var (
		target string
		err    error
	)
	if string(parsed.Server) == a.Engine.ServerName() || a.Fed == nil {
		target, _, err = a.Engine.Store().Alias(ctx, alias)
	} else {
		target, _, err = a.Fed.ResolveAlias(ctx, alias, string(parsed.Server))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return merr.Newf(merr.ErrBadRequest, codeBadAlias, "the alias %q does not exist", alias)
	}
	if target != roomID {
		return merr.Newf(merr.ErrBadRequest, codeBadAlias, "the alias %q does not point to this room", alias)
	}
	return nil
}
