// Package tpinvite implements third-party invites (client-server-api
// "Third-party invites", server-server-api "Third-party invites"): inviting
// someone by an email address through an identity server, and turning the
// pending invite into an m.room.member invite once the identity server says
// who bound the address.
//
// The pending invite lives in the room as an m.room.third_party_invite
// state event and at the identity server; nothing else needs keeping, so
// the package has no store.
package tpinvite

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/identity"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Federation is what third-party invites need of other servers.
type Federation interface {
	// Invite has the invitee's server countersign an invite.
	Invite(ctx context.Context, ev *event.Event, stripped []json.RawMessage) (*event.Event, error)
	// ExchangeThirdPartyInvite asks server to complete a third-party
	// invite in a room it is in (PUT
	// /_matrix/federation/v1/exchange_third_party_invite/{roomId}).
	ExchangeThirdPartyInvite(ctx context.Context, server, roomID string, partial json.RawMessage) error
}

// Service is the third-party invites service.
type Service struct {
	Engine   *rooms.Engine
	Identity *identity.Client
	// Fed reaches other servers; nil: this server federates with no one.
	Fed Federation
	// InvitePermission refuses invites of our users who block them
	// (client-server-api "Invite permission"); nil: nobody does.
	InvitePermission *invitepermission.Checker
	Log              *slog.Logger
}

var errNoFederation = errors.New("federation is disabled")

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// localServer reports whether a user ID is of this server.
func (s *Service) local(userID string) bool {
	return domainOf(userID) == s.Engine.ServerName()
}

func domainOf(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[i+1:]
		}
	}
	return ""
}
