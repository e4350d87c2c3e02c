package push

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
)

// Pushes go through the outbound IP policy (Synapse's ip_range_blacklist):
// a gateway on loopback is refused by the default blocklist, and reached
// once ip_range_whitelist allows it.
func TestDelivery_GatewayAddressesFollowTheIPPolicy(t *testing.T) {
	hits := 0
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		_, _ = w.Write([]byte(`{"rejected":[]}`))
	}))
	defer gw.Close()
	p := &pushstore.Pusher{Data: `{"url":"` + gw.URL + NotifyPath + `"}`}

	blocked := NewDelivery(DeliveryConfig{Guard: netguard.New(netguard.DefaultBlocklist(), nil)})
	if _, err := blocked.post(context.Background(), p, []byte(`{}`)); !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("post to loopback with the default blocklist: %v, want ErrBlocked", err)
	}
	if hits != 0 {
		t.Fatal("the gateway was reached")
	}

	allowed := NewDelivery(DeliveryConfig{Guard: netguard.New(netguard.DefaultBlocklist(),
		[]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})})
	if _, err := allowed.post(context.Background(), p, []byte(`{}`)); err != nil || hits != 1 {
		t.Fatalf("post with loopback whitelisted: %v, %d hits", err, hits)
	}
}
