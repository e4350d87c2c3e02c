// Package invitepermission applies a user's m.invite_permission_config
// account data (client-server-api "Invite permission", spec v1.18): a user
// whose config has default_action "block" receives no invites. The
// endpoints that invite (POST /invite, createRoom, PUT /state of a member
// invite, the federation /invite) refuse with 403 M_INVITE_BLOCKED, and
// /sync leaves out invites the user already holds.
package invitepermission

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/merr"
)

// AccountDataType is the global account data event holding the config.
const AccountDataType = "m.invite_permission_config"

// Blocks reports whether an m.invite_permission_config content blocks
// invites. The schema: "A missing, invalid or unsupported value means that
// the user wants to receive invites as normal", so only the exact string
// "block" blocks.
func Blocks(content []byte) bool {
	var c struct {
		DefaultAction any `json:"default_action"`
	}
	if json.Unmarshal(content, &c) != nil {
		return false
	}
	s, ok := c.DefaultAction.(string)
	return ok && s == "block"
}

// AccountData reads one item of a user's account data; nil content when
// the user has none of that type.
type AccountData interface {
	AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error)
}

// Checker answers whether a local user blocks invites. A nil *Checker
// blocks nothing.
type Checker struct {
	accountData AccountData
}

// New returns a checker reading the config from ad.
func New(ad AccountData) *Checker { return &Checker{accountData: ad} }

// Blocked reports whether userID (a user of this server) blocks invites.
func (c *Checker) Blocked(ctx context.Context, userID string) (bool, error) {
	if c == nil || c.accountData == nil {
		return false, nil
	}
	raw, err := c.accountData.AccountData(ctx, userID, "", AccountDataType)
	if err != nil || raw == nil {
		return false, err
	}
	return Blocks(raw), nil
}

// Check returns 403 M_INVITE_BLOCKED when userID blocks invites.
func (c *Checker) Check(ctx context.Context, userID string) error {
	blocked, err := c.Blocked(ctx, userID)
	if err != nil {
		return err
	}
	if blocked {
		return merr.InviteBlocked(userID + " does not accept invites")
	}
	return nil
}
