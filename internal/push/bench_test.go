package push

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/pushrules"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// accountData adapts the accounts store to the rules' AccountData.
type accountData struct{ s accounts.Store }

func (a accountData) AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error) {
	raw, err := a.s.GetAccountData(ctx, userID, roomID, typ)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

func (a accountData) PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error {
	return a.s.PutAccountData(ctx, userID, roomID, typ, content, pos)
}

// BenchmarkNotifierMessage is the notifier's whole work for one message in
// a room of 10, 100 and 1 000 local members, on a real database: the
// members and the state before the event read, the event evaluated for
// every member (every tenth has rules of their own), and the
// notifications written with the cursor in one transaction. The
// recipients' ignore lists are read as the server reads them. "evaluate" is
// the same without the write.
func BenchmarkNotifierMessage(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		n, e := benchNotifier(b, db)
		for _, members := range []int{10, 100, 1000} {
			room, sender := benchRoom(b, n, members)
			ctx := context.Background()
			next := func(b *testing.B) *roomstore.StoredEvent {
				ev := roomstest.Say(b, e, room, sender, "The release went out this morning; please check your dashboards.")
				se, err := e.Store().Event(ctx, ev.EventID())
				if err != nil {
					b.Fatal(err)
				}
				return se
			}
			b.Run(fmt.Sprintf("members=%d/evaluate", members), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					se := next(b)
					b.StartTimer()
					ns, err := n.Evaluate(ctx, se)
					if err != nil || len(ns) != members-1 {
						b.Fatalf("%d notifications, %v", len(ns), err)
					}
				}
			})
			b.Run(fmt.Sprintf("members=%d/evaluate+commit", members), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					se := next(b)
					b.StartTimer()
					if err := n.commit(ctx, []*roomstore.StoredEvent{se}, se.StreamPos); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

const benchServer = "bench.example.org"

// benchNotifier is a notifier on a fresh engine for benchServer.
func benchNotifier(b *testing.B, db *sqldb.DB) (*Notifier, *rooms.Engine) {
	b.Helper()
	n, e, _ := newNotifier(b, db)
	return n, e
}

// newNotifier is a notifier (not started) on a fresh engine for
// benchServer, with the receipts service that reads what it counts.
func newNotifier(b testing.TB, db *sqldb.DB) (*Notifier, *rooms.Engine, *receipts.Service) {
	b.Helper()
	ctx := context.Background()
	e := roomstest.NewEngine(b, db, benchServer)
	acct, err := accounts.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	ps, err := pushstore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := receiptstore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	rc, err := receipts.New(ctx, receipts.Config{Store: rs, Rooms: e, ServerName: benchServer})
	if err != nil {
		b.Fatal(err)
	}
	rules := NewRules(accountData{acct}, e.Stream(), e.Notifier())
	// The server's check of who ignores the sender is one query for all
	// recipients; here nobody ignores anyone, so only its cost shows.
	ignoring := func(ctx context.Context, recipients []string, _ string) (map[string]bool, error) {
		_, err := acct.GlobalAccountDataOf(ctx, recipients, "m.ignored_user_list")
		return nil, err
	}
	n, err := NewNotifier(ctx, NotifierConfig{Store: ps, Rooms: e, Rules: rules, ThreadOf: rc.ThreadOf, Receipts: rs, Ignoring: ignoring})
	if err != nil {
		b.Fatal(err)
	}
	return n, e, rc
}

// benchRoom makes a room of members local users, every tenth with a
// keyword rule of their own, and returns it and a member to send with.
func benchRoom(b *testing.B, n *Notifier, members int) (room, sender string) {
	b.Helper()
	ctx := context.Background()
	users := make([]string, members)
	for i := range users {
		users[i] = fmt.Sprintf("@m%d-user%04d:%s", members, i, benchServer)
		if i%10 == 5 {
			err := n.cfg.Rules.Update(ctx, users[i], func(rs *pushrules.Ruleset) error {
				p := "deploy*"
				return pushrules.Put(rs, pushrules.Content, "kw", pushrules.NewRule{Pattern: &p,
					Actions: []pushrules.Action{pushrules.Notify()}}, "", "")
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	return roomstest.PublicRoom(b, n.cfg.Rooms, users[0], users[1:]...), users[1]
}

// BenchmarkSendPushAtCommit is one message's send, from the request to
// its durable commit, in a room of 10, 100 and 1 000 local members:
// "plain" without push evaluation (the notifier's pass behind the commits
// then writes the notifications in a transaction of its own), and
// "push-at-commit" with the members evaluated before the commit and
// their notifications written in the event's own transaction.
func BenchmarkSendPushAtCommit(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		n, e := benchNotifier(b, db)
		for _, members := range []int{10, 100, 1000} {
			room, sender := benchRoom(b, n, members)
			for _, mode := range []string{"plain", "push-at-commit"} {
				if mode == "plain" {
					e.SetPreCommitter(nil)
				} else {
					e.SetPreCommitter(n)
				}
				b.Run(fmt.Sprintf("members=%d/%s", members, mode), func(b *testing.B) {
					for range b.N {
						roomstest.Say(b, e, room, sender, "The release went out this morning; please check your dashboards.")
					}
				})
			}
			e.SetPreCommitter(nil)
		}
	})
}
