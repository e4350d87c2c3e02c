package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/pushrules"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
)

// Delivery policy. The push gateway API asks for retries "for a
// reasonable amount of time using exponential backoff"; like Synapse, the
// wait doubles from a second up to an hour, and a push still failing
// after about a day is dropped.
const (
	firstBackoff   = time.Second
	maxBackoff     = time.Hour
	maxAttempts    = 36 // 1 s doubling to 1 h, then hourly: about a day
	requestTimeout = 15 * time.Second
	maxConcurrent  = 16 // requests in flight to all gateways
	maxAnswer      = 64 << 10
	rescanEvery    = 30 * time.Second
)

// DeliveryConfig builds a Delivery.
type DeliveryConfig struct {
	Store    *pushstore.Store
	Notifier *Notifier
	// Guard decides which addresses pushes may reach (Synapse's
	// ip_range_blacklist and ip_range_whitelist).
	Guard *netguard.Guard
	Now   func() time.Time
	Log   *slog.Logger
}

// Delivery sends queued pushes to push gateways (push-gateway-api "POST
// /_matrix/push/v1/notify") in the background: one sender per pusher, so
// each pusher's pushes go in order and a slow or dead gateway holds up
// only its own; a push leaves the queue when its gateway accepts it (or
// after a day of failures), so pushes survive restarts.
type Delivery struct {
	cfg    DeliveryConfig
	client *http.Client
	slots  chan struct{}

	mu      sync.Mutex
	running map[int64]bool
	closed  bool
	wg      sync.WaitGroup

	wake chan struct{}
	stop chan struct{}
}

// NewDelivery returns a stopped Delivery.
func NewDelivery(cfg DeliveryConfig) *Delivery {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dialer := cfg.Guard.Dialer(&net.Dialer{Timeout: requestTimeout})
	client := &http.Client{Transport: netguard.Transport(dialer.DialContext, requestTimeout, 4, nil),
		Timeout: requestTimeout, CheckRedirect: netguard.NoRedirects}
	return &Delivery{cfg: cfg, client: client, slots: make(chan struct{}, maxConcurrent),
		running: map[int64]bool{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Start begins delivering what is queued, and what gets queued.
func (d *Delivery) Start() {
	d.wg.Add(1)
	go d.loop()
}

// Queued wakes the delivery after new pushes were queued.
func (d *Delivery) Queued() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Close stops every sender; what is left is sent after the next start.
func (d *Delivery) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *Delivery) loop() {
	defer d.wg.Done()
	t := time.NewTicker(rescanEvery)
	defer t.Stop()
	for {
		d.scan()
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// scan starts a sender for every pusher with queued pushes and none yet.
func (d *Delivery) scan() {
	ids, err := d.cfg.Store.PushersWithJobs(context.Background())
	if err != nil {
		d.cfg.Log.Error("push: reading the push queue failed", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, id := range ids {
		if !d.running[id] {
			d.running[id] = true
			d.wg.Add(1)
			go d.drain(id)
		}
	}
}

// drain sends a pusher's queue in order until it is empty.
func (d *Delivery) drain(pusherID int64) {
	defer d.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		job, err := d.cfg.Store.NextJob(ctx, pusherID)
		if err != nil {
			d.mu.Lock()
			delete(d.running, pusherID)
			d.mu.Unlock()
			if !errors.Is(err, pushstore.ErrNotFound) && ctx.Err() == nil {
				d.cfg.Log.Error("push: reading the push queue failed", "pusher", pusherID, "err", err)
				// The next scan starts a sender again.
			}
			return
		}
		if wait := time.UnixMilli(job.NextTry).Sub(d.cfg.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if err := d.deliver(ctx, job); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.failed(ctx, job, err)
		}
	}
}

// failed schedules a retry of job, or drops it after maxAttempts.
func (d *Delivery) failed(ctx context.Context, job *pushstore.Job, cause error) {
	attempts := job.Attempts + 1
	if attempts >= maxAttempts {
		d.cfg.Log.Warn("push: giving up on a push", "pusher", job.PusherID, "event_id", job.EventID, "err", cause)
		if err := d.cfg.Store.DeleteJob(ctx, job.ID); err != nil {
			d.cfg.Log.Error("push: dropping a push failed", "err", err)
		}
		return
	}
	backoff := firstBackoff << min(attempts-1, 12)
	backoff = min(backoff, maxBackoff)
	d.cfg.Log.Info("push: gateway failed; retrying", "pusher", job.PusherID, "event_id", job.EventID,
		"attempt", attempts, "retry_in", backoff, "err", cause)
	if err := d.cfg.Store.RetryJob(ctx, job.ID, attempts, d.cfg.Now().Add(backoff).UnixMilli()); err != nil {
		d.cfg.Log.Error("push: recording a failed push failed", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// deliver sends one push; nil means it left the queue (sent, or not
// sendable any more).
func (d *Delivery) deliver(ctx context.Context, job *pushstore.Job) error {
	p, err := d.cfg.Store.Pusher(ctx, job.PusherID)
	if errors.Is(err, pushstore.ErrNotFound) {
		return nil // removed with its queue
	}
	if err != nil {
		return err
	}
	body, err := d.payload(ctx, p, job)
	if err != nil {
		return err
	}
	if body == nil {
		return d.cfg.Store.DeleteJob(ctx, job.ID)
	}
	rejected, err := d.post(ctx, p, body)
	if err != nil {
		return err
	}
	for _, k := range rejected {
		// push-gateway-api: "rejected: pushkeys ... the homeserver
		// SHOULD remove them."
		if k == p.PushKey {
			d.cfg.Log.Info("push: gateway rejected the pushkey; removing the pusher", "user", p.UserID, "app_id", p.AppID)
			return d.cfg.Store.DeletePusherByID(ctx, p.ID)
		}
	}
	return d.cfg.Store.DeleteJob(ctx, job.ID)
}

func (d *Delivery) post(ctx context.Context, p *pushstore.Pusher, body []byte) (rejected []string, err error) {
	var data struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(p.Data), &data); err != nil {
		return nil, err
	}
	if _, err := url.Parse(data.URL); err != nil {
		return nil, err
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-d.slots }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, data.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("gateway answered %d", resp.StatusCode)
	}
	var answer struct {
		Rejected []string `json:"rejected"`
	}
	// An answer that is not the spec's object rejects nothing.
	_ = json.Unmarshal(raw, &answer)
	return answer.Rejected, nil
}

// payload builds the notify request of one push; nil when its event is
// gone.
func (d *Delivery) payload(ctx context.Context, p *pushstore.Pusher, job *pushstore.Job) ([]byte, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal([]byte(p.Data), &data); err != nil {
		return nil, err
	}
	var format string
	_ = json.Unmarshal(data["format"], &format)
	// The pusher's data goes to the gateway without url (client-server-api
	// "POST /pushers/set", data).
	delete(data, "url")
	var actions []pushrules.Action
	_ = json.Unmarshal([]byte(job.Actions), &actions)
	tweaks := map[string]json.RawMessage{}
	for _, a := range actions {
		if a.Name == pushrules.ActionSetTweak && a.Tweak != "" {
			v := a.Value
			if v == nil && a.Tweak == "highlight" {
				v = json.RawMessage("true")
			}
			if v != nil {
				tweaks[a.Tweak] = v
			}
		}
	}
	unread, err := d.cfg.Notifier.UnreadRooms(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	se, err := d.cfg.Notifier.cfg.Rooms.Store().Event(ctx, job.EventID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, nil // the event is gone: nothing to push
	}
	if err != nil {
		return nil, err
	}
	// Synapse's priority: high for what should wake the device (a
	// highlight, a sound, an encrypted event that may be either).
	prio := "low"
	if _, ok := tweaks["sound"]; ok || se.Type() == "m.room.encrypted" || string(tweaks["highlight"]) == "true" {
		prio = "high"
	}
	n := map[string]any{
		"event_id": job.EventID,
		"room_id":  job.RoomID,
		"prio":     prio,
		"counts":   map[string]int{"unread": unread},
		"devices": []map[string]any{{"app_id": p.AppID, "pushkey": p.PushKey, "pushkey_ts": p.CreatedTS / 1000,
			"data": data, "tweaks": tweaks}},
	}
	if format != FormatEventIDOnly {
		n["type"] = se.Type()
		n["sender"] = se.Sender()
		if se.RedactedBy == "" {
			n["content"] = json.RawMessage(se.Content())
		}
		if sk := se.StateKey(); sk != nil && se.Type() == event.TypeMember {
			n["user_is_target"] = *sk == p.UserID
		}
		d.addNames(ctx, n, se.RoomID(), se.Sender())
	}
	return json.Marshal(map[string]any{"notification": n})
}

// addNames adds the room's name and the sender's display name, read from
// the current state, when there are any.
func (d *Delivery) addNames(ctx context.Context, n map[string]any, roomID, sender string) {
	view, err := d.cfg.Notifier.cfg.Rooms.CurrentView(ctx, roomID)
	if err != nil {
		return
	}
	if ev := view.Get("m.room.name", ""); ev != nil {
		var c struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(ev.Content(), &c) == nil && c.Name != "" {
			n["room_name"] = c.Name
		}
	}
	if ev := view.Get("m.room.canonical_alias", ""); ev != nil {
		var c struct {
			Alias string `json:"alias"`
		}
		if json.Unmarshal(ev.Content(), &c) == nil && c.Alias != "" {
			n["room_alias"] = c.Alias
		}
	}
	if name := displayName(view.Get(event.TypeMember, sender)); name != "" {
		n["sender_display_name"] = name
	}
}
