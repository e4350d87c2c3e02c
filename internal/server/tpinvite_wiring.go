package server

import (
	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/identity"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/tpinvite"
)

// buildThirdPartyInvites wires third-party invites: the identity server
// client reaches only what ip_range_blacklist / ip_range_whitelist allow
// (as Synapse's identity handler does), and trusts the authorities of
// federation_custom_ca_list when it is set, as federation does: identity
// servers are Matrix servers reached by a name a user gave, like other
// homeservers (Synapse has no setting of its own for them).
func (s *Server) buildThirdPartyInvites(rem *remote.Remote, invites *invitepermission.Checker) (*tpinvite.Service, error) {
	roots, err := fedclient.LoadCAPool(s.Config.FederationCustomCAList)
	if err != nil {
		return nil, err
	}
	is := identity.New(identity.Config{Guard: netguard.New(s.Config.IPRangeBlacklist, s.Config.IPRangeWhitelist), RootCAs: roots})
	return &tpinvite.Service{Engine: s.Rooms, Identity: is, Fed: rem, InvitePermission: invites, Log: s.Log}, nil
}
