package txnsender

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Streams a worker follows. Those stored keep their position across
// restarts; typing and presence are in memory per process
// (internal/typing, internal/presence), so their positions are too.
const (
	streamRoom     = "room"
	streamReceipt  = "receipt"
	streamTyping   = "typing"
	streamPresence = "presence"
	streamToDev    = "to_device"
	streamDevList  = "device_list"
)

// persistRoomEvery is how far (in room stream positions) a worker's
// position may run ahead of its stored copy over events of no interest:
// a restart reads them again and finds nothing again.
const persistRoomEvery = 1000

// scanBatch is how many room events one read takes; maxScan bounds the
// events one build reads before it stores how far it got.
const (
	scanBatch = 100
	maxScan   = 2000
)

type worker struct {
	s   *Sender
	as  AppService
	log *slog.Logger
	// pos is how far each stream has been queued; only run touches it
	// once started.
	pos       map[string]int64
	savedRoom int64
	rooms     roomInterest
	wake      chan struct{}
}

func newWorker(ctx context.Context, s *Sender, as AppService) (*worker, error) {
	stored, err := s.cfg.Store.Positions(ctx, as.ID)
	if err != nil {
		return nil, err
	}
	w := &worker{s: s, as: as, log: s.cfg.Log.With("appservice", as.ID), pos: map[string]int64{},
		wake: make(chan struct{}, 1)}
	w.rooms = roomInterest{w: w, cache: map[string]roomVerdict{}}
	first := map[string]int64{}
	if p, ok := stored[streamRoom]; ok {
		w.pos[streamRoom] = p
	} else {
		first[streamRoom] = s.cfg.Rooms.Stream().Current()
	}
	if s.cfg.Receipts != nil {
		if p, ok := stored[streamReceipt]; ok {
			w.pos[streamReceipt] = p
		} else {
			first[streamReceipt] = s.cfg.Receipts.Current()
		}
	}
	if s.cfg.ToDevice != nil {
		if p, ok := stored[streamToDev]; ok {
			w.pos[streamToDev] = p
		} else {
			first[streamToDev] = s.cfg.ToDevice.Current()
		}
	}
	if s.cfg.DeviceLists != nil {
		if p, ok := stored[streamDevList]; ok {
			w.pos[streamDevList] = p
		} else {
			first[streamDevList] = s.cfg.DeviceLists.Current()
		}
	}
	if len(first) > 0 {
		if err := s.cfg.Store.SetPositions(ctx, as.ID, first); err != nil {
			return nil, err
		}
		for k, v := range first {
			w.pos[k] = v
		}
	}
	if s.cfg.Typing != nil {
		w.pos[streamTyping] = s.cfg.Typing.Current()
	}
	if s.cfg.Presence != nil {
		_, w.pos[streamPresence] = s.cfg.Presence.ChangedSince(math.MaxInt64)
	}
	w.savedRoom = w.pos[streamRoom]
	return w, nil
}

func (w *worker) commitPositions(next map[string]int64) {
	for k, v := range next {
		w.pos[k] = v
	}
}

// storedPositions leaves out the streams kept in memory only.
func (w *worker) storedPositions(next map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(next))
	for k, v := range next {
		if k != streamTyping && k != streamPresence {
			out[k] = v
		}
	}
	return out
}

func (w *worker) maybeSaveRoomPos(ctx context.Context) error {
	if w.pos[streamRoom]-w.savedRoom < persistRoomEvery {
		return nil
	}
	return w.saveRoomPos(ctx)
}

// saveRoomPos stores the positions reached over events of no interest.
func (w *worker) saveRoomPos(ctx context.Context) error {
	if err := w.s.cfg.Store.SetPositions(ctx, w.as.ID, w.storedPositions(w.pos)); err != nil {
		w.log.Warn("appservice: storing stream positions failed", "err", err)
		return err
	}
	w.savedRoom = w.pos[streamRoom]
	return nil
}

// built is the next transaction: what it carries and the positions it
// advances to.
type built struct {
	events      []*clientevent.Event
	ephemeral   []json.RawMessage
	toDevice    []toDeviceEvent
	deviceLists *deviceLists
	otkCounts   map[string]map[string]map[string]int
	fallback    map[string]map[string][]string
	next        map[string]int64
	// more is set when a build stopped before the streams' ends.
	more bool
}

func (b *built) empty() bool {
	return len(b.events) == 0 && len(b.ephemeral) == 0 && len(b.toDevice) == 0 && b.deviceLists == nil
}

// txnBody is the transaction's request body (application-service-api
// "PUT /_matrix/app/v1/transactions/{txnId}"). ephemeral is stable since
// v1.13; appservice libraries written against MSC2409 still read its
// unstable name, which Synapse also sends. To-device messages and device
// lists have only their unstable names (MSC2409/MSC4203, MSC3202), as
// Synapse sends them.
type txnBody struct {
	Events           []*clientevent.Event `json:"events"`
	Ephemeral        []json.RawMessage    `json:"ephemeral,omitempty"`
	MSC2409Ephemeral []json.RawMessage    `json:"de.sorunome.msc2409.ephemeral,omitempty"`
	ToDevice         []toDeviceEvent      `json:"de.sorunome.msc2409.to_device,omitempty"`
	DeviceLists      *deviceLists         `json:"org.matrix.msc3202.device_lists,omitempty"`
	// The counts go under both names Synapse has used: MSC3202's text
	// says device_one_time_keys_count, early bridges read
	// device_one_time_key_counts.
	OTKCounts    map[string]map[string]map[string]int `json:"org.matrix.msc3202.device_one_time_keys_count,omitempty"`
	OTKCountsOld map[string]map[string]map[string]int `json:"org.matrix.msc3202.device_one_time_key_counts,omitempty"`
	FallbackKeys map[string]map[string][]string       `json:"org.matrix.msc3202.device_unused_fallback_key_types,omitempty"`
}

func (b *built) body() ([]byte, error) {
	tb := txnBody{Events: b.events, Ephemeral: b.ephemeral, MSC2409Ephemeral: b.ephemeral,
		ToDevice: b.toDevice, DeviceLists: b.deviceLists,
		OTKCounts: b.otkCounts, OTKCountsOld: b.otkCounts, FallbackKeys: b.fallback}
	if tb.Events == nil {
		tb.Events = []*clientevent.Event{}
	}
	return json.Marshal(tb)
}

// build gathers the events of interest after the worker's positions.
func (w *worker) build(ctx context.Context) (*built, error) {
	b := &built{next: map[string]int64{}}
	for k, v := range w.pos {
		b.next[k] = v
	}
	if err := w.buildRoom(ctx, b); err != nil {
		return nil, err
	}
	if w.as.Ephemeral {
		if err := w.buildTyping(ctx, b); err != nil {
			return nil, err
		}
		if err := w.buildReceipts(ctx, b); err != nil {
			return nil, err
		}
		if err := w.buildPresence(ctx, b); err != nil {
			return nil, err
		}
	}
	if w.as.ToDevice {
		if err := w.buildToDevice(ctx, b); err != nil {
			return nil, err
		}
	}
	if w.as.DeviceLists {
		if err := w.buildDeviceLists(ctx, b); err != nil {
			return nil, err
		}
		if !b.empty() {
			if err := w.buildKeyCounts(ctx, b); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func (w *worker) buildRoom(ctx context.Context, b *built) error {
	stable := w.s.cfg.Rooms.Stream().Current()
	scanned := 0
	for b.next[streamRoom] < stable {
		if scanned >= maxScan || len(b.events) >= MaxEvents {
			b.more = true
			return nil
		}
		evs, err := w.s.cfg.Rooms.Store().StreamEvents(ctx, b.next[streamRoom], stable, scanBatch)
		if err != nil {
			return err
		}
		for _, se := range evs {
			scanned++
			ok, err := w.interestedInEvent(ctx, se)
			if err != nil {
				return err
			}
			if ok {
				// No unsigned.age: the body is stored and may be sent
				// again later, when an age would be wrong.
				ce, err := syncapi.FormatStored(ctx, w.s.cfg.Rooms, se, clientevent.Options{})
				if err != nil {
					return err
				}
				b.events = append(b.events, ce)
			}
			b.next[streamRoom] = se.StreamPos
			if len(b.events) >= MaxEvents {
				break
			}
		}
		if len(evs) < scanBatch && len(b.events) < MaxEvents {
			// Positions without events (account data) up to stable.
			b.next[streamRoom] = stable
		}
	}
	return nil
}

// interestedInEvent is Synapse's reading of the spec's namespaces
// (application-service-api "Registration"): the room is in the rooms
// namespace, or the sender is a user of the appservice, or a membership
// event's target is, or the room is of interest (roomInterest).
func (w *worker) interestedInEvent(ctx context.Context, se *roomstore.StoredEvent) (bool, error) {
	if se.Type() == event.TypeMember || se.Type() == event.TypeCanonicalAlias {
		// Who is in the room, or its aliases, changed.
		w.rooms.forget(se.RoomID())
	}
	if w.interestedInUser(se.Sender()) {
		return true, nil
	}
	if se.Type() == event.TypeMember && se.StateKey() != nil && w.interestedInUser(*se.StateKey()) {
		return true, nil
	}
	return w.rooms.interested(ctx, se.RoomID())
}

func (w *worker) interestedInUser(userID string) bool {
	return userID == w.as.SenderUserID || w.as.Interest.IsInterestedInUser(userID)
}

// roomInterest caches, per room, whether a room is of interest to the
// appservice: its ID is in the rooms namespace, one of its aliases (local
// or canonical) in the aliases namespace, or (as Synapse does) one of the
// appservice's users is joined to it. Membership and canonical alias
// events forget a room's verdict; local aliases added by the directory
// API are seen within verdictTTL.
type roomInterest struct {
	w     *worker
	cache map[string]roomVerdict
}

type roomVerdict struct {
	interested bool
	at         time.Time
}

const (
	verdictTTL = time.Minute
	maxCached  = 10000
)

func (r *roomInterest) forget(roomID string) { delete(r.cache, roomID) }

func (r *roomInterest) interested(ctx context.Context, roomID string) (bool, error) {
	now := r.w.s.cfg.Now()
	if v, ok := r.cache[roomID]; ok && now.Sub(v.at) < verdictTTL {
		return v.interested, nil
	}
	ok, err := r.compute(ctx, roomID)
	if err != nil {
		return false, err
	}
	if len(r.cache) >= maxCached {
		clear(r.cache)
	}
	r.cache[roomID] = roomVerdict{interested: ok, at: now}
	return ok, nil
}

func (r *roomInterest) compute(ctx context.Context, roomID string) (bool, error) {
	in := r.w.as.Interest
	if in.IsInterestedInRoomID(roomID) {
		return true, nil
	}
	store := r.w.s.cfg.Rooms.Store()
	aliases, err := store.AliasesForRoom(ctx, roomID)
	if err != nil {
		return false, err
	}
	ce, err := store.CurrentStateEvent(ctx, roomID, event.TypeCanonicalAlias, "")
	if err != nil {
		return false, err
	}
	if ce != nil {
		var c struct {
			Alias      string   `json:"alias"`
			AltAliases []string `json:"alt_aliases"`
		}
		if json.Unmarshal(ce.Content(), &c) == nil {
			aliases = append(aliases, c.Alias)
			aliases = append(aliases, c.AltAliases...)
		}
	}
	for _, a := range aliases {
		if a != "" && in.IsInterestedInAlias(a) {
			return true, nil
		}
	}
	members, err := store.Members(ctx, roomID, event.Join)
	if err != nil {
		return false, err
	}
	for u := range members {
		if r.w.interestedInUser(u) {
			return true, nil
		}
	}
	return false, nil
}
