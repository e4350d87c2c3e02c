package server_test

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/appservice/txnsender/txntest"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// toDeviceTypes lists the to-device messages an initial /sync of c's
// device would get (an initial sync deletes nothing).
func toDeviceTypes(t *testing.T, c *servertest.Client) []string {
	t.Helper()
	var out struct {
		ToDevice struct {
			Events []struct {
				Type    string          `json:"type"`
				Content json.RawMessage `json:"content"`
			} `json:"events"`
		} `json:"to_device"`
	}
	c.MustDo("GET", "/_matrix/client/v3/sync", nil, &out)
	var types []string
	for _, e := range out.ToDevice.Events {
		types = append(types, e.Type)
	}
	return types
}

// MSC2409 ("when to delete a to-device message"): once the appservice
// has accepted the transaction carrying a to-device message for a device
// of a user in its exclusive namespace, the message leaves the device's
// inbox, since no one else reads it and such devices seldom sync; one for
// a user of a non-exclusive namespace, who may sync too, stays until the
// device's own sync acknowledges it.
func TestAppserviceTxns_DeliveredToDeviceMessagesOfExclusiveUsersAreDeleted(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		a := txntest.New(t)
		s := servertest.Start(t, db, servertest.Options{ExtraYAML: bridgeRegistrationOf(t, t.TempDir(), a,
			`[{exclusive: true, regex: "@irc_.*:localhost"}, {exclusive: false, regex: "@shared_.*:localhost"}]`)})
		alice, shared := s.Register("alice"), s.Register("shared_sam")
		// The appservice registers its puppet with a device of its own.
		var reg struct {
			AccessToken string `json:"access_token"`
			DeviceID    string `json:"device_id"`
			UserID      string `json:"user_id"`
		}
		asClient(s, "as-token-irc").MustDo("POST", "/_matrix/client/v3/register", map[string]any{
			"type": "m.login.application_service", "username": "irc_pup"}, &reg)
		puppet := s.Anonymous()
		puppet.AccessToken, puppet.UserID, puppet.DeviceID = reg.AccessToken, reg.UserID, reg.DeviceID

		alice.MustDo("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", map[string]any{"messages": map[string]any{
			puppet.UserID: map[string]any{puppet.DeviceID: map[string]any{"n": 1}},
			shared.UserID: map[string]any{shared.DeviceID: map[string]any{"n": 2}},
		}}, nil)
		seen := map[string]bool{}
		a.WaitUntil(t, "both to-device messages", func(rc txntest.Received) bool {
			for _, td := range rc.ToDevice {
				seen[td.ToUserID] = true
			}
			return seen[puppet.UserID] && seen[shared.UserID]
		})
		txntest.Eventually(t, "the puppet's delivered message leaves its inbox", func() bool {
			return len(toDeviceTypes(t, puppet)) == 0
		})
		if got := toDeviceTypes(t, shared); len(got) != 1 || got[0] != "m.test" {
			t.Errorf("a non-exclusive user's device holds %v, want the message until it syncs", got)
		}
	})
}
