package rooms

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Txn identifies a client transaction (spec: client-server-api
// "Transaction identifiers": scoped to the device).
type Txn struct{ UserID, DeviceID, TxnID string }

// Send builds, authorises and durably stores one event from a local user,
// returning it once committed. A repeated Txn returns the first event.
func (e *Engine) Send(ctx context.Context, roomID string, b *event.Builder, txn *Txn) (*event.Event, error) {
	if txn != nil {
		if ev, err := e.txnEvent(ctx, txn); ev != nil || err != nil {
			return ev, err
		}
	}
	if _, err := e.store.Room(ctx, roomID); err != nil {
		return nil, err
	}
	b.RoomID = roomID
	r := &request{builders: []*event.Builder{b}}
	if txn != nil {
		r.txn = &txnKey{txn.UserID, txn.DeviceID, txn.TxnID}
	}
	if b.Type == event.TypeRedaction {
		r.check = e.checkRedaction(ctx)
	}
	evs, err := e.submit(ctx, roomID, r)
	if err != nil {
		return nil, err
	}
	return evs[len(evs)-1], nil
}

func (e *Engine) txnEvent(ctx context.Context, txn *Txn) (*event.Event, error) {
	id, err := e.store.EventForTxn(ctx, txn.UserID, txn.DeviceID, txn.TxnID)
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
