package syncapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// encodingJSON is what a /sync body was before it was written room by
// room: the whole response through an encoding/json Encoder without HTML
// escaping.
func encodingJSON(t *testing.T, resp *Response) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A response written room by room is byte for byte the response encoded
// whole: same field order, rooms in key order, same escaping (none for
// HTML), same trailing newline.
func TestResponseWrittenRoomByRoomIsTheWholeEncoding(t *testing.T) {
	sk := "@bob:hs1"
	two := 2
	full := func(rooms int, lists bool) *Response {
		r := newResponse()
		r.NextBatch = "s42_typing.7"
		for i := range rooms {
			jr := newJoinedRoom()
			jr.Summary = Summary{Heroes: []string{"@bob:hs1"}, JoinedCount: &two, InvitedCount: new(int)}
			jr.Timeline.Limited = i%2 == 0
			jr.Timeline.PrevBatch = fmt.Sprintf("s%d", i)
			jr.Timeline.Events = append(jr.Timeline.Events, &clientevent.Event{
				Content: json.RawMessage(`{"body":"<b>&amp; é \u2028 ` + strings.Repeat("x", i*37) + `"}`),
				EventID: fmt.Sprintf("$e%d", i), Sender: "@alice:hs1", Type: "m.room.message", OriginServerTS: int64(i)})
			jr.State.Events = append(jr.State.Events, &clientevent.Event{Content: json.RawMessage(`{"membership":"join"}`),
				EventID: "$m", Sender: sk, StateKey: &sk, Type: "m.room.member"})
			jr.Ephemeral.Events = append(jr.Ephemeral.Events, json.RawMessage(`{"type":"m.typing","content":{"user_ids":[]}}`))
			jr.UnreadNotifications.HighlightCount = i
			r.Rooms.Join[fmt.Sprintf("!room%03d<&>\"é:hs1", (i*7919)%rooms)] = jr
		}
		ir := &InvitedRoom{}
		ir.InviteState.Events = []clientevent.StrippedEvent{{Content: json.RawMessage(`{"membership":"invite"}`), Sender: sk, StateKey: "@alice:hs1", Type: "m.room.member"}}
		r.Rooms.Invite["!inv:hs1"] = ir
		r.Rooms.Leave["!left:hs1"] = &LeftRoom{}
		r.Rooms.Knock["!knock:hs1"] = &KnockedRoom{}
		r.AccountData.Events = append(r.AccountData.Events, json.RawMessage(`{"type":"m.direct","content":{}}`))
		r.Presence.Events = append(r.Presence.Events, json.RawMessage(`{"type":"m.presence","sender":"@bob:hs1","content":{}}`))
		r.ToDevice.Events = append(r.ToDevice.Events, json.RawMessage(`{"type":"m.x","sender":"@bob:hs1","content":{"a":"<>"}}`))
		if lists {
			r.DeviceLists = &DeviceLists{Changed: []string{"@bob:hs1"}}
		}
		r.OTKCounts["signed_curve25519"] = 3
		r.UnusedFallbackKeyTypes = append(r.UnusedFallbackKeyTypes, "signed_curve25519")
		return r
	}
	cases := map[string]func() *Response{
		"empty":                   newResponse,
		"no join map":             func() *Response { r := newResponse(); r.Rooms.Join = nil; return r },
		"one room":                func() *Response { return full(1, false) },
		"many rooms, device list": func() *Response { return full(300, true) },
		"a nil room section": func() *Response {
			r := full(3, false)
			r.Rooms.Join["!nil:hs1"] = nil
			return r
		},
	}
	for name, make := range cases {
		t.Run(name, func(t *testing.T) {
			want := encodingJSON(t, make())
			resp := make()
			body, err := encodeResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if got := body.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("written room by room:\n%.600s\nencoded whole:\n%.600s", got, want)
			}
			if body.Len() != len(want) {
				t.Errorf("Len %d, want %d", body.Len(), len(want))
			}
			var out bytes.Buffer
			if n, err := body.WriteTo(&out); err != nil || n != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
				t.Errorf("WriteTo wrote %d bytes (%v), want %d", n, err, len(want))
			}
			if len(resp.Rooms.Join) != 0 {
				t.Errorf("%d rooms still held after writing", len(resp.Rooms.Join))
			}
		})
	}
}

// A body's parts stay near bodyPart whatever the sizes written: a large
// response is never one buffer that doubles.
func TestBodyPartsAreBounded(t *testing.T) {
	var b Body
	var want []byte
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, (i*131)%5000)
		_, _ = b.Write(p)
		want = append(want, p...)
	}
	if !bytes.Equal(b.Bytes(), want) || b.Len() != len(want) {
		t.Fatal("the body is not what was written")
	}
	for i, p := range b.parts {
		if cap(p) > 2*bodyPart {
			t.Errorf("part %d holds %d bytes", i, cap(p))
		}
	}
}

// What SyncJSON answers is the response of Sync encoded, for initial and
// incremental syncs of a user with joined, invited and left rooms.
func TestSyncJSONIsTheSyncResponse(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		at := time.UnixMilli(1_900_000_000_000)
		w.s.now = func() time.Time { return at }
		const alice, bob = "@alice:hs1", "@bob:hs1"
		for i := range 5 {
			w.say(w.room(alice), alice, fmt.Sprintf("<b>hello</b> & %d", i))
		}
		invited, left := w.room(bob), w.room(bob)
		w.member(invited, bob, alice, "invite")
		w.member(left, alice, alice, "join")
		w.member(left, alice, alice, "leave")
		req := Request{UserID: alice, DeviceID: "D"}
		for _, since := range []string{"", Token(3)} {
			req.Since = since
			want := encodingJSON(t, w.sync(alice, since))
			body, err := w.s.SyncJSON(w.ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body.Bytes(), want) {
				t.Errorf("since %q: SyncJSON gave\n%.400s\nSync encoded is\n%.400s", since, body.Bytes(), want)
			}
		}
	})
}
