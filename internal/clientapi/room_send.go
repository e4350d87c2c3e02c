package clientapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// readContent reads an event content body: a JSON object of at most 64 KiB.
func readContent(r *http.Request) (json.RawMessage, error) {
	body, err := httpapi.ReadBody(r, maxEventBody)
	if err != nil {
		return nil, err
	}
	// Kept as JSON text, so "\u0000" inside is allowed (CheckJSONObject).
	if err := httpapi.CheckJSONObject(body); err != nil {
		return nil, err
	}
	return body, nil
}

func validType(t string) bool { return t != "" && len(t) <= 255 }

// maxSafeInteger is the largest integer canonical JSON allows, so the
// largest origin_server_ts an event can carry (appendices, "Canonical JSON").
const maxSafeInteger = 1<<53 - 1

// massagedTS is the ts query parameter of /send and /state
// (application-service-api.md, "Timestamp massaging"): an application
// service may set the origin_server_ts of the event it sends, and a value
// that is not a timestamp is refused as a bad request; anyone else's ts
// is ignored, as in Synapse. Negative values are refused as Synapse does,
// and so is 0, which the room engine reads as "now" (the answer without
// a ts).
func massagedTS(r *http.Request, s *httpapi.Session) (int64, error) {
	v, ok := r.URL.Query()["ts"]
	if !ok || s.AppserviceID == "" {
		return 0, nil
	}
	ts, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || ts <= 0 || ts > maxSafeInteger || len(v) > 1 {
		return 0, httpapi.InvalidParam("ts must be a timestamp in milliseconds: a positive integer of at most 2^53-1")
	}
	return ts, nil
}

// send is PUT /rooms/{roomId}/send/{eventType}/{txnId}.
func (a *RoomAPI) send(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	typ, txnID := r.PathValue("eventType"), r.PathValue("txnId")
	if !validType(typ) || txnID == "" || len(txnID) > 255 {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid event type or transaction ID"))
		return
	}
	roomID := r.PathValue("roomId")
	txn := &rooms.Txn{UserID: s.UserID, DeviceID: s.DeviceID, TxnID: txnID, Endpoint: rooms.TxnSend}
	ts, err := massagedTS(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	b := &event.Builder{Type: typ, Sender: s.UserID, OriginServerTS: ts}
	cost := messageCost(s)
	if typ == event.TypeRedaction {
		// room_send.yaml (spec v1.18, MSC4169): redactions may be sent
		// here in every room version, naming their target in
		// content.redacts; they cost what /redact costs.
		if b.Content, err = readContent(r); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		var c struct {
			Redacts *string `json:"redacts"`
		}
		if json.Unmarshal(b.Content, &c) != nil || c.Redacts == nil || *c.Redacts == "" {
			httpapi.WriteError(w, httpapi.MissingParam("an m.room.redaction needs content.redacts, the event it redacts"))
			return
		}
		b.Redacts = *c.Redacts
		cost = a.redactionCost(r.Context(), s, b.Redacts)
	}
	if err := a.refuseSuspendedEvent(r.Context(), s, b); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if sent, err := a.limitTxn(r.Context(), s, roomID, b, txn, cost); err != nil || sent != "" {
		writeSent(w, sent, err)
		return
	}
	if b.Content == nil {
		if b.Content, err = readContent(r); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	id, err := a.sendEvent(r.Context(), s, roomID, b, txn)
	writeSent(w, id, err)
}

// putState is PUT /rooms/{roomId}/state/{eventType}/{stateKey}.
func (a *RoomAPI) putState(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	typ, key := r.PathValue("eventType"), r.PathValue("stateKey")
	if !validType(typ) || len(key) > 255 {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid event type or state key"))
		return
	}
	ts, err := massagedTS(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	content, err := readContent(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if typ == event.TypePowerLevels {
		if err := checkPowerLevelsContent(content); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	roomID := r.PathValue("roomId")
	b := &event.Builder{Type: typ, StateKey: &key, Sender: s.UserID, Content: content, OriginServerTS: ts}
	if err := a.refuseSuspendedEvent(r.Context(), s, b); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// Setting state to what it already is sends nothing (Synapse returns the
	// existing event's ID), which keeps retries and idle clients from
	// growing the DAG.
	if cur, err := a.Engine.State(r.Context(), roomID, typ, key); err == nil && cur.Sender() == s.UserID && sameJSON(cur.Content(), content) {
		writeOK(w, map[string]string{"event_id": cur.EventID()})
		return
	}
	if err := takeLimits(r.Context(), a.Limits, s, messageCost(s)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// Only a member's aliases are resolved: a stranger's event fails
	// authorization anyway and must not make us query other servers.
	if typ == event.TypeCanonicalAlias && key == "" {
		if acc, err := a.readAccess(r.Context(), roomID, s.UserID); err == nil && acc.Joined {
			if err := a.checkCanonicalAlias(r.Context(), roomID, content); err != nil {
				httpapi.WriteError(w, err)
				return
			}
		}
	}
	if typ == event.TypeMember {
		if id, done, err := a.putMemberInvite(r, s, roomID, key, content); done {
			writeSent(w, id, err)
			return
		}
	}
	id, err := a.sendEvent(r.Context(), s, roomID, b, nil)
	writeSent(w, id, err)
}

// putMemberInvite handles an invite sent as PUT /state/m.room.member
// like POST /invite: refused with M_INVITE_BLOCKED when a local invitee
// blocks invites (client-server-api "Invite permission"), and a user of
// another server is invited through their server, which must countersign
// the invite. It reports done when it has answered.
func (a *RoomAPI) putMemberInvite(r *http.Request, s *httpapi.Session, roomID, target string, content []byte) (string, bool, error) {
	var members map[string]json.RawMessage
	if json.Unmarshal(content, &members) != nil {
		return "", false, nil
	}
	var membership string
	if json.Unmarshal(members["membership"], &membership) != nil || membership != event.Invite {
		return "", false, nil
	}
	if err := a.checkInvitee(r.Context(), target); err != nil {
		return "", true, err
	}
	if srv, err := ids.UserServer(target); err != nil || string(srv) == a.Engine.ServerName() || a.Fed == nil {
		return "", false, nil
	}
	extra := make(map[string]any, len(members))
	for k, v := range members {
		extra[k] = v
	}
	id, err := a.remoteInvite(r, s, roomID, target, "", extra)
	return id, true, err
}

// writeSent answers a send with the event's ID, or the error.
func writeSent(w http.ResponseWriter, eventID string, err error) {
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"event_id": eventID})
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}

type reasonBody struct {
	Reason string `json:"reason,omitempty"`
}

// redact is PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
func (a *RoomAPI) redact(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body reasonBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	content := map[string]any{}
	if body.Reason != "" {
		content["reason"] = body.Reason
	}
	b := &event.Builder{Type: event.TypeRedaction, Sender: s.UserID, Redacts: r.PathValue("eventId"), Content: rooms.Content(content)}
	if err := a.refuseSuspendedEvent(r.Context(), s, b); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	cost := a.redactionCost(r.Context(), s, b.Redacts)
	var txn *rooms.Txn
	if t := r.PathValue("txnId"); t != "" {
		txn = &rooms.Txn{UserID: s.UserID, DeviceID: s.DeviceID, TxnID: t, Endpoint: rooms.TxnRedact}
		if sent, err := a.limitTxn(r.Context(), s, r.PathValue("roomId"), b, txn, cost); err != nil || sent != "" {
			writeSent(w, sent, err)
			return
		}
	} else if err := takeLimits(r.Context(), a.Limits, s, cost); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, err := a.sendEvent(r.Context(), s, r.PathValue("roomId"), b, txn)
	writeSent(w, id, err)
}
