package rooms

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// Txn identifies a client transaction: the ID a device sent to one
// endpoint. The spec scopes a transaction ID to "a single device, and a
// single HTTP endpoint", and a retransmission has the same path
// (client-server-api, "Transaction identifiers"), so the engine adds the
// room and the path's event type (or redacted event) to the key.
type Txn struct {
	UserID, DeviceID, TxnID string
	// Endpoint is TxnSend (also when empty) or TxnRedact.
	Endpoint string
}

// Txn endpoints.
const (
	TxnSend   = "send"   // PUT /rooms/{roomId}/send/{eventType}/{txnId}
	TxnRedact = "redact" // PUT /rooms/{roomId}/redact/{eventId}/{txnId}
)

// key is the transaction's key for sending b to roomID.
func (t *Txn) key(roomID string, b *event.Builder) roomstore.TxnKey {
	k := roomstore.TxnKey{UserID: t.UserID, DeviceID: t.DeviceID, TxnID: t.TxnID, RoomID: roomID, Endpoint: TxnSend, Target: b.Type}
	if t.Endpoint == TxnRedact {
		k.Endpoint, k.Target = TxnRedact, b.Redacts
	}
	return k
}

// Send builds, authorises and durably stores one event from a local user,
// returning it once committed. A repeated Txn returns the first event, even
// when the copies arrive together.
func (e *Engine) Send(ctx context.Context, roomID string, b *event.Builder, txn *Txn) (*event.Event, error) {
	if err := checkText("room ID", roomID); err != nil {
		return nil, err
	}
	if err := checkBuilder(b); err != nil {
		return nil, err
	}
	var key *roomstore.TxnKey
	if txn != nil {
		if err := checkTxn(txn); err != nil {
			return nil, err
		}
		k := txn.key(roomID, b)
		key = &k
		if ev, err := e.txnEvent(ctx, k); ev != nil || err != nil {
			return ev, err
		}
	}
	if _, err := e.store.Room(ctx, roomID); err != nil {
		return nil, err
	}
	if b.Type == event.TypeMember {
		if err := e.checkMembershipBlocked(ctx, roomID, b); err != nil {
			return nil, err
		}
	}
	b.RoomID = roomID
	r := &request{builders: []*event.Builder{b}, txn: key}
	if b.Type == event.TypeRedaction {
		r.check = e.checkRedaction(ctx)
	}
	evs, err := e.submit(ctx, roomID, r)
	if err != nil {
		return nil, err
	}
	return evs[len(evs)-1], nil
}

func (e *Engine) txnEvent(ctx context.Context, k roomstore.TxnKey) (*event.Event, error) {
	id, err := e.store.EventForTxn(ctx, k)
	if err != nil || id == "" {
		return nil, err
	}
	se, err := e.store.Event(ctx, id)
	if err != nil {
		return nil, err
	}
	return se.Event, nil
}

// checkRedaction applies the rule servers use before applying a redaction
// (rooms/fragments/v3-handling-redactions.md): the redacter needs the redact
// power level, or to be redacting an event from their own server. For local
// clients Synapse is stricter and requires the same sender; we follow it.
func (e *Engine) checkRedaction(ctx context.Context) func(st *roomState, b *event.Builder) error {
	return func(st *roomState, b *event.Builder) error {
		target, err := e.store.Event(ctx, b.Redacts)
		if err != nil || target.RoomID() != b.RoomID {
			return merr.NotFound("event to redact not found in this room")
		}
		if target.Sender() == b.Sender {
			return nil
		}
		pl, err := eventauth.PowerLevelsFrom(st.state, st.version)
		if err != nil {
			return err
		}
		if pl.UserLevel(b.Sender) < pl.Redact {
			return merr.Forbidden("you may only redact your own events without the redact power level")
		}
		return nil
	}
}

// State returns the current value of one state event, or a not-found error.
func (e *Engine) State(ctx context.Context, roomID, typ, stateKey string) (*event.Event, error) {
	se, err := e.store.CurrentStateEvent(ctx, roomID, typ, stateKey)
	if err != nil {
		return nil, err
	}
	if se == nil {
		return nil, merr.NotFound("state event not found")
	}
	return se.Event, nil
}

// Content builds a JSON object from a Go value for a Builder.
func Content(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("rooms: content not encodable: " + err.Error())
	}
	return b
}
