package rooms

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
)

// TxnEventID returns the ID of the event a device already stored under txn
// when sending b to roomID, or "" if there is none yet. The client API asks
// before spending a rate-limit token: a retry of a stored transaction is
// free. Only b's type (or redacted event) matters here; its content may be
// unread yet. Identifiers are checked as Send checks them, so a bad one is
// the same 400 here and never reaches the database.
func (e *Engine) TxnEventID(ctx context.Context, roomID string, b *event.Builder, txn *Txn) (string, error) {
	if err := checkText("room ID", roomID); err != nil {
		return "", err
	}
	if err := checkBuilder(b); err != nil {
		return "", err
	}
	if err := checkTxn(txn); err != nil {
		return "", err
	}
	return e.store.EventForTxn(ctx, txn.key(roomID, b))
}
