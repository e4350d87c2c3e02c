package txnsender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/appservice/txnsender/txntest"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/appservicestore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/typing"
)

const server = "hs.example.org"

// namespaces is a registration's regexes (application-service-api
// "Registration"), matched whole as Synapse does.
type namespaces struct{ users, rooms, aliases *regexp.Regexp }

func ns(users, rooms, aliases string) namespaces {
	c := func(s string) *regexp.Regexp {
		if s == "" {
			return nil
		}
		return regexp.MustCompile("^(?:" + s + ")$")
	}
	return namespaces{c(users), c(rooms), c(aliases)}
}

func match(re *regexp.Regexp, s string) bool { return re != nil && re.MatchString(s) }

func (n namespaces) IsInterestedInUser(u string) bool   { return match(n.users, u) }
func (n namespaces) IsInterestedInRoomID(r string) bool { return match(n.rooms, r) }
func (n namespaces) IsInterestedInAlias(a string) bool  { return match(n.aliases, a) }
func (n namespaces) IsExclusiveUser(u string) bool      { return match(n.users, u) }

// httpPusher PUTs transactions to a URL with the hs_token, as the
// appservice client does.
type httpPusher struct{ url string }

func (p httpPusher) PushTransaction(ctx context.Context, txnID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url+"/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+txntest.DefaultHSToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("appservice answered %d", resp.StatusCode)
	}
	return nil
}

type rig struct {
	db       *sqldb.DB
	engine   *rooms.Engine
	store    *appservicestore.Store
	typing   *typing.Service
	receipts *receipts.Service
	rstore   *receiptstore.Store
}

func newRig(t testing.TB, db *sqldb.DB) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{db: db, engine: roomstest.NewEngine(t, db, server)}
	var err error
	if r.store, err = appservicestore.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	if r.rstore, err = receiptstore.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	if r.receipts, err = receipts.New(ctx, receipts.Config{Store: r.rstore, Rooms: r.engine, ServerName: server}); err != nil {
		t.Fatal(err)
	}
	r.typing = typing.New(typing.Config{Rooms: r.engine, ServerName: server})
	return r
}

func (r *rig) reopenStore(t *testing.T) {
	t.Helper()
	st, err := appservicestore.New(context.Background(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	r.store = st
}

func (r *rig) sender(t testing.TB, services ...AppService) *Sender {
	t.Helper()
	s, err := New(context.Background(), Config{Store: r.store, Rooms: r.engine, AppServices: services,
		Typing: r.typing, Receipts: r.receipts, ReceiptStore: r.rstore,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func bridge(a *txntest.Appservice) AppService {
	return AppService{ID: "irc", SenderUserID: "@ircbot:" + server, Interest: ns(`@irc_.*:hs\.example\.org`, "", `#irc_.*:hs\.example\.org`),
		Ephemeral: true, Pusher: httpPusher{a.URL()}}
}

// Events in rooms where a namespace user is joined reach the appservice in
// the order of the room stream; events of rooms it has no interest in
// never do.
func TestSender_DeliversEventsOfInterestInOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		a := txntest.New(t)
		alice := "@alice:" + server
		bridged := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		other := roomstest.PublicRoom(t, r.engine, alice, "@carol:"+server)
		// A new appservice is sent what happens from now on.
		r.sender(t, bridge(a))
		var want []string
		for i := range 5 {
			want = append(want, roomstest.Say(t, r.engine, bridged, alice, fmt.Sprint("hello ", i)).EventID())
			roomstest.Say(t, r.engine, other, alice, "not bridged")
		}
		// A last event in the bridged room marks the end: had events of
		// the other room been pushed, they would come before it.
		want = append(want, roomstest.Say(t, r.engine, bridged, alice, "the end").EventID())
		got := txntest.EventIDs(a.WaitEvents(t, len(want)))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pushed %v, want %v", got, want)
		}
	})
}

// While the appservice refuses connections and then answers 500, the
// transactions wait, stored; once it answers 200 every event arrives once,
// in order, in transactions of at most 100 events (application-service-api
// "Pushing events": backoff, and no change to a transaction on retries).
func TestSender_RetriesWhileTheAppserviceIsDownAndBatches(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		a := txntest.Unstarted(t)
		alice := "@alice:" + server
		room := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		s := r.sender(t, bridge(a))
		var want []string
		for i := range 250 {
			want = append(want, roomstest.Say(t, r.engine, room, alice, fmt.Sprint("m", i)).EventID())
		}
		txntest.Eventually(t, "a transaction is stored while the appservice refuses connections", func() bool {
			n, err := s.Pending(context.Background(), "irc")
			return err == nil && n >= 1
		})
		a.SetDown(true)
		a.Start(t)
		txntest.Eventually(t, "the appservice is retried after it comes up answering 500", func() bool { return a.AttemptsSeen() >= 2 })
		a.SetDown(false)
		rcs := a.WaitEvents(t, len(want))
		txntest.CheckExactlyOnce(t, rcs, want, MaxEvents)
		if len(rcs) < 3 {
			t.Errorf("250 events in %d transactions", len(rcs))
		}
	})
}

// Transactions are stored before they are sent: a sender stopped while the
// appservice is down sends, after the restart, the same transaction ID with
// the same body (the appservice test server fails the test otherwise), and
// one acknowledged is never sent again.
func TestSender_ResumesAfterRestartWithoutDuplicates(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		a := txntest.New(t)
		a.SetDown(true)
		alice := "@alice:" + server
		room := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		first := r.sender(t, bridge(a))
		var want []string
		for i := range 3 {
			want = append(want, roomstest.Say(t, r.engine, room, alice, fmt.Sprint("m", i)).EventID())
		}
		txntest.Eventually(t, "a transaction was tried", func() bool { return a.AttemptsSeen() >= 1 })
		first.Close()

		// A new sender with a new store on the same database (the
		// server's tests restart the whole process).
		r.reopenStore(t)
		a.SetDown(false)
		second := r.sender(t, bridge(a))
		want = append(want, roomstest.Say(t, r.engine, room, alice, "after restart").EventID())
		rcs := a.WaitEvents(t, len(want))
		second.Close()

		r.reopenStore(t)
		r.sender(t, bridge(a))
		want = append(want, roomstest.Say(t, r.engine, room, alice, "after a second restart").EventID())
		rcs = append(rcs, a.WaitEvents(t, 1)...)
		txntest.CheckExactlyOnce(t, rcs, want, MaxEvents)
		for id, n := range a.Attempts() {
			if n > 1 && id != rcs[0].TxnID {
				t.Errorf("transaction %s sent %d times", id, n)
			}
		}
	})
}

// An event interests an appservice when its room is in the rooms
// namespace, one of the room's aliases is in the aliases namespace, one of
// its users is joined, or the event is sent by or about one of its users;
// other rooms' events never reach it.
func TestSender_NamespacesDecideWhatIsPushed(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		r := newRig(t, db)
		a := txntest.New(t)
		alice := "@alice:" + server
		byRoomID := roomstest.PublicRoom(t, r.engine, alice)
		byAlias := roomstest.PublicRoom(t, r.engine, alice)
		if err := r.engine.Store().CreateAlias(ctx, "#irc_chat:"+server, byAlias, alice); err != nil {
			t.Fatal(err)
		}
		byMember := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		byBot := roomstest.PublicRoom(t, r.engine, alice, "@ircbot:"+server)
		none := roomstest.PublicRoom(t, r.engine, alice, "@carol:"+server)
		as := bridge(a)
		as.Interest = ns(`@irc_.*:hs\.example\.org`, regexp.QuoteMeta(byRoomID), `#irc_.*:hs\.example\.org`)
		r.sender(t, as)
		var want []string
		for _, room := range []string{byRoomID, none, byAlias, none, byMember, none, byBot} {
			ev := roomstest.Say(t, r.engine, room, alice, "hello")
			if room != none {
				want = append(want, ev.EventID())
			}
		}
		// Events about a namespace user: an invite of one into a room
		// without interest.
		invite := "@irc_newcomer:" + server
		ev, err := r.engine.Send(ctx, none, memberEvent(alice, invite, "invite"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.EventID())
		txntest.CheckExactlyOnce(t, a.WaitEvents(t, len(want)), want, MaxEvents)
	})
}

// With receive_ephemeral, typing and receipts in rooms of interest ride
// along with the room's user IDs (application-service-api "Pushing
// ephemeral data"), under the stable and the MSC2409 name; other rooms'
// are left out.
func TestSender_PushesTypingAndReceipts(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		r := newRig(t, db)
		a := txntest.New(t)
		alice := "@alice:" + server
		room := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		other := roomstest.PublicRoom(t, r.engine, alice, "@carol:"+server)
		r.sender(t, bridge(a))

		if err := r.typing.Set(ctx, other, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := r.typing.Set(ctx, room, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		rc := a.WaitEphemeral(t, "m.typing")
		for _, e := range rc.Ephemeral {
			if e.Type == "m.typing" {
				if e.RoomID != room || string(e.Content) != `{"user_ids":["@alice:hs.example.org"]}` {
					t.Fatalf("typing pushed: %s in %s", e.Content, e.RoomID)
				}
			}
		}
		if len(rc.MSC2409Ephemeral) != len(rc.Ephemeral) {
			t.Errorf("de.sorunome.msc2409.ephemeral has %d events, ephemeral %d", len(rc.MSC2409Ephemeral), len(rc.Ephemeral))
		}

		msg := roomstest.Say(t, r.engine, room, "@irc_bob:"+server, "hi").EventID()
		otherMsg := roomstest.Say(t, r.engine, other, "@carol:"+server, "hi").EventID()
		if err := r.receipts.Post(ctx, other, alice, receipts.Read, otherMsg, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.receipts.Post(ctx, room, alice, receipts.Read, msg, nil); err != nil {
			t.Fatal(err)
		}
		rc = a.WaitEphemeral(t, "m.receipt")
		for _, e := range rc.Ephemeral {
			if e.Type != "m.receipt" {
				continue
			}
			var content map[string]map[string]map[string]struct {
				TS int64 `json:"ts"`
			}
			if err := json.Unmarshal(e.Content, &content); err != nil {
				t.Fatal(err)
			}
			if e.RoomID != room || content[msg]["m.read"][alice].TS == 0 {
				t.Fatalf("receipt pushed: %s in %s", e.Content, e.RoomID)
			}
		}
	})
}

// A registration without a url is sent nothing: no worker, nothing stored.
func TestSender_NoURLNoTransactions(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		alice := "@alice:" + server
		room := roomstest.PublicRoom(t, r.engine, alice, "@irc_bob:"+server)
		as := bridge(txntest.New(t))
		as.Pusher = nil
		s := r.sender(t, as)
		roomstest.Say(t, r.engine, room, alice, "hello")
		s.Close()
		if n, err := s.Pending(context.Background(), "irc"); err != nil || n != 0 {
			t.Fatalf("pending %d, %v", n, err)
		}
	})
}

func memberEvent(sender, target, membership string) *event.Builder {
	return &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: sender,
		Content: rooms.Content(map[string]any{"membership": membership})}
}
