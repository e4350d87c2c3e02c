package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
)

// Writer is one write transaction on the rooms storage. The room engine
// composes a batch (events, snapshots, current state, extremities) and it
// commits or fails as a whole: a client is answered only after commit.
type Writer struct {
	s   *Store
	tx  *sql.Tx
	ctx context.Context
}

// Write runs fn in one transaction (retried as a whole on transient
// conflicts, so fn must be repeatable).
func (s *Store) Write(ctx context.Context, fn func(w *Writer) error) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		return fn(&Writer{s: s, tx: tx, ctx: ctx})
	})
}

// CreateRoom records a new room.
func (w *Writer) CreateRoom(roomID, version string, createdTS int64) error {
	_, err := w.tx.ExecContext(w.ctx, `INSERT INTO rooms (room_id, room_version, created_ts) VALUES ($1, $2, $3)`,
		roomID, version, createdTS)
	return err
}

// NewEvent is an event to persist.
type NewEvent struct {
	Event       *event.Event
	StreamPos   int64 // 0 for an outlier
	StateBefore int64
	StateAfter  int64
	Outlier     bool
	// Outbox records the event for the federation sender in the same
	// transaction (see Store.Outbox).
	Outbox     bool
	Rejected   bool
	SoftFailed bool
	// AfterGap marks a received event whose prev events are not all held
	// (see StoredEvent.AfterGap).
	AfterGap bool
	// Txn records the client transaction that sent the event, for
	// idempotent sends (see InsertEvent).
	Txn *TxnKey
}

// TxnKey identifies a client transaction: the spec scopes a transaction ID
// to a device and an HTTP endpoint (client-server-api, "Transaction
// identifiers"), so the key holds the room and what the path names after
// it as well as the ID.
type TxnKey struct {
	UserID, DeviceID, TxnID string
	RoomID                  string
	// Endpoint is "send" (PUT /rooms/{roomId}/send/{eventType}/{txnId}) or
	// "redact" (PUT /rooms/{roomId}/redact/{eventId}/{txnId}); Target is
	// the event type or the event ID of the path.
	Endpoint, Target string
}

// TxnTakenError is what InsertEvent returns when its event's transaction
// is already recorded for another event: the caller made a second event
// for a retransmission, and must answer with EventID instead.
type TxnTakenError struct {
	Key     TxnKey
	EventID string
}

func (e *TxnTakenError) Error() string {
	return fmt.Sprintf("roomstore: transaction %q of %s's device %s is already event %s", e.Key.TxnID, e.Key.UserID, e.Key.DeviceID, e.EventID)
}

// InsertEvent stores an event; inserting a known event ID is a no-op that
// reports inserted=false.
func (w *Writer) InsertEvent(ne NewEvent) (inserted bool, err error) {
	e := ne.Event
	var stateKey, txnDevice, txnID any
	if e.StateKey() != nil {
		stateKey = *e.StateKey()
	}
	if ne.Txn != nil {
		txnDevice, txnID = ne.Txn.DeviceID, ne.Txn.TxnID
	}
	var pos any
	if ne.StreamPos != 0 {
		pos = ne.StreamPos
	}
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO events (event_id, room_id, stream_pos, depth, type, state_key, sender,
		origin_server_ts, pdu, rejected, soft_failed, state_before, state_after, outlier, txn_device, txn_id, after_gap)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (event_id) DO NOTHING`,
		e.EventID(), e.RoomID(), pos, e.Depth(), e.Type(), stateKey, e.Sender(), e.OriginServerTS(),
		string(e.FederationJSON()), ne.Rejected, ne.SoftFailed, ne.StateBefore, ne.StateAfter, ne.Outlier, txnDevice, txnID, ne.AfterGap)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return false, nil
	}
	if ne.Outbox && ne.StreamPos > 0 {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO federation_outbox (stream_pos, event_id) VALUES ($1, $2)`,
			ne.StreamPos, e.EventID()); err != nil {
			return false, err
		}
	}
	if ne.Txn != nil {
		if err := w.recordTxn(*ne.Txn, e.EventID()); err != nil {
			return false, err
		}
	}
	if e.Type() == event.TypeMember && e.StateKey() != nil && ne.StreamPos > 0 && !ne.Rejected && !ne.SoftFailed {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO membership_log (event_id, room_id, user_id, sender, membership, stream_pos)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.EventID(), e.RoomID(), *e.StateKey(), e.Sender(), e.Membership(), ne.StreamPos); err != nil {
			return false, err
		}
		if m := e.Membership(); m == event.Join || m == event.Invite || m == event.Knock {
			// Coming back into a room un-forgets it (Synapse does the same).
			if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, *e.StateKey(), e.RoomID()); err != nil {
				return false, err
			}
		} else if w.s.forgetsOnLeave(*e.StateKey()) {
			if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
				*e.StateKey(), e.RoomID()); err != nil {
				return false, err
			}
		}
	}
	if err := w.index(ne); err != nil {
		return false, err
	}
	return true, nil
}

// recordTxn records that the transaction k sent eventID. The key is
// unique, so two events can never both claim one transaction: a conflict
// is reported as a *TxnTakenError naming the event already recorded (the
// one the client was, or will be, answered with), and the caller's write
// fails rather than store a duplicate.
func (w *Writer) recordTxn(k TxnKey, eventID string) error {
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO client_txns (user_id, device_id, room_id, endpoint, target, txn_id, event_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		k.UserID, k.DeviceID, k.RoomID, k.Endpoint, k.Target, k.TxnID, eventID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var taken string
	if err := w.tx.QueryRowContext(w.ctx, `SELECT event_id FROM client_txns WHERE `+txnKeyWhere, txnKeyArgs(k)...).Scan(&taken); err != nil {
		return err
	}
	return &TxnTakenError{Key: k, EventID: taken}
}

// NewSnapshot stores a state snapshot as a delta over parent (0 for none)
// and returns its ID. full returns the resulting complete state; it is
// called only when the delta chain has grown long and a full copy is due.
func (w *Writer) NewSnapshot(roomID string, parent int64, delta StateMap, full func() StateMap) (int64, error) {
	chainLen := 0
	if parent != 0 {
		if err := w.tx.QueryRowContext(w.ctx, `SELECT chain_len FROM state_snapshots WHERE snapshot_id = $1`, parent).Scan(&chainLen); err != nil {
			return 0, err
		}
		chainLen++
	}
	if chainLen > maxChainLen {
		parent, chainLen, delta = 0, 0, full()
	}
	var id int64
	if err := w.tx.QueryRowContext(w.ctx, `INSERT INTO state_snapshots (room_id, parent_id, chain_len) VALUES ($1, $2, $3)
		RETURNING snapshot_id`, roomID, parent, chainLen).Scan(&id); err != nil {
		return 0, err
	}
	for t, ev := range delta {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO state_snapshot_entries (snapshot_id, type, state_key, event_id)
			VALUES ($1, $2, $3, $4)`, id, t.Type, t.StateKey, ev); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// SetCurrentSnapshot records the snapshot that is the room's current state.
func (w *Writer) SetCurrentSnapshot(roomID string, snapshot int64) error {
	_, err := w.tx.ExecContext(w.ctx, `UPDATE rooms SET current_snapshot = $1 WHERE room_id = $2`, snapshot, roomID)
	return err
}

// SetCurrentState updates the flat current state with one event.
func (w *Writer) SetCurrentState(e *event.Event, streamPos int64) error {
	var membership any
	if e.Type() == event.TypeMember {
		membership = e.Membership()
	}
	_, err := w.tx.ExecContext(w.ctx, `INSERT INTO current_state (room_id, type, state_key, event_id, membership, stream_pos)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id,
			membership = excluded.membership, stream_pos = excluded.stream_pos`,
		e.RoomID(), e.Type(), *e.StateKey(), e.EventID(), membership, streamPos)
	return err
}

// SetForwardExtremities replaces the room's DAG tips.
func (w *Writer) SetForwardExtremities(roomID string, eventIDs []string) error {
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM forward_extremities WHERE room_id = $1`, roomID); err != nil {
		return err
	}
	for _, id := range eventIDs {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)`, roomID, id); err != nil {
			return err
		}
	}
	return nil
}

// MarkRedacted records that redactionID redacts eventID.
func (w *Writer) MarkRedacted(eventID, redactionID string) error {
	res, err := w.tx.ExecContext(w.ctx, `UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND redacted_by IS NULL`, redactionID, eventID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // unknown yet, or redacted before: nothing indexed changes
	}
	return w.unindex(eventID)
}

// ApplyRedaction marks red's target redacted when red may redact it:
// same room, and either red's sender may redact anyone's events
// (anySender, from the power levels) or both senders are on one server
// (the check room versions 3 and later leave to the moment the target is
// known; rooms/v3 "Redactions"). A target we do not hold yet is
// remembered and redacted when it arrives (ApplyPendingRedactions).
func (w *Writer) ApplyRedaction(red *event.Event, anySender bool) error {
	var sender, roomID string
	err := w.tx.QueryRowContext(w.ctx, `SELECT sender, room_id FROM events WHERE event_id = $1`, red.Redacts()).Scan(&sender, &roomID)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = w.tx.ExecContext(w.ctx, `INSERT INTO pending_redactions (target_id, redaction_id, room_id, sender, any_sender)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_id, redaction_id) DO NOTHING`,
			red.Redacts(), red.EventID(), red.RoomID(), red.Sender(), anySender)
		return err
	}
	if err != nil {
		return err
	}
	if roomID != red.RoomID() || (!anySender && serverOf(sender) != serverOf(red.Sender())) {
		return nil
	}
	return w.MarkRedacted(red.Redacts(), red.EventID())
}

// ApplyPendingRedactions marks a newly stored event redacted by a
// redaction that arrived before it, when that redaction may redact it:
// same room, and either its sender could redact anyone's events or the
// two senders are on the same server (the check the room versions' rules
// leave to the moment the target is known; rooms/v3 "Redactions").
func (w *Writer) ApplyPendingRedactions(ev *event.Event) error {
	type pending struct {
		redactionID, roomID, sender string
		anySender                   bool
	}
	var found []pending
	rows, err := w.tx.QueryContext(w.ctx, `SELECT redaction_id, room_id, sender, any_sender FROM pending_redactions WHERE target_id = $1`, ev.EventID())
	if err != nil {
		return err
	}
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.redactionID, &p.roomID, &p.sender, &p.anySender); err != nil {
			rows.Close()
			return err
		}
		found = append(found, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(found) == 0 {
		return err
	}
	for _, p := range found {
		if p.roomID == ev.RoomID() && (p.anySender || serverOf(p.sender) == serverOf(ev.Sender())) {
			if err := w.MarkRedacted(ev.EventID(), p.redactionID); err != nil {
				return err
			}
			break
		}
	}
	_, err = w.tx.ExecContext(w.ctx, `DELETE FROM pending_redactions WHERE target_id = $1`, ev.EventID())
	return err
}

// serverOf is the server name of a user ID ("" when it has none).
func serverOf(userID string) string {
	if i := strings.IndexByte(userID, ':'); i >= 0 {
		return userID[i+1:]
	}
	return ""
}

// SetPublic sets whether the room is listed in the public room directory.
func (w *Writer) SetPublic(roomID string, public bool) error {
	_, err := w.tx.ExecContext(w.ctx, `UPDATE rooms SET is_public = $1 WHERE room_id = $2`, public, roomID)
	return err
}

// DemoteOutsiderMemberships takes a room's outsider membership records
// (invites, knocks and their rejections received while this server was not
// in the room: stream positions but no state) out of the timeline, keeping
// them as outliers, when the server joins the room. The join is then the
// first event of the room's timeline here, with the room's state before it
// (as Synapse keeps such out-of-band memberships outside the room's
// timeline). membership_log keeps them for the membership history.
func (w *Writer) DemoteOutsiderMemberships(roomID string) error {
	_, err := w.tx.ExecContext(w.ctx, `UPDATE events SET outlier = TRUE, stream_pos = NULL
		WHERE room_id = $1 AND stream_pos IS NOT NULL AND type = $2 AND state_before = 0 AND NOT outlier`,
		roomID, event.TypeMember)
	return err
}

// PromoteOutlier gives an event we held as an outlier its place in the
// timeline once we learn the state before it (e.g. a backfilled event).
func (w *Writer) PromoteOutlier(ne NewEvent) error {
	var pos any
	if ne.StreamPos != 0 {
		pos = ne.StreamPos
	}
	res, err := w.tx.ExecContext(w.ctx, `UPDATE events SET outlier = FALSE, stream_pos = $1, state_before = $2, state_after = $3,
		rejected = $4, soft_failed = $5, after_gap = $6 WHERE event_id = $7 AND outlier`, pos, ne.StateBefore, ne.StateAfter, ne.Rejected, ne.SoftFailed, ne.AfterGap, ne.Event.EventID())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	// An outlier can have been redacted before it was promoted; its index
	// entry must not hold what the redaction removed.
	var redacted bool
	if err := w.tx.QueryRowContext(w.ctx, `SELECT redacted_by IS NOT NULL FROM events WHERE event_id = $1`, ne.Event.EventID()).Scan(&redacted); err != nil {
		return err
	}
	if redacted {
		return nil
	}
	ne.Outlier = false
	return w.index(ne)
}

// DeleteCurrentState removes a key from the flat current state (state
// resolution can drop a key that only one branch had).
func (w *Writer) DeleteCurrentState(roomID, typ, stateKey string) error {
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`, roomID, typ, stateKey)
	return err
}

// StateAt is Store.StateAt inside this transaction, so snapshots written
// earlier in it (not yet committed) are visible.
func (w *Writer) StateAt(snapshotID int64) (StateMap, error) {
	if snapshotID == 0 {
		return StateMap{}, nil
	}
	w.s.snapMu.Lock()
	m, ok := w.s.snaps[snapshotID]
	w.s.snapMu.Unlock()
	if ok {
		return m, nil
	}
	// Not cached: this transaction may still roll back, and a rolled-back
	// snapshot's ID can be handed out again by a later insert.
	return w.s.stateAt(w.ctx, w.tx, snapshotID, false)
}
