package eventauth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// benchRoom is a room version 12 (or v) room with n joined members, of whom
// the first plUsers are listed in power_levels.users at 10.
func benchRoom(b *testing.B, v *roomversion.Version, n, plUsers int) (*room, []string) {
	b.Helper()
	r := newRoom(b, v, "")
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("@user%d:s%d.test", i, i%20)
		r.apply(r.member(users[i], users[i], event.Join, "")) // public room; checked below
	}
	if err := r.check(r.member("@late:x.test", "@late:x.test", event.Join, "")); err != nil {
		b.Fatal(err)
	}
	var pl strings.Builder
	for i := 0; i < plUsers; i++ {
		if i > 0 {
			pl.WriteByte(',')
		}
		fmt.Fprintf(&pl, `"%s":10`, users[i])
	}
	r.setPowerLevels(defaultPowerLevels(v, pl.String()))
	return r, users
}

func benchCheck(b *testing.B, r *room, e *event.Event) {
	b.Helper()
	if err := r.check(e); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Check(e, r.state); err != nil {
			b.Fatal(err)
		}
	}
}

// A message from an ordinary member of a room with 1000 members.
func BenchmarkCheck_Message_1000Members(b *testing.B) {
	for _, plUsers := range []int{10, 1000} {
		b.Run(fmt.Sprintf("pl_users=%d", plUsers), func(b *testing.B) {
			v := roomversion.MustGet("12")
			r, users := benchRoom(b, v, 1000, plUsers)
			benchCheck(b, r, r.message(users[500], "m.room.message", `{"body":"hello","msgtype":"m.text"}`))
		})
	}
}

// The room's admin promotes one member, in a room with 1000 members.
func BenchmarkCheck_PowerLevelsChange_1000Members(b *testing.B) {
	for _, plUsers := range []int{10, 1000} {
		b.Run(fmt.Sprintf("pl_users=%d", plUsers), func(b *testing.B) {
			v := roomversion.MustGet("12")
			r, users := benchRoom(b, v, 1000, plUsers)
			var pl strings.Builder
			for i := 0; i < plUsers && i < 999; i++ {
				fmt.Fprintf(&pl, `"%s":10,`, users[i])
			}
			fmt.Fprintf(&pl, `"%s":50`, users[999])
			benchCheck(b, r, r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, pl.String())))
		})
	}
}
