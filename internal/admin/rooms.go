package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's rooms admin API (docs/admin_api/rooms.md in Synapse).

// ErrRoomNotFound is the admin API's answer for a room this server does
// not hold.
var ErrRoomNotFound = merr.NotFound("Room not found")

// RoomInfo is what the admin API shows of a room: its current state in
// brief.
type RoomInfo struct {
	RoomID             string
	Name               string
	Topic              string
	Avatar             string
	CanonicalAlias     string
	JoinedMembers      int
	JoinedLocalMembers int
	Version            string
	Creator            string
	Encryption         string
	Federatable        bool
	Public             bool
	JoinRules          string
	GuestAccess        string
	HistoryVisibility  string
	StateEvents        int
	RoomType           string
}

// summaryTypes are the state events RoomInfo reads.
var summaryTypes = []string{event.TypeCreate, event.TypeName, event.TypeTopic, event.TypeAvatar,
	event.TypeCanonicalAlias, event.TypeJoinRules, event.TypeGuestAccess, event.TypeHistoryVisibility,
	event.TypeEncryption}

// Room returns a room's summary; ErrRoomNotFound if the server holds no
// such room.
func (s *Service) Room(ctx context.Context, roomID string) (*RoomInfo, error) {
	st := s.Rooms.Store()
	room, err := st.Room(ctx, roomID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, ErrRoomNotFound
	}
	if err != nil {
		return nil, err
	}
	state, err := st.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var evIDs []string
	for _, t := range summaryTypes {
		if id, ok := state[event.StateTuple{Type: t}]; ok {
			evIDs = append(evIDs, id)
		}
	}
	evs, err := st.EventsOnly(ctx, evIDs)
	if err != nil {
		return nil, err
	}
	content := func(typ string) map[string]any {
		out := map[string]any{}
		if e := evs[state[event.StateTuple{Type: typ}]]; e != nil {
			_ = json.Unmarshal(e.Content(), &out)
		}
		return out
	}
	str := func(typ, key string) string {
		v, _ := content(typ)[key].(string)
		return v
	}
	info := &RoomInfo{
		RoomID: roomID, Version: string(room.Version.ID), Public: room.IsPublic, StateEvents: len(state),
		Name: str(event.TypeName, "name"), Topic: str(event.TypeTopic, "topic"), Avatar: str(event.TypeAvatar, "url"),
		CanonicalAlias: str(event.TypeCanonicalAlias, "alias"), JoinRules: str(event.TypeJoinRules, "join_rule"),
		GuestAccess:       str(event.TypeGuestAccess, "guest_access"),
		HistoryVisibility: str(event.TypeHistoryVisibility, "history_visibility"),
		Encryption:        str(event.TypeEncryption, "algorithm"),
		RoomType:          str(event.TypeCreate, "type"),
		Federatable:       true,
	}
	create := content(event.TypeCreate)
	if f, ok := create["m.federate"].(bool); ok {
		info.Federatable = f
	}
	if e := evs[state[event.StateTuple{Type: event.TypeCreate}]]; e != nil {
		// Room versions before 11 name the creator in the content; from
		// 11 on the sender is the creator.
		info.Creator = e.Sender()
		if c, ok := create["creator"].(string); ok && !room.Version.CreatorIsSender {
			info.Creator = c
		}
	}
	members, err := st.Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	info.JoinedMembers = len(members)
	for u := range members {
		if uid, err := ids.ParseUserID(u); err == nil && uid.Server == s.Users.ServerName() {
			info.JoinedLocalMembers++
		}
	}
	return info, nil
}

// RoomOrder is one of Synapse's order_by values for the room list.
type RoomOrder string

// roomOrders compare two rooms by each order_by value Synapse knows
// ("alphabetical" and "size" are its deprecated names for name and
// joined_members).
var roomOrders = map[RoomOrder]func(a, b *RoomInfo) int{
	"name":                 func(a, b *RoomInfo) int { return cmp.Compare(a.Name, b.Name) },
	"alphabetical":         func(a, b *RoomInfo) int { return cmp.Compare(a.Name, b.Name) },
	"canonical_alias":      func(a, b *RoomInfo) int { return cmp.Compare(a.CanonicalAlias, b.CanonicalAlias) },
	"joined_members":       func(a, b *RoomInfo) int { return cmp.Compare(a.JoinedMembers, b.JoinedMembers) },
	"size":                 func(a, b *RoomInfo) int { return cmp.Compare(a.JoinedMembers, b.JoinedMembers) },
	"joined_local_members": func(a, b *RoomInfo) int { return cmp.Compare(a.JoinedLocalMembers, b.JoinedLocalMembers) },
	"version":              func(a, b *RoomInfo) int { return cmp.Compare(a.Version, b.Version) },
	"creator":              func(a, b *RoomInfo) int { return cmp.Compare(a.Creator, b.Creator) },
	"encryption":           func(a, b *RoomInfo) int { return cmp.Compare(a.Encryption, b.Encryption) },
	"federatable":          func(a, b *RoomInfo) int { return compareBool(a.Federatable, b.Federatable) },
	"public":               func(a, b *RoomInfo) int { return compareBool(a.Public, b.Public) },
	"join_rules":           func(a, b *RoomInfo) int { return cmp.Compare(a.JoinRules, b.JoinRules) },
	"guest_access":         func(a, b *RoomInfo) int { return cmp.Compare(a.GuestAccess, b.GuestAccess) },
	"history_visibility":   func(a, b *RoomInfo) int { return cmp.Compare(a.HistoryVisibility, b.HistoryVisibility) },
	"state_events":         func(a, b *RoomInfo) int { return cmp.Compare(a.StateEvents, b.StateEvents) },
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// RoomQuery selects rooms for ListRooms.
type RoomQuery struct {
	// SearchTerm keeps rooms whose name, canonical alias or ID contains it
	// (case-insensitively).
	SearchTerm string
	// OrderBy is "" for name.
	OrderBy RoomOrder
	Desc    bool
	Offset  int
	Limit   int
}

// MaxRoomPage bounds one page of ListRooms.
const MaxRoomPage = 1000

// ListRooms returns one page of the rooms q selects and how many it
// selects in all. Every room is summarised to filter and order them: the
// cost grows with the rooms the server holds, which an admin listing
// accepts (Synapse keeps a stats table for it; Myelin has none yet).
func (s *Service) ListRooms(ctx context.Context, q RoomQuery) ([]RoomInfo, int, error) {
	if q.OrderBy == "" {
		q.OrderBy = "name"
	}
	order, ok := roomOrders[q.OrderBy]
	if !ok {
		return nil, 0, merr.InvalidParam("Unknown value for order_by: " + string(q.OrderBy))
	}
	roomIDs, err := s.Rooms.Store().AllRooms(ctx)
	if err != nil {
		return nil, 0, err
	}
	term := strings.ToLower(q.SearchTerm)
	var all []RoomInfo
	for _, id := range roomIDs {
		info, err := s.Room(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if term != "" && !strings.Contains(strings.ToLower(info.Name), term) &&
			!strings.Contains(strings.ToLower(info.CanonicalAlias), term) && !strings.Contains(strings.ToLower(id), term) {
			continue
		}
		all = append(all, *info)
	}
	slices.SortStableFunc(all, func(a, b RoomInfo) int {
		c := order(&a, &b)
		if c == 0 {
			c = cmp.Compare(a.RoomID, b.RoomID)
		}
		if q.Desc {
			return -c
		}
		return c
	})
	total := len(all)
	start := min(q.Offset, total)
	end := min(start+min(q.Limit, MaxRoomPage), total)
	return all[start:end], total, nil
}

// Members returns the user IDs of a room's joined members.
func (s *Service) Members(ctx context.Context, roomID string) ([]string, error) {
	if _, err := s.Room(ctx, roomID); err != nil {
		return nil, err
	}
	members, err := s.Rooms.Store().Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(members))
	for u := range members {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

// State returns a room's current state events.
func (s *Service) State(ctx context.Context, roomID string) ([]*event.Event, error) {
	st := s.Rooms.Store()
	if _, err := st.Room(ctx, roomID); errors.Is(err, merr.ErrNotFound) {
		return nil, ErrRoomNotFound
	} else if err != nil {
		return nil, err
	}
	state, err := st.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	evIDs := make([]string, 0, len(state))
	for _, id := range state {
		evIDs = append(evIDs, id)
	}
	evs, err := st.EventsOnly(ctx, evIDs)
	if err != nil {
		return nil, err
	}
	out := make([]*event.Event, 0, len(evs))
	for _, id := range evIDs {
		if e := evs[id]; e != nil {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *event.Event) int {
		return cmp.Or(cmp.Compare(a.Type(), b.Type()), cmp.Compare(*a.StateKey(), *b.StateKey()))
	})
	return out, nil
}
