package federationapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

type transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []json.RawMessage `json:"edus"`
}

// send is PUT /send/{txnId} (server-server-api "Transactions"). It is
// idempotent per origin and transaction ID; each PDU gets its own result,
// and an EDU fails the transaction only when a durable one could not be
// stored (HandleDurableEDU).
func (a *API) send(w http.ResponseWriter, r *http.Request) {
	origin := a.Origin(r)
	key := origin + " " + r.PathValue("txnId")
	a.txnMu.Lock()
	cached, ok := a.txns[key]
	a.txnMu.Unlock()
	if ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(cached)
		return
	}
	var txn transaction
	if err := httpapi.ReadJSON(r, maxTxnBody, &txn); err != nil {
		writeErr(w, err)
		return
	}
	if len(txn.PDUs) > maxPDUs || len(txn.EDUs) > maxEDUs {
		writeErr(w, merr.BadJSON("a transaction holds at most 50 PDUs and 100 EDUs"))
		return
	}
	if txn.Origin != "" && txn.Origin != origin {
		writeErr(w, merr.Forbidden("transaction origin does not match the request's"))
		return
	}
	ctx := r.Context()
	results := map[string]map[string]string{}
	byRoom := map[string][]*event.Event{}
	var order []string
	// The server ACL applies to each PDU by its room_id (server-server-api
	// "Server Access Control Lists (ACLs)"): a denied PDU is ignored, with
	// an error in its result. It is checked before the signatures, so a
	// denied server cannot make us fetch keys; one check per room.
	aclErr := map[string]error{}
	for _, raw := range txn.PDUs {
		ev, err := a.readPDU(ctx, raw)
		if err == nil {
			denied, checked := aclErr[ev.RoomID()]
			if !checked {
				denied = a.checkACL(ctx, ev.RoomID(), origin)
				if denied != nil && !errors.Is(denied, merr.ErrForbidden) {
					// Storage trouble: fail the transaction so that the
					// sender retries it, rather than lose the PDU.
					writeErr(w, denied)
					return
				}
				aclErr[ev.RoomID()] = denied
			}
			if denied != nil {
				results[ev.EventID()] = map[string]string{"error": denied.Error()}
				continue
			}
			ev, err = a.Verify.VerifyEvent(ctx, ev)
		}
		if err != nil {
			// Without a valid event we have no trustworthy event ID to
			// report against; such PDUs are dropped (the spec's step 1-2).
			a.Log.Info("dropping received PDU", "origin", origin, "err", err)
			continue
		}
		if _, seen := byRoom[ev.RoomID()]; !seen {
			order = append(order, ev.RoomID())
		}
		byRoom[ev.RoomID()] = append(byRoom[ev.RoomID()], ev)
	}
	for _, roomID := range order {
		in, err := a.Engine.InRoom(ctx, roomID)
		if err != nil {
			writeErr(w, err) // storage trouble: the sender retries
			return
		}
		var ingested []rooms.IngestResult
		if in {
			ingested = a.Engine.Ingest(ctx, roomID, byRoom[roomID], a.Remote(origin))
		} else {
			// A room we are not in: only answers to our users' knocks and
			// invites are kept (rooms.Engine.IngestOutsider).
			ingested = a.Engine.IngestOutsider(ctx, roomID, byRoom[roomID])
		}
		for _, res := range ingested {
			entry := map[string]string{}
			if res.Err != nil {
				entry["error"] = res.Err.Error()
			}
			results[res.EventID] = entry
		}
	}
	// EDUs after the PDUs, so that, say, a receipt for an event of this
	// transaction finds the event stored.
	if err := a.dispatchEDUs(ctx, origin, txn.EDUs, aclErr); err != nil {
		writeErr(w, err) // not cached: the sender retries the transaction
		return
	}
	failed := len(txn.PDUs) - len(results)
	for _, r := range results {
		if r["error"] != "" {
			failed++
		}
	}
	a.Metrics.transaction(len(txn.PDUs), len(txn.EDUs), failed)
	resp, _ := json.Marshal(map[string]any{"pdus": results})
	a.txnMu.Lock()
	if _, ok := a.txns[key]; !ok {
		a.txns[key] = resp
		a.order = append(a.order, key)
		if len(a.order) > maxTxnCache {
			delete(a.txns, a.order[0])
			a.order = a.order[1:]
		}
	}
	a.txnMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(resp)
}
