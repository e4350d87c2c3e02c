package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// maxChainLen bounds how many deltas a snapshot read walks; past it a new
// snapshot is written in full.
const maxChainLen = 32

// StateAt returns the full state of a snapshot (0 is the empty state).
// Snapshots are immutable, so results are cached; callers must not modify
// the returned map.
func (s *Store) StateAt(ctx context.Context, snapshotID int64) (StateMap, error) {
	if snapshotID == 0 {
		return StateMap{}, nil
	}
	s.snapMu.Lock()
	if m, ok := s.snaps[snapshotID]; ok {
		s.snapMu.Unlock()
		return m, nil
	}
	s.snapMu.Unlock()
	return s.stateAt(ctx, s.db.Read, snapshotID, true)
}

func (s *Store) stateAt(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, snapshotID int64, cache bool) (StateMap, error) {
	// Walk to the nearest cached ancestor (or the root), then apply deltas
	// from the oldest down.
	var chain []int64
	var base StateMap
	for id := snapshotID; id != 0; {
		s.snapMu.Lock()
		m, ok := s.snaps[id]
		s.snapMu.Unlock()
		if ok {
			base = m
			break
		}
		chain = append(chain, id)
		var parent int64
		if err := q.QueryRowContext(ctx, `SELECT parent_id FROM state_snapshots WHERE snapshot_id = $1`, id).Scan(&parent); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("state snapshot %d missing", id)
			}
			return nil, err
		}
		id = parent
	}
	out := make(StateMap, len(base)+8)
	for k, v := range base {
		out[k] = v
	}
	for i := len(chain) - 1; i >= 0; i-- {
		rows, err := q.QueryContext(ctx, `SELECT type, state_key, event_id FROM state_snapshot_entries WHERE snapshot_id = $1`, chain[i])
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var t event.StateTuple
			var id string
			if err := rows.Scan(&t.Type, &t.StateKey, &id); err != nil {
				rows.Close()
				return nil, err
			}
			if id == "" {
				delete(out, t)
			} else {
				out[t] = id
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	if cache {
		s.cacheSnapshot(snapshotID, out)
	}
	return out, nil
}

func (s *Store) cacheSnapshot(id int64, m StateMap) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if _, ok := s.snaps[id]; ok {
		return
	}
	// Bounded by snapshots and by their entries: each snapshot is a full
	// copy, so a big room whose members join one by one leaves as many
	// copies of its member list as it had joins. Drop an arbitrary half:
	// cheap, and snapshots are re-readable.
	if len(s.snaps) >= snapCacheMax || s.snapEntries+len(m) > snapCacheMaxEntries {
		n := len(s.snaps) / 2
		for k, v := range s.snaps {
			if n <= 0 && s.snapEntries+len(m) <= snapCacheMaxEntries {
				break
			}
			delete(s.snaps, k)
			s.snapEntries -= len(v)
			n--
		}
	}
	s.snaps[id] = m
	s.snapEntries += len(m)
}

// CurrentState returns the room's current state map.
func (s *Store) CurrentState(ctx context.Context, roomID string) (StateMap, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT type, state_key, event_id FROM current_state WHERE room_id = $1`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := StateMap{}
	for rows.Next() {
		var t event.StateTuple
		var id string
		if err := rows.Scan(&t.Type, &t.StateKey, &id); err != nil {
			return nil, err
		}
		out[t] = id
	}
	return out, rows.Err()
}

// CurrentStateEvent returns the current event for (type, state_key), or nil.
func (s *Store) CurrentStateEvent(ctx context.Context, roomID, typ, stateKey string) (*StoredEvent, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT event_id FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`, roomID, typ, stateKey).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.Event(ctx, id)
}

// Membership is a user's membership of a room at some point.
type Membership struct {
	RoomID     string
	UserID     string
	Membership string
	EventID    string
	StreamPos  int64
}

// RoomsForUser returns the rooms where the user's current membership is one
// of the given values.
func (s *Store) RoomsForUser(ctx context.Context, userID string, memberships ...string) ([]Membership, error) {
	args := []any{userID}
	for _, m := range memberships {
		args = append(args, m)
	}
	return s.queryMemberships(ctx, userID, `SELECT room_id, membership, event_id, stream_pos FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1 AND membership IN (`+sqldb.Placeholders(2, len(memberships))+`)`, args...)
}

// queryMemberships reads (room_id, membership, event_id, stream_pos) rows.
func (s *Store) queryMemberships(ctx context.Context, userID, q string, args ...any) ([]Membership, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		m := Membership{UserID: userID}
		if err := rows.Scan(&m.RoomID, &m.Membership, &m.EventID, &m.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Members returns the current members of a room with the given memberships
// (all memberships when none are given), as user ID → membership.
func (s *Store) Members(ctx context.Context, roomID string, memberships ...string) (map[string]string, error) {
	q := `SELECT state_key, membership FROM current_state WHERE room_id = $1 AND type = 'm.room.member'`
	args := []any{roomID}
	if len(memberships) > 0 {
		q += ` AND membership IN (` + sqldb.Placeholders(2, len(memberships)) + `)`
		for _, m := range memberships {
			args = append(args, m)
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, m string
		if err := rows.Scan(&u, &m); err != nil {
			return nil, err
		}
		out[u] = m
	}
	return out, rows.Err()
}

// MembershipsAt returns, for every room the user has a membership event in
// at or before stream position pos, the latest such membership.
//
// pos must be stable: every write at or below it has finished
// (streams.Tracker.Current, or earlier). The answer is cached per user and
// later brought forward by reading only the rows after the cached position,
// so a membership committed at or below pos after this call would be missed
// for good. The returned slice is shared: callers must not modify it.
func (s *Store) MembershipsAt(ctx context.Context, userID string, pos int64) ([]Membership, error) {
	cached := s.members.get(userID)
	if cached != nil {
		switch {
		case cached.pos == pos:
			return cached.list, nil
		case cached.pos < pos:
			changes, err := s.queryMemberships(ctx, userID, `SELECT room_id, membership, event_id, stream_pos FROM membership_log
				WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, userID, cached.pos, pos)
			if err != nil {
				return nil, err
			}
			um := &userMemberships{user: userID, pos: pos, list: applyMemberships(cached.list, changes)}
			s.members.put(um)
			return um.list, nil
		case latestAtOrBefore(cached.list, pos):
			// An earlier position (a sync's since token) with no change
			// since: the memberships then were the same.
			return cached.list, nil
		}
	}
	// The user's whole (short) history in position order, keeping the last
	// row per room: much cheaper than a correlated subquery.
	history, err := s.queryMemberships(ctx, userID, `SELECT room_id, membership, event_id, stream_pos FROM membership_log
		WHERE user_id = $1 AND stream_pos <= $2 ORDER BY stream_pos`, userID, pos)
	if err != nil {
		return nil, err
	}
	out := applyMemberships(nil, history)
	if cached == nil || cached.pos < pos {
		s.members.put(&userMemberships{user: userID, pos: pos, list: out})
	}
	return out, nil
}

// latestAtOrBefore reports whether every membership in list happened at or
// before pos.
func latestAtOrBefore(list []Membership, pos int64) bool {
	for _, m := range list {
		if m.StreamPos > pos {
			return false
		}
	}
	return true
}

// LastEventAt returns the room's latest accepted timeline event at or
// before stream position pos, or nil.
func (s *Store) LastEventAt(ctx context.Context, roomID string, pos int64) (*StoredEvent, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE room_id = $1 AND stream_pos > 0 AND stream_pos <= $2 AND NOT rejected AND NOT soft_failed
		ORDER BY stream_pos DESC LIMIT 1`, roomID, pos)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	return evs[0], nil
}

// EventNearTS returns the room's timeline event closest to ts in the given
// direction (forward: the first at or after ts; backward: the last at or
// before), among events visible up to stream position upTo.
func (s *Store) EventNearTS(ctx context.Context, roomID string, ts int64, forward bool, upTo int64) (*StoredEvent, error) {
	q := `SELECT ` + eventCols + ` FROM events WHERE room_id = $1 AND stream_pos IS NOT NULL AND stream_pos <= $3
		AND NOT rejected AND NOT soft_failed AND origin_server_ts <= $2 ORDER BY origin_server_ts DESC, stream_pos DESC LIMIT 1`
	if forward {
		q = `SELECT ` + eventCols + ` FROM events WHERE room_id = $1 AND stream_pos IS NOT NULL AND stream_pos <= $3
		AND NOT rejected AND NOT soft_failed AND origin_server_ts >= $2 ORDER BY origin_server_ts ASC, stream_pos ASC LIMIT 1`
	}
	evs, err := s.queryEvents(ctx, q, roomID, ts, upTo)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	return evs[0], nil
}

// RoomsWithEvents returns the rooms that have timeline events with stream
// positions in (from, to]: an incremental sync only looks at those.
func (s *Store) RoomsWithEvents(ctx context.Context, from, to int64) (map[string]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT room_id FROM events WHERE stream_pos > $1 AND stream_pos <= $2`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out[r] = true
	}
	return out, rows.Err()
}

// MemberSummary is what a room summary is computed from: member counts and
// the candidates for heroes.
type MemberSummary struct {
	Joined, Invited int
	// First are the room's joined and invited members in the order of
	// their membership events (client-server-api "/sync", m.heroes: "the
	// first 5 members of the room, ordered by stream ordering"), up to
	// HeroCandidates of them. FirstGone are left and banned members in the
	// same order, read only when First holds nobody but at most one user:
	// the spec's fallback for a room with no one else in it.
	First, FirstGone []string
}

// HeroCandidates is how many members MemberSummaryOf lists: five heroes
// once the reader is left out.
const HeroCandidates = 6

// MemberSummaryOf reads the room's member counts and first members from
// its current state, without reading every member.
func (s *Store) MemberSummaryOf(ctx context.Context, roomID string) (MemberSummary, error) {
	all, err := s.MemberSummaries(ctx, []string{roomID})
	if err != nil {
		return MemberSummary{}, err
	}
	return *all[roomID], nil
}

// AvatarInUse reports whether url appears in the current m.room.avatar
// event of some room, for media retention. (Member events are not
// searched: their avatars are the users' profile avatars, which the
// accounts store answers for, and scanning every member event per item
// would not scale.) The match is textual on the stored event: LIKE's
// wildcards can only make it keep more, never less.
func (s *Store) AvatarInUse(ctx context.Context, url string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM current_state cs
		JOIN events e ON e.event_id = cs.event_id
		WHERE cs.type = 'm.room.avatar' AND e.pdu LIKE $1`, "%\""+url+"\"%").Scan(&n)
	return n > 0, err
}
