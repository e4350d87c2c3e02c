package pushrules

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkMessageFanout is the work of one message in a room of 10, 100
// and 1 000 local members: the event prepared once, then evaluated for
// every member. Nine in ten members use the shared compiled defaults; every
// tenth has rules of their own (a keyword, a muted room, an override),
// compiled ahead as the service's cache holds them. The figure per
// operation is the whole fan-out; ns/recipient divides it.
func BenchmarkMessageFanout(b *testing.B) {
	for _, members := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) { benchFanout(b, members) })
	}
}

func benchFanout(b *testing.B, members int) {
	shared := CompileDefaults()
	type member struct {
		r Recipient
		c *Compiled
	}
	ms := make([]member, members)
	for i := range ms {
		id := fmt.Sprintf("@user%04d:example.org", i)
		ms[i] = member{r: Recipient{UserID: id, DisplayName: fmt.Sprintf("User %d", i)}, c: shared}
		if i%10 == 0 {
			rs := Defaults(id)
			_ = Put(&rs, Content, "kw", NewRule{Pattern: str("deploy*"), Actions: []Action{Notify(), highlight}}, "", "")
			_ = Put(&rs, Room, "!other:example.org", NewRule{Actions: []Action{}}, "", "")
			_ = Put(&rs, Override, "beer", NewRule{Actions: []Action{Notify()}, Conditions: []Condition{
				eventMatch("content.body", "beer"), {Kind: CondRoomMemberCount, Is: "<=10"}}}, "", "")
			ms[i].c = Compile(&rs, id)
		}
	}
	body := map[string]any{
		"type": "m.room.message", "sender": "@user0001:example.org", "room_id": "!room:example.org",
		"event_id": "$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "origin_server_ts": 1700000000000,
		"content": map[string]any{"msgtype": "m.text", "body": "The release went out this morning; please check your dashboards and report anything odd in this room.",
			"m.mentions": map[string]any{"user_ids": []string{"@user0005:example.org"}}},
		"unsigned": map[string]any{"age": 12},
	}
	raw, _ := json.Marshal(body)
	room := RoomContext{MemberCount: members, SenderPowerLevel: 0}
	b.ReportAllocs()
	b.ResetTimer()
	notified := 0
	for n := 0; n < b.N; n++ {
		ev, err := Prepare(raw, room)
		if err != nil {
			b.Fatal(err)
		}
		notified = 0
		for i := range ms {
			if res, ok := ms[i].c.Evaluate(ev, ms[i].r); ok && res.Notify {
				notified++
			}
		}
	}
	b.StopTimer()
	if notified != members-1 {
		b.Fatalf("notified %d members, want all but the sender", notified)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(members), "ns/recipient")
}
