// Package tags keeps users' room tags (client-server-api "Room Tagging"):
// each room's tags are its m.tag room account data, {"tags": {name: {...}}},
// so /sync delivers them as room account data through the shared stream.
package tags

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"sync"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// AccountDataType is the room account data that holds a room's tags.
const AccountDataType = "m.tag"

// MaxTagLength is the spec's bound on a tag name, in bytes.
const MaxTagLength = 255

// AccountData reads and writes account data (the accounts store).
type AccountData interface {
	// AccountData returns an entry's content, nil when unset.
	AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error)
	PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error
}

// Service edits room tags.
type Service struct {
	data   AccountData
	engine *rooms.Engine
	// locks serialize a user's edits in this process: each is a read,
	// a change and a write of the whole m.tag entry.
	seed  maphash.Seed
	locks [64]sync.Mutex
}

// New returns the service.
func New(data AccountData, engine *rooms.Engine) *Service {
	return &Service{data: data, engine: engine, seed: maphash.MakeSeed()}
}

// Tags returns the user's tags on a room (an empty map when none).
func (s *Service) Tags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, error) {
	raw, err := s.data.AccountData(ctx, userID, roomID, AccountDataType)
	if err != nil {
		return nil, err
	}
	var content struct {
		Tags map[string]json.RawMessage `json:"tags"`
	}
	if len(raw) > 0 {
		// A client may have written m.tag through the account data
		// API; what is not an object of tags counts as none.
		_ = json.Unmarshal(raw, &content)
	}
	if content.Tags == nil {
		content.Tags = map[string]json.RawMessage{}
	}
	return content.Tags, nil
}

// Put sets a tag with its content (a JSON object, e.g. {"order": 0.5}).
func (s *Service) Put(ctx context.Context, userID, roomID, tag string, content json.RawMessage) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(content, &c); err != nil {
		return merr.BadJSON("the tag's content must be a JSON object")
	}
	if order, ok := c["order"]; ok {
		var f float64
		if json.Unmarshal(order, &f) != nil {
			return merr.BadJSON("order must be a number")
		}
	}
	return s.edit(ctx, userID, roomID, func(tags map[string]json.RawMessage) bool {
		tags[tag] = content
		return true
	})
}

// Delete removes a tag; removing a tag that is not there succeeds.
func (s *Service) Delete(ctx context.Context, userID, roomID, tag string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	return s.edit(ctx, userID, roomID, func(tags map[string]json.RawMessage) bool {
		_, had := tags[tag]
		delete(tags, tag)
		return had
	})
}

func checkTag(tag string) error {
	// client-server-api "Room Tagging": "The name of a tag MUST NOT
	// exceed 255 bytes."
	if tag == "" || len(tag) > MaxTagLength {
		return merr.InvalidParam("a tag name is 1 to 255 bytes")
	}
	return nil
}

// edit changes the room's tags and, when change reports a change, stores
// them at the next position of the shared stream and wakes the user's
// syncs, as every account data write does.
func (s *Service) edit(ctx context.Context, userID, roomID string, change func(map[string]json.RawMessage) bool) error {
	if _, err := s.engine.Store().Room(ctx, roomID); err != nil {
		return err
	}
	mu := s.lock(userID)
	mu.Lock()
	defer mu.Unlock()
	tags, err := s.Tags(ctx, userID, roomID)
	if err != nil {
		return err
	}
	if !change(tags) {
		return nil
	}
	raw, err := json.Marshal(map[string]any{"tags": tags})
	if err != nil {
		return err
	}
	return s.put(ctx, userID, roomID, AccountDataType, raw)
}

// lock is the user's edit lock.
func (s *Service) lock(userID string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, userID)%uint64(len(s.locks))]
}

// put stores account data at the next position of the shared stream and
// wakes the user's syncs, as every account data write does.
func (s *Service) put(ctx context.Context, userID, roomID, typ string, content []byte) error {
	tracker := s.engine.Stream()
	pos := tracker.Reserve()
	err := s.data.PutAccountData(ctx, userID, roomID, typ, content, pos)
	tracker.Finish(pos)
	if err != nil {
		return err
	}
	s.engine.Notifier().Wake(userID)
	return nil
}
