// Package userdir is the user directory (client-server-api "User
// directory", POST /user_directory/search): who a user can find by name.
//
// The directory follows the room event stream from a cursor stored with
// what it learnt (as the push notifier does), so it sees every membership
// and room publicity change whichever process made it, and a crash neither
// loses nor repeats one. Local users' profiles come from their account
// (Synapse lists local users under their global profile, remote users
// under the display name of their latest member event); a change of a
// local profile reaches the directory through the users service's profile
// hook, since users in no room send no member event.
package userdir

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
)

// Accounts reads local users' accounts (accounts.Store).
type Accounts interface {
	GetUser(ctx context.Context, userID string) (*accounts.User, error)
	ListUsers(ctx context.Context, q accounts.UserQuery) ([]accounts.User, int64, error)
}

// Config builds a Directory.
type Config struct {
	Store    *userdirstore.Store
	Rooms    *rooms.Engine
	Accounts Accounts
	// SearchAllUsers and PreferLocalUsers are Synapse's
	// user_directory.search_all_users and prefer_local_users.
	SearchAllUsers   bool
	PreferLocalUsers bool
	Log              *slog.Logger
}

// batchEvents bounds how many events one transaction applies.
const batchEvents = 100

// retryAfter is how long the follower waits after a failed batch.
const retryAfter = time.Second

// Directory keeps the user directory in step with the rooms and answers
// searches.
type Directory struct {
	cfg    Config
	suffix string // ":" + server name

	mu     sync.Mutex // guards cursor
	cursor int64
	// applying serializes catchUp: the background loop and searches
	// that bring the directory up to date first.
	applying sync.Mutex

	wake     chan struct{}
	stop     chan struct{}
	finished chan struct{}
	closing  sync.Once
}

// New returns a directory positioned at its stored cursor. A directory
// never built before indexes the rooms and users that exist first (Start
// does it).
func New(ctx context.Context, cfg Config) (*Directory, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	pos, err := cfg.Store.Cursor(ctx)
	if err != nil {
		return nil, err
	}
	return &Directory{cfg: cfg, suffix: ":" + cfg.Rooms.ServerName(), cursor: pos, wake: make(chan struct{}, 1)}, nil
}

// Start builds the directory if it never was, applies what a previous run
// did not, then follows the stream in the background until Close.
func (d *Directory) Start(ctx context.Context) error {
	if d.cursor == userdirstore.NotStarted {
		if err := d.build(ctx); err != nil {
			return err
		}
	}
	if err := d.catchUp(ctx); err != nil {
		return err
	}
	d.stop, d.finished = make(chan struct{}), make(chan struct{})
	d.cfg.Rooms.Stream().OnAdvance(func(int64) { d.poke() })
	go d.run()
	return nil
}

func (d *Directory) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Directory) run() {
	defer close(d.finished)
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		for {
			err := d.catchUp(context.Background())
			if err == nil {
				break
			}
			d.cfg.Log.Error("user directory update failed; retrying", "err", err)
			select {
			case <-d.stop:
				return
			case <-time.After(retryAfter):
			}
		}
	}
}

// Close stops following the stream; the rest is applied at the next start.
func (d *Directory) Close() {
	d.closing.Do(func() {
		if d.stop != nil {
			close(d.stop)
			<-d.finished
		}
	})
}

// Cursor is the room stream position up to which the directory is up to
// date.
func (d *Directory) Cursor() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cursor
}

// build indexes what existed before the directory: the members of every
// room with local members, and every local user. Events after the stream
// position read first are applied again by catchUp, which changes nothing
// already right.
func (d *Directory) build(ctx context.Context) error {
	start := d.cfg.Rooms.Stream().Current()
	roomIDs, err := d.cfg.Rooms.Store().AllRooms(ctx)
	if err != nil {
		return err
	}
	for _, roomID := range roomIDs {
		c := d.newCollector()
		if err := c.resetRoom(ctx, roomID); err != nil {
			return err
		}
		if err := d.cfg.Store.Apply(ctx, c.batch(), userdirstore.NotStarted); err != nil {
			return err
		}
	}
	const page = 500
	for offset := 0; ; offset += page {
		us, _, err := d.cfg.Accounts.ListUsers(ctx, accounts.UserQuery{Offset: offset, Limit: page})
		if err != nil {
			return err
		}
		c := d.newCollector()
		for i := range us {
			c.localUser(&us[i])
		}
		if err := d.cfg.Store.Apply(ctx, c.batch(), userdirstore.NotStarted); err != nil {
			return err
		}
		if len(us) < page {
			break
		}
	}
	if err := d.cfg.Store.Apply(ctx, userdirstore.Batch{}, start); err != nil {
		return err
	}
	d.setCursor(start)
	d.cfg.Log.Info("user directory built", "rooms", len(roomIDs), "stream_pos", start)
	return nil
}

func (d *Directory) setCursor(pos int64) {
	d.mu.Lock()
	d.cursor = pos
	d.mu.Unlock()
}

// catchUp applies every event up to the room stream's readable position.
func (d *Directory) catchUp(ctx context.Context) error {
	d.applying.Lock()
	defer d.applying.Unlock()
	for {
		stable := d.cfg.Rooms.Stream().Current()
		from := d.Cursor()
		if stable <= from {
			return nil
		}
		evs, err := d.cfg.Rooms.Store().StreamEvents(ctx, from, stable, batchEvents)
		if err != nil {
			return err
		}
		to := stable
		if len(evs) == batchEvents {
			to = evs[len(evs)-1].StreamPos
		}
		c := d.newCollector()
		for _, se := range evs {
			if err := c.event(ctx, se); err != nil {
				return err
			}
		}
		if err := d.cfg.Store.Apply(ctx, c.batch(), to); err != nil {
			return err
		}
		d.setCursor(to)
	}
}

// isLocal reports whether userID belongs to this server.
func (d *Directory) isLocal(userID string) bool { return strings.HasSuffix(userID, d.suffix) }

// listed is the entry of a local account, or nil when the directory does
// not list it: deactivated accounts (as Synapse), and guests and support
// accounts, which are not people one starts a chat with.
func listed(u *accounts.User) *userdirstore.Entry {
	if u.Deactivated || u.IsGuest || u.UserType == "support" {
		return nil
	}
	return &userdirstore.Entry{UserID: u.UserID, DisplayName: u.DisplayName, AvatarURL: u.AvatarURL, Local: true}
}

// OnProfileChange stores a local user's new profile (users.ProfileHook).
func (d *Directory) OnProfileChange(ctx context.Context, userID string) error {
	return d.refreshLocal(ctx, userID)
}

// OnRegister lists a new local user (users.RegisterHook).
func (d *Directory) OnRegister(ctx context.Context, userID string) error {
	return d.refreshLocal(ctx, userID)
}

// OnDeactivate takes a deactivated user out of the directory
// (users.DeactivateHook).
func (d *Directory) OnDeactivate(ctx context.Context, userID string) error {
	return d.cfg.Store.RemoveUser(ctx, userID)
}

func (d *Directory) refreshLocal(ctx context.Context, userID string) error {
	u, err := d.cfg.Accounts.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return d.cfg.Store.RemoveUser(ctx, userID)
	}
	if err != nil {
		return err
	}
	if e := listed(u); e != nil {
		return d.cfg.Store.PutUser(ctx, *e)
	}
	return d.cfg.Store.RemoveUser(ctx, userID)
}

// collector turns events into one userdirstore.Batch. Each change is read
// from the room's current state, not from the event, so applying an event
// again, or late, leaves the directory as the room is now.
type collector struct {
	d     *Directory
	b     userdirstore.Batch
	reset map[string]bool // rooms reset in this batch
	local map[string]bool // local users already looked up
}

func (d *Directory) newCollector() *collector {
	return &collector{d: d, b: userdirstore.Batch{Rooms: map[string]bool{}}, reset: map[string]bool{}, local: map[string]bool{}}
}

func (c *collector) batch() userdirstore.Batch { return c.b }

func (c *collector) event(ctx context.Context, se *roomstore.StoredEvent) error {
	if se.Outlier || se.StateKey() == nil {
		return nil
	}
	roomID := se.RoomID()
	switch se.Type() {
	case event.TypeJoinRules, event.TypeHistoryVisibility:
		if *se.StateKey() != "" {
			return nil
		}
		public, err := c.d.roomPublic(ctx, roomID)
		if err != nil {
			return err
		}
		c.b.Rooms[roomID] = public
	case event.TypeMember:
		if c.reset[roomID] {
			return nil
		}
		userID := *se.StateKey()
		cur, err := c.d.cfg.Rooms.Store().CurrentStateEvent(ctx, roomID, event.TypeMember, userID)
		if err != nil {
			return err
		}
		joined := cur != nil && cur.Membership() == event.Join
		if c.d.isLocal(userID) {
			// The server joining a room (again) learns its members from
			// the state it receives, not from events: read them all. The
			// last local member leaving means the server no longer sees
			// the room: its members are no longer known.
			other := ""
			if !joined {
				other = userID
			}
			has, err := c.d.cfg.Store.HasLocalMember(ctx, roomID, other)
			if err != nil {
				return err
			}
			if !has {
				return c.resetRoom(ctx, roomID)
			}
		}
		c.b.Members = append(c.b.Members, userdirstore.Member{RoomID: roomID, UserID: userID, Joined: joined, Local: c.d.isLocal(userID)})
		if joined {
			return c.member(ctx, cur.Event)
		}
	}
	return nil
}

// resetRoom replaces what the directory knows of a room by its current
// state: its publicity and its joined members, or no members when no
// local user is joined any more.
func (c *collector) resetRoom(ctx context.Context, roomID string) error {
	c.reset[roomID] = true
	c.b.Reset = append(c.b.Reset, roomID)
	public, err := c.d.roomPublic(ctx, roomID)
	if err != nil {
		return err
	}
	c.b.Rooms[roomID] = public
	store := c.d.cfg.Rooms.Store()
	state, err := store.CurrentState(ctx, roomID)
	if err != nil {
		return err
	}
	var ids []string
	anyLocal := false
	for k, id := range state {
		if k.Type == event.TypeMember {
			ids = append(ids, id)
		}
	}
	var joined []*event.Event
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		evs, err := store.EventsOnly(ctx, chunk)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Membership() == event.Join && ev.StateKey() != nil {
				joined = append(joined, ev)
				anyLocal = anyLocal || c.d.isLocal(*ev.StateKey())
			}
		}
	}
	if !anyLocal {
		return nil
	}
	for _, ev := range joined {
		c.b.Members = append(c.b.Members, userdirstore.Member{RoomID: roomID, UserID: *ev.StateKey(), Joined: true,
			Local: c.d.isLocal(*ev.StateKey())})
		if err := c.member(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// member records the profile of a joined member: a remote user's from
// their member event, a local user's from their account.
func (c *collector) member(ctx context.Context, ev *event.Event) error {
	userID := *ev.StateKey()
	if !c.d.isLocal(userID) {
		var content struct {
			DisplayName any `json:"displayname"`
			AvatarURL   any `json:"avatar_url"`
		}
		_ = json.Unmarshal(ev.Content(), &content)
		name, _ := content.DisplayName.(string)
		avatar, _ := content.AvatarURL.(string)
		c.b.Users = append(c.b.Users, userdirstore.Entry{UserID: userID, DisplayName: bound(name, 256), AvatarURL: bound(avatar, 1000)})
		return nil
	}
	if c.local[userID] {
		return nil
	}
	c.local[userID] = true
	u, err := c.d.cfg.Accounts.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	c.localUser(u)
	return nil
}

func (c *collector) localUser(u *accounts.User) {
	if e := listed(u); e != nil {
		c.b.Users = append(c.b.Users, *e)
	} else {
		c.b.Gone = append(c.b.Gone, u.UserID)
	}
}

// bound cuts s to at most n runes: other servers' member events are only
// bounded by the event size.
func bound(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// roomPublic reports whether everyone may find a room's members: its
// join rule is public or its history is world_readable (Synapse's
// definition of a public room for the directory).
func (d *Directory) roomPublic(ctx context.Context, roomID string) (bool, error) {
	store := d.cfg.Rooms.Store()
	jr, err := store.CurrentStateEvent(ctx, roomID, event.TypeJoinRules, "")
	if err != nil {
		return false, err
	}
	if jr != nil && contentField(jr.Content(), "join_rule") == "public" {
		return true, nil
	}
	hv, err := store.CurrentStateEvent(ctx, roomID, event.TypeHistoryVisibility, "")
	if err != nil {
		return false, err
	}
	return hv != nil && contentField(hv.Content(), "history_visibility") == "world_readable", nil
}

func contentField(content json.RawMessage, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(content, &m) != nil {
		return ""
	}
	var s string
	_ = json.Unmarshal(m[key], &s)
	return s
}
