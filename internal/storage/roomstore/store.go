// Package roomstore persists rooms: events, state snapshots, current state,
// membership history, forward extremities, transaction IDs and aliases. One
// set of SQL serves SQLite and PostgreSQL (see sqldb).
//
// Writes happen through Write, one database transaction per batch, which the
// room engine calls from the single writer goroutine of each room.
package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Store is the rooms storage.
type Store struct {
	db *sqldb.DB

	snapMu sync.Mutex
	snaps  map[int64]StateMap // immutable snapshots, bounded by snapCacheMax
	// snapEntries counts the entries of snaps, bounded by snapCacheMaxEntries.
	snapEntries int

	events   *eventCache
	members  *membershipCache
	versions map[string]*roomversion.Version // guarded by snapMu

	queueOnce sync.Once
	queue     *commitQueue // see WriteGrouped

	indexers []Indexer // see AddIndexer

	// commitObserver, when set, is told of every group commit (metrics).
	commitObserver func(writes int, took time.Duration, err error)

	// forgetOnLeave, when set, is the server name whose users forget a
	// room as they leave it or are banned (see ForgetOnLeave).
	forgetOnLeave string
}

// ForgetOnLeave makes every leave or ban of a user of serverName forget
// the room for them, in the membership's own transaction: Synapse's
// forget_rooms_on_leave, advertised as m.forget_forced_upon_leave
// (client-server-api, spec v1.18: "irrespective of whether the user has
// left the room on their own ... or has been kicked or banned"). Set while
// the server is wired, before the first write.
func (s *Store) ForgetOnLeave(serverName string) {
	s.forgetOnLeave = serverName
}

// forgetsOnLeave reports whether userID forgets rooms as they leave them.
func (s *Store) forgetsOnLeave(userID string) bool {
	if s.forgetOnLeave == "" {
		return false
	}
	srv, err := ids.UserServer(userID)
	return err == nil && string(srv) == s.forgetOnLeave
}

// ObserveCommits has fn told of every commit of WriteGrouped (a group
// commit, or a write of its own where writes are not grouped): how many
// writes it held, how long the transaction took and whether it
// failed. Set while the server is wired, before the first write.
func (s *Store) ObserveCommits(fn func(writes int, took time.Duration, err error)) {
	s.commitObserver = fn
}

// DefaultEventCacheSize is how many parsed events the store keeps, and
// DefaultEventCacheBytes how much memory they may take (see eventCost),
// whichever bound is reached first.
const (
	DefaultEventCacheSize  = 50000
	DefaultEventCacheBytes = 96 << 20
)

// eventCacheBytes is the parsed-event cache's budget: the default, or a
// quarter of the Go runtime's soft memory limit (GOMEMLIMIT) when that is
// lower, so that a process told to stay within a limit keeps most of it
// for the work it does rather than for cached events, and its collector
// does not run without cease against a limit the cache fills.
func eventCacheBytes() int {
	limit := debug.SetMemoryLimit(-1) // reads the limit; math.MaxInt64 if unset
	return int(min(int64(DefaultEventCacheBytes), limit/4))
}

const snapCacheMax = 4096

// snapCacheMaxEntries bounds the cached snapshots' entries, ~60 bytes each:
// about 15 MiB.
const snapCacheMaxEntries = 250000

// StateMap maps a state tuple to an event ID.
type StateMap map[event.StateTuple]string

// New runs the domain's migrations and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, "rooms", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, snaps: map[int64]StateMap{}, events: newEventCache(DefaultEventCacheSize, eventCacheBytes()),
		members: newMembershipCache(DefaultMembershipCacheSize), versions: map[string]*roomversion.Version{}}, nil
}

// DB exposes the database for packages that join rooms data in one
// transaction (none should need to write through it).
func (s *Store) DB() *sqldb.DB { return s.db }

// Room describes a room we know.
type Room struct {
	RoomID          string
	Version         *roomversion.Version
	CurrentSnapshot int64
	IsPublic        bool
}

// StoredEvent is an event with what we know about it locally.
type StoredEvent struct {
	*event.Event
	NID         int64
	StreamPos   int64 // 0 for outliers
	Rejected    bool
	SoftFailed  bool
	StateBefore int64
	// StateAfter is the snapshot after the event (0 when equal to StateBefore).
	StateAfter int64
	Outlier    bool
	// AfterGap: some prev events of this received event were never got,
	// so the timeline has a hole just before it.
	AfterGap   bool
	RedactedBy string
	// ErasedCopy marks a copy served in redacted form because its sender
	// was erased (rooms.TimelineStates.Visible); never stored.
	ErasedCopy bool
	TxnDevice  string
	TxnID      string
}

// Room returns the room or an merr not-found error.
func (s *Store) Room(ctx context.Context, roomID string) (*Room, error) {
	var r Room
	var ver string
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT room_id, room_version, current_snapshot, is_public FROM rooms WHERE room_id = $1`, roomID).
		Scan(&r.RoomID, &ver, &r.CurrentSnapshot, &r.IsPublic)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, merr.NotFound("unknown room")
	}
	if err != nil {
		return nil, err
	}
	v, ok := roomversion.Get(roomversion.ID(ver))
	if !ok {
		return nil, fmt.Errorf("room %s has unsupported version %q", roomID, ver)
	}
	r.Version = v
	return &r, nil
}

// MaxStreamPos is the highest stream position persisted (0 when empty).
func (s *Store) MaxStreamPos(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(stream_pos) FROM events`).Scan(&n)
	return n.Int64, err
}

const eventCols = `event_nid, event_id, room_id, pdu, COALESCE(stream_pos, 0), rejected, soft_failed, state_before, state_after, outlier, after_gap,
	COALESCE(redacted_by, ''), COALESCE(txn_device, ''), COALESCE(txn_id, '')`

type scanner interface{ Scan(dest ...any) error }

// rawEvent is one events row, read without further queries: a query's rows
// must be fully read and closed before the next query runs, or concurrent
// readers can each hold a pool connection while waiting for another one (a
// deadlock the load tool found with 100 syncing users).
type rawEvent struct {
	se              StoredEvent
	eventID, roomID string
	pdu             string
}

func scanRaw(row scanner) (*rawEvent, error) {
	var r rawEvent
	se := &r.se
	if err := row.Scan(&se.NID, &r.eventID, &r.roomID, &r.pdu, &se.StreamPos, &se.Rejected, &se.SoftFailed, &se.StateBefore,
		&se.StateAfter, &se.Outlier, &se.AfterGap, &se.RedactedBy, &se.TxnDevice, &se.TxnID); err != nil {
		return nil, err
	}
	return &r, nil
}

// roomVersion returns a room's version; versions never change, so they
// are cached for the life of the store.
func (s *Store) roomVersion(ctx context.Context, roomID string) (*roomversion.Version, error) {
	s.snapMu.Lock()
	v, ok := s.versions[roomID]
	s.snapMu.Unlock()
	if ok {
		return v, nil
	}
	r, err := s.Room(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("event in unknown room %s: %w", roomID, err)
	}
	s.snapMu.Lock()
	s.versions[roomID] = r.Version
	s.snapMu.Unlock()
	return r.Version, nil
}

// finish turns a raw row into a StoredEvent, parsing the event (or taking
// it from the cache).
func (s *Store) finish(ctx context.Context, r *rawEvent) (*StoredEvent, error) {
	se := r.se
	if se.Event != nil { // already taken from the cache
		return &se, nil
	}
	if ev := s.events.get(r.eventID); ev != nil {
		se.Event = ev
		return &se, nil
	}
	v, err := s.roomVersion(ctx, r.roomID)
	if err != nil {
		return nil, err
	}
	// What we stored passed Parse (or was built here) on the way in.
	ev, err := event.ParseTrusted([]byte(r.pdu), v, r.eventID)
	if err != nil {
		return nil, fmt.Errorf("stored event %s does not parse: %w", r.eventID, err)
	}
	s.events.put(ev)
	se.Event = ev
	return &se, nil
}

func (s *Store) scanEvent(ctx context.Context, row scanner) (*StoredEvent, error) {
	r, err := scanRaw(row)
	if err != nil {
		return nil, err
	}
	return s.finish(ctx, r)
}

// readRaw runs a query and reads all its rows before returning.
func (s *Store) readRaw(ctx context.Context, q string, args ...any) ([]*rawEvent, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*rawEvent
	for rows.Next() {
		r, err := scanRaw(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Event returns one event by ID, or a not-found merr error.
func (s *Store) Event(ctx context.Context, eventID string) (*StoredEvent, error) {
	row := s.db.Read.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE event_id = $1`, eventID)
	se, err := s.scanEvent(ctx, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, merr.NotFound("event not found")
	}
	return se, err
}

// Remember puts events just committed into the parsed-event cache, so that
// reading them back shares the Event the writer already holds (a room's
// current state, say) instead of parsing a second copy. Only events this
// store inserted may be given: the cache must hold what the database does.
func (s *Store) Remember(evs ...*event.Event) {
	for _, ev := range evs {
		s.events.put(ev)
	}
}

// EventOnly returns an event without its local metadata (stream position,
// redaction, rejection), from the parsed-event cache when it is there: what
// state lookups need, since events never change. It returns a not-found
// merr error for an unknown event.
func (s *Store) EventOnly(ctx context.Context, eventID string) (*event.Event, error) {
	if ev := s.events.get(eventID); ev != nil {
		return ev, nil
	}
	se, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	return se.Event, nil
}

// EventsOnly is EventOnly for many events: the known ones among ids, keyed
// by ID, reading only those the cache does not hold.
func (s *Store) EventsOnly(ctx context.Context, ids []string) (map[string]*event.Event, error) {
	out := make(map[string]*event.Event, len(ids))
	var missing []string
	for _, id := range ids {
		if ev := s.events.get(id); ev != nil {
			out[id] = ev
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := s.Events(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, se := range got {
		out[id] = se.Event
	}
	return out, nil
}

// Events returns the known events among ids, keyed by ID.
func (s *Store) Events(ctx context.Context, ids []string) (map[string]*StoredEvent, error) {
	out := make(map[string]*StoredEvent, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(len(ids), start+500)]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		raws, err := s.readRaw(ctx, `SELECT `+eventCols+` FROM events WHERE event_id IN (`+sqldb.Placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, r := range raws {
			se, err := s.finish(ctx, r)
			if err != nil {
				return nil, err
			}
			out[se.EventID()] = se
		}
	}
	return out, nil
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]*StoredEvent, error) {
	raws, err := s.readRaw(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := make([]*StoredEvent, 0, len(raws))
	for _, r := range raws {
		se, err := s.finish(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, nil
}

// RoomEvents returns up to limit timeline events of a room with stream
// positions in (from, to], oldest first when forward, newest first otherwise.
// Rejected and soft-failed events are never returned.
func (s *Store) RoomEvents(ctx context.Context, roomID string, from, to int64, limit int, forward bool) ([]*StoredEvent, error) {
	order := "DESC"
	if forward {
		order = "ASC"
	}
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3 AND NOT rejected AND NOT soft_failed
		ORDER BY stream_pos `+order+` LIMIT $4`, roomID, from, to, limit)
}

// StreamEvents returns up to limit timeline events of any room with stream
// positions in (from, to], oldest first, for consumers that follow the
// stream from a cursor of their own (push). Rejected and soft-failed
// events are never returned.
func (s *Store) StreamEvents(ctx context.Context, from, to int64, limit int) ([]*StoredEvent, error) {
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE stream_pos > $1 AND stream_pos <= $2 AND NOT rejected AND NOT soft_failed
		ORDER BY stream_pos LIMIT $3`, from, to, limit)
}

const txnKeyWhere = `user_id = $1 AND device_id = $2 AND txn_id = $3 AND room_id = $4 AND endpoint = $5 AND target = $6`

func txnKeyArgs(k TxnKey) []any {
	return []any{k.UserID, k.DeviceID, k.TxnID, k.RoomID, k.Endpoint, k.Target}
}

// EventForTxn returns the event ID already sent under the transaction k,
// or "".
func (s *Store) EventForTxn(ctx context.Context, k TxnKey) (string, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT event_id FROM client_txns WHERE `+txnKeyWhere, txnKeyArgs(k)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// ForwardExtremities returns the room's current DAG tips.
func (s *Store) ForwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	return s.strings(ctx, `SELECT event_id FROM forward_extremities WHERE room_id = $1 ORDER BY event_id`, roomID)
}

func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
