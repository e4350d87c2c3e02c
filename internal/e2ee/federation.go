package e2ee

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// EDUSender queues an EDU for another server (the federation sender, which
// keeps m.direct_to_device EDUs durably until delivered).
type EDUSender interface {
	SendEDU(ctx context.Context, eduType string, content json.RawMessage, destination string) error
}

// SetFederation installs the way to other servers. Call it while the server
// is wired, before serving.
func (s *Service) SetFederation(f EDUSender) { s.fed = f }

// EDUDirectToDevice is the EDU type of to-device messages between servers.
const EDUDirectToDevice = "m.direct_to_device"

// maxDirectToDeviceEDU bounds the messages of one outgoing EDU, below the
// 64 KiB of content a receiving server accepts per EDU
// (federationapi.maxEDUContent); larger requests are split into several
// EDUs, each with its own message_id.
const maxDirectToDeviceEDU = 60000

// directToDevice is an m.direct_to_device EDU's content (server-server-api
// "Send-to-device messaging").
type directToDevice struct {
	Sender    string                                `json:"sender"`
	Type      string                                `json:"type"`
	MessageID string                                `json:"message_id"`
	Messages  map[string]map[string]json.RawMessage `json:"messages"`
}

// sendRemote queues the messages for other servers' users, batched per
// destination.
func (s *Service) sendRemote(ctx context.Context, req ToDeviceRequest, remote map[string]remoteMessages) error {
	dests := make([]string, 0, len(remote))
	for d := range remote {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	if s.fed == nil {
		s.log.Warn("to-device messages for other servers not sent: this server has no federation", "destinations", dests)
		return nil
	}
	for _, dest := range dests {
		for i, chunk := range chunkMessages(remote[dest]) {
			content, err := json.Marshal(directToDevice{Sender: req.Sender, Type: req.Type,
				MessageID: s.messageID(req, dest, i), Messages: chunk})
			if err != nil {
				return err
			}
			if err := s.fed.SendEDU(ctx, EDUDirectToDevice, content, dest); err != nil {
				return err
			}
		}
	}
	return nil
}

// messageID names the i-th EDU of a request for dest. It is derived from
// the request's transaction, so a retried request (after a crash between
// sending and recording it) carries the same IDs and the receiver drops
// the copies.
func (s *Service) messageID(req ToDeviceRequest, dest string, i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s\x00%d", s.serverName, req.Sender, req.SenderDevice, req.TxnID, dest, i))
	return hex.EncodeToString(h[:16])
}

// chunkMessages splits one server's messages into EDU-sized parts, in a
// fixed order.
func chunkMessages(m remoteMessages) []map[string]map[string]json.RawMessage {
	users := make([]string, 0, len(m))
	for u := range m {
		users = append(users, u)
	}
	sort.Strings(users)
	var out []map[string]map[string]json.RawMessage
	cur, size := map[string]map[string]json.RawMessage{}, 0
	for _, u := range users {
		devices := make([]string, 0, len(m[u]))
		for d := range m[u] {
			devices = append(devices, d)
		}
		sort.Strings(devices)
		for _, d := range devices {
			n := len(u) + len(d) + len(m[u][d]) + 16
			if size > 0 && size+n > maxDirectToDeviceEDU {
				out = append(out, cur)
				cur, size = map[string]map[string]json.RawMessage{}, 0
			}
			if cur[u] == nil {
				cur[u] = map[string]json.RawMessage{}
			}
			cur[u][d] = m[u][d]
			size += n
		}
	}
	if size > 0 {
		out = append(out, cur)
	}
	return out
}

// ReceiveDirectToDevice queues the messages of an m.direct_to_device EDU
// from origin for local devices, once per (origin, message_id): a server
// that sends an EDU again (a retried transaction) delivers nothing twice.
// Messages for other servers' users are ignored; the sender must be a user
// of origin.
func (s *Service) ReceiveDirectToDevice(ctx context.Context, origin string, content json.RawMessage) error {
	var edu directToDevice
	if err := json.Unmarshal(content, &edu); err != nil {
		return merr.BadJSON("m.direct_to_device: " + err.Error())
	}
	if edu.Type == "" || len(edu.Type) > 255 || edu.MessageID == "" || len(edu.MessageID) > 255 {
		return merr.InvalidParam("m.direct_to_device: missing type or message_id")
	}
	if err := storable("m.direct_to_device: type and message_id", edu.Type, edu.MessageID); err != nil {
		return err
	}
	if server, _, err := s.serverOf(edu.Sender); err != nil || server != origin {
		return merr.Forbidden("m.direct_to_device: the sender is not a user of the origin server")
	}
	local, _, err := s.recipients(ctx, edu.Sender, edu.Type, edu.Messages)
	if err != nil {
		return err
	}
	// The origin server stands where a local sender's user ID would: no
	// user ID looks like a server name.
	return s.enqueue(ctx, &e2eestore.Txn{UserID: origin, TxnID: edu.MessageID}, local)
}
