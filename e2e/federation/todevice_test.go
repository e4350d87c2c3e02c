package fede2e

import (
	"fmt"
	"testing"
	"time"
)

// server-server-api "Send-to-device messaging": a to-device message for a
// user of another server travels as an m.direct_to_device EDU and reaches
// the user's devices ("*": every one of them) in /sync to_device, in order
// and once: a client's retry of the same transaction sends nothing again.
func TestFederation_ToDeviceReachesRemoteDevicesOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	bob.syncOnce(t, 0)

	send := func(txn string, device string, n string) {
		alice.must(t, "PUT", "/_matrix/client/v3/sendToDevice/m.test/"+txn,
			map[string]any{"messages": map[string]any{bob.userID: map[string]any{device: map[string]any{"n": n}}}}, nil)
	}
	send("t1", "*", "one")
	send("t1", "*", "one") // a retry
	send("t2", bob.deviceID, "two")
	bob.syncUntil(t, "two to-device messages from hs1", syncBound, func(v *syncView) bool { return len(v.toDevice) >= 2 })
	// Give a duplicate time to show up.
	for range 3 {
		bob.syncOnce(t, 200*time.Millisecond)
	}
	var got []string
	for _, e := range bob.view.toDevice {
		got = append(got, e.Sender+" "+e.Type+" "+e.str("n"))
	}
	want := fmt.Sprint([]string{alice.userID + " m.test one", alice.userID + " m.test two"})
	if fmt.Sprint(got) != want {
		t.Fatalf("bob received %v, want %v", got, want)
	}
}
