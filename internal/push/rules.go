// Package push is the push service: each user's push rules, kept as their
// m.push_rules account data (client-server-api "Push Rules: Events": the
// content of that event is the user's current rules, and /sync delivers
// it in account_data when it changes).
//
// What is stored is the merged ruleset the user last saw; every read merges
// it again with this version's server-default rules (pushrules.Merge), so
// rules a newer version adds appear and rules it drops disappear without a
// migration, while the user's own rules and their choices about the
// defaults (enabled, actions) are kept.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/pushrules"
)

// AccountDataType is the account data event type the rules are stored as.
const AccountDataType = "m.push_rules"

// MaxDocument bounds a user's stored rules: every edit rewrites them and
// every initial /sync sends them (the defaults take about 4 KiB).
const MaxDocument = 256 << 10

// AccountData is the account data storage.
type AccountData interface {
	// AccountData returns the content of a user's global or room account
	// data of one type; nil and no error when there is none.
	AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error)
	// PutAccountData stores content at stream position pos.
	PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error
}

// Stream hands out the positions of the stream /sync reads account data
// from (streams.Tracker).
type Stream interface {
	Reserve() int64
	Finish(pos int64)
}

// Waker wakes a user's long-polling /sync requests (streams.Notifier).
type Waker interface {
	Wake(keys ...string)
}

// Rules keeps users' push rules.
type Rules struct {
	data   AccountData
	stream Stream
	waker  Waker
	// locks serialise each user's read-modify-write of their rules; a
	// user's edits hash to one of them (per process: the rules themselves
	// are only in the database).
	locks [64]sync.Mutex

	// compiled caches users' compiled rules for evaluation (see Compiled).
	cacheMu  sync.Mutex
	compiled map[string]*pushrules.Compiled
	defaults *pushrules.Compiled
}

// maxCompiled bounds the compiled rules cache; when full it starts again.
const maxCompiled = 50000

// NewRules returns the push rules service.
func NewRules(data AccountData, stream Stream, waker Waker) *Rules {
	return &Rules{data: data, stream: stream, waker: waker,
		compiled: map[string]*pushrules.Compiled{}, defaults: pushrules.CompileDefaults()}
}

func (s *Rules) lock(userID string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// Get returns a user's full ruleset: the server defaults merged with what
// the user changed.
func (s *Rules) Get(ctx context.Context, userID string) (pushrules.Ruleset, error) {
	raw, err := s.data.AccountData(ctx, userID, "", AccountDataType)
	if err != nil {
		return pushrules.Ruleset{}, err
	}
	return decode(raw, userID)
}

func decode(raw []byte, userID string) (pushrules.Ruleset, error) {
	if raw == nil {
		return pushrules.Merge(nil, userID), nil
	}
	var doc pushrules.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return pushrules.Ruleset{}, fmt.Errorf("stored push rules of %s: %w", userID, err)
	}
	return pushrules.Merge(&doc.Global, userID), nil
}

// Update applies edit to a user's ruleset and stores the result as their
// m.push_rules account data, at a new stream position so that their next
// /sync carries it. When edit fails nothing is stored. It returns once the
// change is durable.
func (s *Rules) Update(ctx context.Context, userID string, edit func(*pushrules.Ruleset) error) error {
	mu := s.lock(userID)
	mu.Lock()
	defer mu.Unlock()
	rs, err := s.Get(ctx, userID)
	if err != nil {
		return err
	}
	if err := edit(&rs); err != nil {
		return err
	}
	content, err := json.Marshal(pushrules.Document{Global: rs})
	if err != nil {
		return err
	}
	if len(content) > MaxDocument {
		return merr.TooLarge("the push rules would exceed " + strconv.Itoa(MaxDocument) + " bytes")
	}
	pos := s.stream.Reserve()
	err = s.data.PutAccountData(ctx, userID, "", AccountDataType, content, pos)
	s.stream.Finish(pos)
	s.cacheMu.Lock()
	delete(s.compiled, userID)
	s.cacheMu.Unlock()
	if err != nil {
		return err
	}
	s.waker.Wake(userID)
	return nil
}

// Compiled returns a user's rules compiled for evaluation, from a cache
// that Update keeps current. Users whose rules are the server defaults
// share one compiled copy.
func (s *Rules) Compiled(ctx context.Context, userID string) (*pushrules.Compiled, error) {
	s.cacheMu.Lock()
	c, ok := s.compiled[userID]
	s.cacheMu.Unlock()
	if ok {
		return c, nil
	}
	// Under the user's lock, so an Update cannot slip between the read
	// and the caching of what it replaced.
	mu := s.lock(userID)
	mu.Lock()
	defer mu.Unlock()
	rs, err := s.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	c = s.defaults
	if !isDefaults(&rs, userID) {
		c = pushrules.Compile(&rs, userID)
	}
	s.cacheMu.Lock()
	if len(s.compiled) >= maxCompiled {
		s.compiled = map[string]*pushrules.Compiled{}
	}
	s.compiled[userID] = c
	s.cacheMu.Unlock()
	return c, nil
}

// isDefaults reports whether rs is exactly the server-default ruleset.
func isDefaults(rs *pushrules.Ruleset, userID string) bool {
	d := pushrules.Defaults(userID)
	a, err1 := json.Marshal(rs)
	b, err2 := json.Marshal(&d)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// OnRegister stores a new user's rules, the server defaults, so that their
// first /sync carries m.push_rules at a stream position of its own. (Users
// created before this existed are shown the defaults by the account data
// readers when nothing is stored.)
func (s *Rules) OnRegister(ctx context.Context, userID string) error {
	return s.Update(ctx, userID, func(*pushrules.Ruleset) error { return nil })
}

// Content returns the m.push_rules content /sync and the account data API
// show: stored (nil when the user never changed anything) merged with this
// version's defaults.
func Content(userID string, stored []byte) ([]byte, error) {
	rs, err := decode(stored, userID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(pushrules.Document{Global: rs})
}
