package tags

import (
	"context"
	"encoding/json"
	"slices"
)

// DirectType is the global account data listing a user's direct chats:
// {user ID: [room IDs]} (client-server-api "Direct Messaging").
const DirectType = "m.direct"

// CopyOnUpgrade carries a user's filing of a room to its replacement when
// the room is upgraded, as Synapse does (the spec leaves it to servers):
// the room's tags are added to the new room's, and the new room joins the
// first m.direct list that holds the old one.
func (s *Service) CopyOnUpgrade(ctx context.Context, userID, oldRoom, newRoom string) error {
	old, err := s.Tags(ctx, userID, oldRoom)
	if err != nil {
		return err
	}
	if len(old) > 0 {
		err := s.edit(ctx, userID, newRoom, func(tags map[string]json.RawMessage) bool {
			for tag, content := range old {
				tags[tag] = content
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return s.addDirect(ctx, userID, oldRoom, newRoom)
}

// addDirect adds newRoom to the m.direct list that holds oldRoom.
func (s *Service) addDirect(ctx context.Context, userID, oldRoom, newRoom string) error {
	mu := s.lock(userID)
	mu.Lock()
	defer mu.Unlock()
	raw, err := s.data.AccountData(ctx, userID, "", DirectType)
	if err != nil || raw == nil {
		return err
	}
	// Other members of the content are kept as the client wrote them.
	var direct map[string]json.RawMessage
	if json.Unmarshal(raw, &direct) != nil {
		return nil
	}
	changed := false
	for user, list := range direct {
		var rooms []string
		if json.Unmarshal(list, &rooms) != nil || !slices.Contains(rooms, oldRoom) {
			continue
		}
		if !slices.Contains(rooms, newRoom) {
			direct[user], _ = json.Marshal(append(rooms, newRoom))
			changed = true
		}
		break
	}
	if !changed {
		return nil
	}
	content, err := json.Marshal(direct)
	if err != nil {
		return err
	}
	return s.put(ctx, userID, "", DirectType, content)
}
