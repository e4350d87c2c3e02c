package sender

import (
	"encoding/json"
	"strconv"

	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

// TransactionResponse is the body of a 200 answer to PUT /send/{txnId}
// (data/api/server-server/transactions.yaml): a result per PDU, keyed by
// event ID.
type TransactionResponse struct {
	PDUs map[string]PDUResult `json:"pdus"`
}

// PDUResult is how the receiver handled one PDU. An empty Error means it
// was processed; a non-empty one means it was received but refused (e.g.
// rejected by the auth rules). Either way the transaction was delivered
// and is not sent again.
type PDUResult struct {
	Error string `json:"error,omitempty"`
}

// transaction is a built transaction: once sent, its ID and body never
// change until the destination answers 200.
type transaction struct {
	id        string
	body      []byte
	pduIDs    []int64 // store items it carries (duplicates of one event included)
	eduIDs    []int64 // durable EDUs it carries
	nPDUs     int     // PDUs in the body
	nEDUs     int     // EDUs in the body
	streamPos int64   // highest stream position among its PDUs
}

// buildTransaction assembles a transaction from queued items, at most
// MaxPDUsPerTransaction PDUs and MaxEDUsPerTransaction EDUs (the caller
// peeks no more). A PDU queued twice for the destination (two SendPDU
// calls for one event) is sent once; both items are acknowledged together.
func buildTransaction(id, origin string, nowMS int64, pdus []fedqueue.QueuedPDU, durable []fedqueue.QueuedEDU, ephemeral []EDU) *transaction {
	t := &transaction{id: id}
	size := 64
	for _, p := range pdus {
		size += len(p.JSON) + 1
	}
	for _, e := range durable {
		size += len(e.Content) + len(e.Type) + 32
	}
	for _, e := range ephemeral {
		size += len(e.Content) + len(e.Type) + 32
	}
	b := make([]byte, 0, size)
	b = append(b, `{"origin":`...)
	b = appendJSONString(b, origin)
	b = append(b, `,"origin_server_ts":`...)
	b = strconv.AppendInt(b, nowMS, 10)
	b = append(b, `,"pdus":[`...)
	seen := make(map[string]bool, len(pdus))
	for _, p := range pdus {
		t.pduIDs = append(t.pduIDs, p.ID)
		t.streamPos = max(t.streamPos, p.StreamPos)
		if seen[p.EventID] {
			continue
		}
		seen[p.EventID] = true
		if t.nPDUs > 0 {
			b = append(b, ',')
		}
		b = append(b, p.JSON...)
		t.nPDUs++
	}
	b = append(b, ']')
	// "edus ... May be omitted if there are no ephemeral messages to be sent."
	if len(durable)+len(ephemeral) > 0 {
		b = append(b, `,"edus":[`...)
		for _, e := range durable {
			t.eduIDs = append(t.eduIDs, e.ID)
			if t.nEDUs > 0 {
				b = append(b, ',')
			}
			b = appendEDU(b, e.Type, e.Content)
			t.nEDUs++
		}
		for _, e := range ephemeral {
			if t.nEDUs > 0 {
				b = append(b, ',')
			}
			b = appendEDU(b, e.Type, e.Content)
			t.nEDUs++
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	t.body = b
	return t
}

func appendEDU(b []byte, typ string, content []byte) []byte {
	b = append(b, `{"content":`...)
	b = append(b, content...)
	b = append(b, `,"edu_type":`...)
	b = appendJSONString(b, typ)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
