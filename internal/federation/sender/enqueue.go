package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

// PDU is one event to send, as the room engine's commit hook sees it.
type PDU struct {
	Event *event.Event
	// StreamPos is the event's position in the events stream (0 if
	// unknown); the store records the highest one each destination has
	// acknowledged.
	StreamPos int64
	// Destinations are sent to in addition to the servers in the room:
	// the servers of an invited, kicked or banned user, or of a user who
	// just left, whom ServersInRoom no longer lists.
	Destinations []string
}

// EDU is an ephemeral data unit (server-server-api "EDUs").
type EDU struct {
	// Type is the edu_type, e.g. m.typing.
	Type string
	// Content is the EDU's content: a JSON object.
	Content json.RawMessage
	// Durable EDUs are persisted like PDUs and survive restarts. The
	// sender always treats m.direct_to_device as durable, because to-device
	// messages must not be lost; callers should also set it for
	// m.device_list_update and m.signing_key_update, whose loss leaves the
	// remote's view of our devices stale.
	Durable bool
	// Key, when set on a non-durable EDU, makes it replace a queued,
	// not yet sent EDU of the same Type and Key for the same destination:
	// e.g. the room and user of a typing notification, so a backlog holds
	// only the latest state.
	Key string
}

// TypeDirectToDevice is the send-to-device EDU (server-server-api
// "Send-to-device messaging").
const TypeDirectToDevice = "m.direct_to_device"

func (e EDU) durable() bool { return e.Durable || e.Type == TypeDirectToDevice }

// SendPDU queues ev for the servers in its room (Config.Rooms) and the
// given extra destinations, persists it, and wakes the destinations'
// workers. It returns once the PDU is stored; delivery is asynchronous.
// Our own server name and invalid names are left out, duplicates merged.
func (s *Sender) SendPDU(ctx context.Context, ev *event.Event, destinations []string) error {
	return s.SendPDUs(ctx, []PDU{{Event: ev, Destinations: destinations}})
}

// SendPDUs is SendPDU for several events, stored in one database
// transaction: what a room engine commit hook passes on.
func (s *Sender) SendPDUs(ctx context.Context, pdus []PDU) error {
	roomServers := map[string][]string{}
	items := make([]fedqueue.NewPDU, 0, len(pdus))
	for _, p := range pdus {
		if p.Event == nil {
			return errors.New("federation sender: SendPDUs with a nil event")
		}
		roomID := p.Event.RoomID()
		servers, ok := roomServers[roomID]
		if !ok && s.cfg.Rooms != nil {
			var err error
			if servers, err = s.cfg.Rooms.ServersInRoom(ctx, roomID); err != nil {
				return fmt.Errorf("federation sender: servers in %s: %w", roomID, err)
			}
			roomServers[roomID] = servers
		}
		dests := s.destinations(servers, p.Destinations)
		if len(dests) == 0 {
			continue
		}
		items = append(items, fedqueue.NewPDU{
			EventID:   p.Event.EventID(),
			RoomID:    roomID,
			StreamPos: p.StreamPos,
			// JSON, not FederationJSON: unsigned holds local data (a
			// client's transaction_id, for one) that is not the remote's
			// business, and a PDU needs no unsigned to be checked. In
			// room v1/v2 JSON already carries the event_id.
			JSON:         p.Event.JSON(),
			Destinations: dests,
		})
	}
	if len(items) == 0 {
		return nil
	}
	added, err := s.cfg.Store.EnqueuePDUs(ctx, items, s.nowMS())
	if err != nil {
		return err
	}
	s.m.pdusQueued.Add(int64(added))
	s.mu.Lock()
	for _, it := range items {
		for _, d := range it.Destinations {
			s.kickLocked(s.queueLocked(d))
		}
	}
	s.mu.Unlock()
	return nil
}

// SendEDU queues edu for destinations (our own name and invalid names left
// out, duplicates merged). A durable EDU is persisted before SendEDU
// returns; the others are kept in memory only, as EDUs are by nature
// ephemeral (server-server-api "EDUs"). It fails only for a malformed EDU
// or when persisting fails.
func (s *Sender) SendEDU(ctx context.Context, edu EDU, destinations []string) error {
	if edu.Type == "" {
		return errors.New("federation sender: EDU without a type")
	}
	var content bytes.Buffer
	if err := json.Compact(&content, edu.Content); err != nil || content.Len() == 0 || content.Bytes()[0] != '{' {
		return fmt.Errorf("federation sender: %s EDU content is not a JSON object", edu.Type)
	}
	edu.Content = content.Bytes()
	dests := s.destinations(nil, destinations)
	if len(dests) == 0 {
		return nil
	}
	if edu.durable() {
		if err := s.cfg.Store.EnqueueEDU(ctx, edu.Type, edu.Content, dests, s.nowMS()); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range dests {
		q := s.queueLocked(d)
		if !edu.durable() {
			s.addEphemeralLocked(q, edu)
		}
		s.kickLocked(q)
	}
	return nil
}

// addEphemeralLocked queues an in-memory EDU, replacing one with the same
// key or, at the bound, dropping the oldest.
func (s *Sender) addEphemeralLocked(q *destQueue, edu EDU) {
	if edu.Key != "" {
		for i, e := range q.ephemeral {
			if e.Type == edu.Type && e.Key == edu.Key {
				q.ephemeral[i] = edu
				return
			}
		}
	}
	if len(q.ephemeral) >= s.cfg.MaxEphemeralEDUs {
		drop := len(q.ephemeral) - s.cfg.MaxEphemeralEDUs + 1
		q.ephemeral = append(q.ephemeral[:0], q.ephemeral[drop:]...)
		s.m.edusDropped.Add(int64(drop))
	}
	q.ephemeral = append(q.ephemeral, edu)
}

// destinations merges room servers and explicit destinations, in order of
// first appearance, without our own name or invalid server names (which
// could only come from malformed remote user IDs and would sit in the
// queue forever).
func (s *Sender) destinations(lists ...[]string) []string {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for _, l := range lists {
		for _, d := range l {
			if seen[d] || d == s.cfg.ServerName {
				continue
			}
			seen[d] = true
			if !ids.ValidServerName(d) {
				s.log.Debug("not sending to an invalid server name", "destination", d)
				continue
			}
			out = append(out, d)
		}
	}
	return out
}
