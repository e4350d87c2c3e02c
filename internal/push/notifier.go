package push

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/pushrules"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// ThreadOf tells which thread an event is in: a thread root's event ID, or
// "main" (receipts.Service.ThreadOf).
type ThreadOf func(ctx context.Context, ev *event.Event) (string, error)

// NotifierConfig builds a Notifier.
type NotifierConfig struct {
	Store    *pushstore.Store
	Rooms    *rooms.Engine
	Rules    *Rules
	ThreadOf ThreadOf
	// Receipts are the users' read receipts, which end what counts as
	// unread.
	Receipts *receiptstore.Store
	// Ignoring reports which of the recipients ignore the sender
	// (m.ignored_user_list): their events notify nobody who ignores them
	// (client-server-api "Ignoring Users": the server must not send the
	// ignored user's events to the ignoring one). May be nil.
	Ignoring func(ctx context.Context, recipients []string, sender string) (map[string]bool, error)
	// ReceiptsAt is the receipt stream's current position (receipts.Service
	// Current), which a local user's read receipt moves after it is
	// stored; with it, a user's unread counts are cached until something
	// that could change them moves (countcache.go). May be nil.
	ReceiptsAt func() int64
	// Queued is called after a commit that queued pushes for pushers
	// (wakes the delivery); may be nil.
	Queued func()
	// Now is the clock that ages notifications (PruneRead); time.Now
	// when nil.
	Now func() time.Time
	Log *slog.Logger
}

// persistCursorEvery is how far (in stream positions) the cursor may run
// ahead of its stored copy over events that notify nobody.
const persistCursorEvery = 1000

// batchEvents bounds how many events one evaluation transaction covers.
const batchEvents = 100

// Notifier evaluates every committed room event once, in stream order, for
// the room's local members, and stores who it notifies. It follows the
// room event stream from a cursor stored with its results: each batch's
// notifications, queued pushes and the new cursor are written in one
// transaction, so after a crash it resumes where the last commit left off,
// and no event is counted twice or missed.
//
// It is also the /sync stream "n" whose position is the cursor: a user's
// sync learns that a room's counts changed when notifications were written
// for them in (since, now].
type Notifier struct {
	cfg    NotifierConfig
	cursor atomic.Int64
	// persisted is the cursor as last written (only the run loop, or
	// Start before it, touches it).
	persisted int64

	// advanced is closed and replaced whenever the cursor moves.
	advMu    sync.Mutex
	advanced chan struct{}

	// atCommit holds the positions of events evaluated in their own
	// commit (precommit.go), which the pass behind the commits skips.
	atCommit evaluatedAtCommit

	// counts is each syncing user's last unread counts (countcache.go).
	counts *countCache

	wake     chan struct{}
	stop     chan struct{}
	finished chan struct{}
	pruned   chan struct{} // closed when the pruning loop has stopped
	closing  sync.Once
}

// NewNotifier returns a notifier positioned at the stored cursor.
func NewNotifier(ctx context.Context, cfg NotifierConfig) (*Notifier, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pos, err := cfg.Store.Cursor(ctx)
	if err != nil {
		return nil, err
	}
	if pos == pushstore.NotStarted {
		// History before push existed notifies nobody, as in Synapse,
		// which evaluates events only as they are persisted.
		pos = cfg.Rooms.Stream().Current()
		if err := cfg.Store.Commit(ctx, nil, nil, pos); err != nil {
			return nil, err
		}
	}
	n := &Notifier{cfg: cfg, wake: make(chan struct{}, 1), advanced: make(chan struct{}),
		counts: syncapi.NewTaggedCache[countsQuestion, map[string]syncapi.RoomUnread](maxCountsCached)}
	n.cursor.Store(pos)
	n.persisted = pos
	return n, nil
}

// Start evaluates what a previous run committed but did not evaluate, then
// follows the stream in the background until Close.
func (n *Notifier) Start(ctx context.Context) error {
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	n.stop, n.finished, n.pruned = make(chan struct{}), make(chan struct{}), make(chan struct{})
	n.cfg.Rooms.Stream().OnAdvance(func(int64) { n.poke() })
	go n.run()
	go n.prune()
	return nil
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// retryAfter is how long the notifier waits after a failed batch.
const retryAfter = time.Second

func (n *Notifier) run() {
	defer close(n.finished)
	for {
		select {
		case <-n.stop:
			return
		case <-n.wake:
		}
		for {
			err := n.catchUp(context.Background())
			if err == nil {
				break
			}
			n.cfg.Log.Error("push evaluation failed; retrying", "err", err)
			select {
			case <-n.stop:
				return
			case <-time.After(retryAfter):
			}
		}
	}
}

// Close stops the background evaluation (what is left is evaluated at the
// next start).
func (n *Notifier) Close() {
	n.closing.Do(func() {
		if n.stop != nil {
			close(n.stop)
			<-n.finished
			<-n.pruned
		}
		// Saves evaluating again at the next start what notified nobody.
		if pos := n.cursor.Load(); pos > n.persisted {
			if err := n.cfg.Store.Commit(context.Background(), nil, nil, pos); err != nil {
				n.cfg.Log.Warn("push: storing the cursor at shutdown failed", "err", err)
			}
		}
	})
}

// catchUp evaluates every event up to the room stream's readable position.
func (n *Notifier) catchUp(ctx context.Context) error {
	for {
		stable := n.cfg.Rooms.Stream().Current()
		n.skipAhead(stable)
		from := n.cursor.Load()
		n.atCommit.forget(from)
		if stable <= from {
			// What was passed without a write is stored now and then.
			return n.persistCursor(ctx, from)
		}
		evs, err := n.cfg.Rooms.Store().StreamEvents(ctx, from, stable, batchEvents)
		if err != nil {
			return err
		}
		to := stable
		if len(evs) == batchEvents {
			to = evs[len(evs)-1].StreamPos
		}
		// Positions without events (account data) and events evaluated
		// at their commit leave nothing to store here; the cursor alone is
		// written now and then (commit), which bounds what a restart
		// evaluates again.
		evs = n.atCommit.leaveOut(evs)
		if err := n.commit(ctx, evs, to); err != nil {
			return err
		}
	}
}

func (n *Notifier) commit(ctx context.Context, evs []*roomstore.StoredEvent, to int64) error {
	var notes []pushstore.Notification
	for _, se := range evs {
		ns, err := n.Evaluate(ctx, se)
		if err != nil {
			return err
		}
		notes = append(notes, ns...)
	}
	jobs, users, err := n.jobsFor(ctx, notes)
	if err != nil {
		return err
	}
	// A batch that notifies nobody need not be written: a restart
	// evaluates it again and finds nothing again (nor stores anything
	// twice of what was evaluated at commit). So sends in rooms
	// without other local members cost no second write transaction; the
	// cursor alone is written now and then, which bounds what a restart
	// evaluates again.
	if len(notes) > 0 || to-n.persisted >= persistCursorEvery {
		if err := n.cfg.Store.Commit(ctx, notes, jobs, to); err != nil {
			return err
		}
		n.persisted = to
	}
	n.advance(to)
	if len(users) > 0 {
		n.cfg.Rooms.Notifier().Wake(users...)
	}
	if len(jobs) > 0 && n.cfg.Queued != nil {
		n.cfg.Queued()
	}
	return nil
}

// jobsFor returns the pushes notes make (one per pusher of each notified
// user) and the users notified.
func (n *Notifier) jobsFor(ctx context.Context, notes []pushstore.Notification) ([]pushstore.Job, []string, error) {
	var users []string
	seen := map[string]bool{}
	for _, nt := range notes {
		if !seen[nt.UserID] {
			seen[nt.UserID] = true
			users = append(users, nt.UserID)
		}
	}
	if len(users) == 0 {
		return nil, nil, nil
	}
	pushers, err := n.cfg.Store.PushersOfUsers(ctx, users)
	if err != nil {
		return nil, nil, err
	}
	var jobs []pushstore.Job
	for _, nt := range notes {
		for _, p := range pushers[nt.UserID] {
			jobs = append(jobs, pushstore.Job{PusherID: p.ID, UserID: nt.UserID, RoomID: nt.RoomID,
				EventID: nt.EventID, StreamPos: nt.StreamPos, Actions: nt.Actions})
		}
	}
	return jobs, users, nil
}

// persistCursor stores the cursor when it ran far enough past its stored
// copy (only the run loop, or Start before it, calls it).
func (n *Notifier) persistCursor(ctx context.Context, pos int64) error {
	if pos-n.persisted < persistCursorEvery {
		return nil
	}
	if err := n.cfg.Store.Commit(ctx, nil, nil, pos); err != nil {
		return err
	}
	n.persisted = pos
	return nil
}

// advance moves the cursor forward to to (never back: syncs move it too,
// see skipAhead) and wakes who waits for it.
func (n *Notifier) advance(to int64) {
	for {
		cur := n.cursor.Load()
		if to <= cur {
			return
		}
		if n.cursor.CompareAndSwap(cur, to) {
			break
		}
	}
	n.advMu.Lock()
	close(n.advanced)
	n.advanced = make(chan struct{})
	n.advMu.Unlock()
}

// maxCatchUpWait bounds how long a sync waits for the notifier.
const maxCatchUpWait = 100 * time.Millisecond

// CatchUp waits, at most briefly, until every event up to pos has been
// evaluated (syncapi.UnreadCounter): a sync woken by a new message then
// carries the message and the counts it makes in one response, instead of
// being woken again by the counts.
func (n *Notifier) CatchUp(ctx context.Context, pos int64) {
	if n.cursor.Load() >= pos {
		return
	}
	// Local events were evaluated in their own commit: when they are all
	// that lies ahead, there is nothing to wait for.
	if n.skipAhead(pos); n.cursor.Load() >= pos {
		return
	}
	t := time.NewTimer(maxCatchUpWait)
	defer t.Stop()
	for {
		n.advMu.Lock()
		ch := n.advanced
		n.advMu.Unlock()
		if n.cursor.Load() >= pos {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Evaluate returns the notifications one committed event makes: one per
// local member of the room (and a local user it invites) whose push rules
// say notify. As Synapse does, the members are the room's current local
// members (the notifier runs right behind the commits), while the rules'
// room conditions read the state before the event.
func (n *Notifier) Evaluate(ctx context.Context, se *roomstore.StoredEvent) ([]pushstore.Notification, error) {
	if se.Outlier || se.RedactedBy != "" {
		return nil, nil
	}
	members, err := n.cfg.Rooms.Store().Members(ctx, se.RoomID(), event.Join)
	if err != nil {
		return nil, err
	}
	joined := make(map[string]bool, len(members))
	for u := range members {
		joined[u] = true
	}
	var view *rooms.StateView
	state := func() (eventauth.StateLookup, error) {
		if view == nil {
			if view, err = n.cfg.Rooms.StateBefore(ctx, se); err != nil {
				return nil, err
			}
		}
		return view, nil
	}
	out, err := n.evaluate(ctx, se.Event, se.StreamPos, joined, state, n.cfg.ThreadOf)
	if err == nil && view != nil {
		err = view.Err()
	}
	return out, err
}

// evaluate is Evaluate of ev at position pos, given the room's joined
// members, the state before ev (asked for only when someone may be
// notified) and how to find ev's thread.
func (n *Notifier) evaluate(ctx context.Context, ev *event.Event, pos int64, joined map[string]bool,
	stateBefore func() (eventauth.StateLookup, error), threadOf ThreadOf) ([]pushstore.Notification, error) {
	suffix := ":" + n.cfg.Rooms.ServerName()
	var local []string
	for u := range joined {
		if strings.HasSuffix(u, suffix) && u != ev.Sender() {
			local = append(local, u)
		}
	}
	// An invite notifies its local target, who is not a member yet
	// (.m.rule.invite_for_me).
	if ev.Type() == event.TypeMember && ev.Membership() == event.Invite && ev.StateKey() != nil {
		if t := *ev.StateKey(); strings.HasSuffix(t, suffix) && !joined[t] && t != ev.Sender() {
			local = append(local, t)
		}
	}
	if len(local) > 0 && n.cfg.Ignoring != nil {
		ignoring, err := n.cfg.Ignoring(ctx, local, ev.Sender())
		if err != nil {
			return nil, err
		}
		if len(ignoring) > 0 {
			kept := local[:0]
			for _, u := range local {
				if !ignoring[u] {
					kept = append(kept, u)
				}
			}
			local = kept
		}
	}
	if len(local) == 0 {
		return nil, nil
	}
	view, err := stateBefore()
	if err != nil {
		return nil, err
	}
	room := pushrules.RoomContext{MemberCount: len(joined)}
	if pl, err := eventauth.PowerLevelsFrom(view, ev.Version()); err == nil {
		room.SenderPowerLevel = pl.UserLevel(ev.Sender())
		room.NotificationLevels = pl.Notifications
	}
	pev, err := pushrules.Prepare(ev.JSON(), room)
	if err != nil {
		// Stored events are JSON objects; one that is not notifies nobody.
		n.cfg.Log.Warn("push: event does not parse", "event_id", ev.EventID(), "err", err)
		return nil, nil
	}
	thread := ""
	var out []pushstore.Notification
	actionsJSON := map[*pushrules.Action][]byte{}
	for _, u := range local {
		c, err := n.cfg.Rules.Compiled(ctx, u)
		if err != nil {
			return nil, err
		}
		r := pushrules.Recipient{UserID: u}
		if c.NeedsDisplayName() {
			r.DisplayName = displayName(view.Get(event.TypeMember, u))
		}
		res, ok := c.Evaluate(pev, r)
		if !ok || !res.Notify {
			continue
		}
		if thread == "" {
			if thread, err = threadOf(ctx, ev); err != nil {
				return nil, err
			}
		}
		var acts []byte
		if len(res.Actions) > 0 {
			acts = actionsJSON[&res.Actions[0]]
		}
		if acts == nil {
			if acts, err = json.Marshal(res.Actions); err != nil {
				return nil, err
			}
			if len(res.Actions) > 0 {
				actionsJSON[&res.Actions[0]] = acts
			}
		}
		out = append(out, pushstore.Notification{UserID: u, RoomID: ev.RoomID(), EventID: ev.EventID(),
			StreamPos: pos, ThreadID: thread, Highlight: res.Highlight, Actions: string(acts),
			TS: ev.OriginServerTS()})
	}
	return out, nil
}

// displayName is a member event's displayname, "" when none.
func displayName(member *event.Event) string {
	if member == nil {
		return ""
	}
	var c struct {
		DisplayName string `json:"displayname"`
	}
	_ = json.Unmarshal(member.Content(), &c)
	return c.DisplayName
}

// Key is the stream's part in sync tokens.
func (n *Notifier) Key() string { return "n" }

// Current is the cursor: every event at or below it has been evaluated.
func (n *Notifier) Current() int64 { return n.cursor.Load() }
