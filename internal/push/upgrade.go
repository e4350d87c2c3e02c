package push

import (
	"context"

	"github.com/myelin-chat/myelin/internal/pushrules"
)

// CopyRoomRules gives a user's rules about oldRoom to newRoom when the room
// is upgraded (pushrules.CopyRoomRules); nothing is written when the user
// has no rules about oldRoom.
func (s *Rules) CopyRoomRules(ctx context.Context, userID, oldRoom, newRoom string) error {
	rs, err := s.Get(ctx, userID)
	if err != nil {
		return err
	}
	if changed, err := pushrules.CopyRoomRules(&rs, oldRoom, newRoom); err != nil || !changed {
		return err
	}
	return s.Update(ctx, userID, func(rs *pushrules.Ruleset) error {
		_, err := pushrules.CopyRoomRules(rs, oldRoom, newRoom)
		return err
	})
}
