package media

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// RoomEvents is the room storage as the admin API's scans of a room need
// it (Synapse's "List all media in a room" and "Quarantining media in a
// room").
type RoomEvents interface {
	// Room returns the room, or a not-found merr error.
	Room(ctx context.Context, roomID string) (*roomstore.Room, error)
	// MXCEvents returns up to limit of the room's events after a stream
	// position whose JSON mentions an mxc:// URI, oldest first.
	MXCEvents(ctx context.Context, roomID string, after int64, limit int) ([]roomstore.PositionedPDU, error)
}

const (
	// roomScanBatch is how many events one step of a room scan reads.
	roomScanBatch = 500
	// MaxRoomMedia bounds the URIs RoomMedia answers with (about 6 MB of
	// JSON); quarantining a room has no such bound, since it works batch
	// by batch.
	MaxRoomMedia = 100_000
)

// RoomMedia returns the mxc URIs a room's events name, ours (local) and
// other servers' (remote), each once, in the order they first appear.
// As in Synapse, only what the server can read is found: media sent in
// encrypted events stays unknown. 404 for an unknown room; 413 when the
// room names more than MaxRoomMedia.
func (s *Service) RoomMedia(ctx context.Context, roomID string) (local, remote []string, err error) {
	seen := map[string]bool{}
	err = s.scanRoom(ctx, roomID, func(uris []mxc) error {
		for _, u := range uris {
			k := u.String()
			if seen[k] {
				continue
			}
			if len(seen) >= MaxRoomMedia {
				return merr.TooLarge(fmt.Sprintf("The room names more than %d media items", MaxRoomMedia))
			}
			seen[k] = true
			if u.origin == s.cfg.ServerName {
				local = append(local, k)
			} else {
				remote = append(remote, k)
			}
		}
		return nil
	})
	return local, remote, err
}

// QuarantineRoom quarantines the media a room's events name, ours and the
// cached copies of other servers', on behalf of admin, and returns how
// many items were newly quarantined. Media not stored here (a remote item
// never fetched) has nothing to mark, as in Synapse.
func (s *Service) QuarantineRoom(ctx context.Context, roomID, admin string) (int64, error) {
	var n int64
	err := s.scanRoom(ctx, roomID, func(uris []mxc) error {
		keys := make([][2]string, len(uris))
		for i, u := range uris {
			keys[i] = [2]string{u.origin, u.mediaID}
		}
		k, err := s.cfg.Store.QuarantineMany(ctx, keys, admin)
		n += k
		return storeErr(err)
	})
	return n, err
}

// scanRoom calls fn with the URIs of each batch of the room's events.
func (s *Service) scanRoom(ctx context.Context, roomID string, fn func([]mxc) error) error {
	if !ids.ValidRoomID(roomID) {
		return merr.New(merr.ErrBadRequest, merr.CodeInvalidParam, "Not a room ID")
	}
	if s.cfg.Rooms == nil {
		return merr.NotFound("Unknown room")
	}
	if _, err := s.cfg.Rooms.Room(ctx, roomID); err != nil {
		return err
	}
	after := int64(roomstore.MXCScanStart)
	for {
		batch, err := s.cfg.Rooms.MXCEvents(ctx, roomID, after, roomScanBatch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		var uris []mxc
		for _, p := range batch {
			uris = append(uris, eventMXCs(p.PDU)...)
		}
		if len(uris) > 0 {
			if err := fn(uris); err != nil {
				return err
			}
		}
		after = batch[len(batch)-1].StreamPos
	}
}

type mxc struct{ origin, mediaID string }

func (u mxc) String() string { return MXC(u.origin, u.mediaID) }

// parseMXC reads an mxc URI (client-server-api "Matrix Content (mxc://)
// URIs"); ok is false for anything else.
func parseMXC(v any) (mxc, bool) {
	s, _ := v.(string)
	rest, ok := strings.CutPrefix(s, "mxc://")
	if !ok {
		return mxc{}, false
	}
	origin, id, ok := strings.Cut(rest, "/")
	if !ok || !ids.ValidServerName(origin) || !ValidMediaID(id) {
		return mxc{}, false
	}
	return mxc{origin, id}, true
}

// eventMXCs returns the mxc URIs an event's content names where the spec
// puts media: url (m.image, m.file, m.audio, m.video, m.sticker,
// m.room.avatar), info.thumbnail_url, the url of an EncryptedFile in file
// and info.thumbnail_file, a member's avatar_url, and the same inside an
// edit's m.new_content. Content that does not parse names nothing.
func eventMXCs(pdu []byte) []mxc {
	var ev struct {
		Content map[string]any `json:"content"`
	}
	if err := json.Unmarshal(pdu, &ev); err != nil {
		return nil
	}
	var out []mxc
	add := func(v any) {
		if u, ok := parseMXC(v); ok {
			out = append(out, u)
		}
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	walk := func(c map[string]any) {
		add(c["url"])
		add(c["avatar_url"])
		add(obj(c["file"])["url"])
		info := obj(c["info"])
		add(info["thumbnail_url"])
		add(obj(info["thumbnail_file"])["url"])
	}
	walk(ev.Content)
	if nc := obj(ev.Content["m.new_content"]); nc != nil {
		walk(nc)
	}
	return out
}
