package federationapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/merr"
)

// InboundEDU is one EDU of a received transaction (server-server-api
// "EDUs"), handed to the handler registered for its type.
type InboundEDU struct {
	// Origin is the transaction's authenticated origin server.
	Origin  string
	Type    string
	Content json.RawMessage
	// RoomAllowed reports whether the room's m.room.server_acl admits the
	// origin. EDUs that name a room (m.typing, m.receipt) must be ignored
	// for rooms that deny it (server-server-api "Server Access Control
	// Lists (ACLs)"). Checked once per room and transaction; call it from
	// the handler's own goroutine only.
	RoomAllowed func(ctx context.Context, roomID string) bool
}

// EDUHandler handles one EDU type. Its error is logged; an EDU never fails
// the transaction (a sender would otherwise retry the PDUs with it),
// except as HandleDurableEDU says.
type EDUHandler func(ctx context.Context, edu InboundEDU) error

// HandleEDU routes received EDUs of eduType to h: the single inbound
// dispatcher for typing, receipts, presence, to-device and device lists.
// Handlers are registered while the server is wired; EDUs of types nobody
// handles are dropped, as the spec allows for unknown types.
func (a *API) HandleEDU(eduType string, h EDUHandler) {
	if a.eduHandlers == nil {
		a.eduHandlers = map[string]EDUHandler{}
	}
	a.eduHandlers[eduType] = h
}

// HandleDurableEDU is HandleEDU for EDUs that must not be lost
// (m.direct_to_device: the sending server keeps no copy once we answer 200).
// When h fails for a reason other than the EDU itself (an error that is
// not a Matrix error, such as the database being unavailable), the whole
// transaction is answered 500, and the sender sends it again
// (transactions.yaml: the sender "must wait and retry for a 200 OK
// response"); the PDUs already stored and the EDUs already handled come
// again with it, so h and every other handler must take a repeat as a
// no-op. An EDU refused for what it says (a Matrix error: malformed, not
// the origin's user, text the database cannot store) is dropped, as any
// other, so that one bad EDU cannot stop a server's transactions for good.
func (a *API) HandleDurableEDU(eduType string, h EDUHandler) {
	a.HandleEDU(eduType, h)
	if a.durableEDUs == nil {
		a.durableEDUs = map[string]bool{}
	}
	a.durableEDUs[eduType] = true
}

// maxEDUContent bounds one EDU's content; the transaction's body limit
// bounds their sum.
const maxEDUContent = 64 * 1024

// dispatchEDUs hands each EDU of a transaction to its handler, in order.
// aclErr is the transaction's per-room ACL verdicts, shared with its PDUs.
// Its error, a durable EDU's storage trouble, fails the transaction.
func (a *API) dispatchEDUs(ctx context.Context, origin string, raws []json.RawMessage, aclErr map[string]error) error {
	allowed := func(ctx context.Context, roomID string) bool {
		denied, checked := aclErr[roomID]
		if !checked {
			denied = a.checkACL(ctx, roomID, origin)
			if denied != nil && !errors.Is(denied, merr.ErrForbidden) {
				// Storage trouble: the EDU is lost either way (EDUs are not
				// retried), so treat the room as denied for now.
				a.Log.Warn("checking a room's server ACL for an EDU", "room_id", roomID, "origin", origin, "err", denied)
				return false
			}
			aclErr[roomID] = denied
		}
		return denied == nil
	}
	for _, raw := range raws {
		var edu struct {
			Type    string          `json:"edu_type"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &edu); err != nil || edu.Type == "" {
			a.Log.Debug("dropping malformed EDU", "origin", origin)
			continue
		}
		h := a.eduHandlers[edu.Type]
		if h == nil {
			continue
		}
		if len(edu.Content) == 0 || edu.Content[0] != '{' || len(edu.Content) > maxEDUContent {
			a.Log.Debug("dropping EDU whose content is not a bounded JSON object", "origin", origin, "edu_type", edu.Type)
			continue
		}
		err := h(ctx, InboundEDU{Origin: origin, Type: edu.Type, Content: edu.Content, RoomAllowed: allowed})
		if err != nil && merr.CodeOf(err) == "" && a.durableEDUs[edu.Type] {
			a.Log.Warn("could not store a received EDU; the transaction fails so that it is sent again",
				"origin", origin, "edu_type", edu.Type, "err", err)
			return err
		}
		if err != nil {
			a.Log.Info("dropping received EDU", "origin", origin, "edu_type", edu.Type, "err", err)
		}
	}
	return nil
}
