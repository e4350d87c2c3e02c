package keys

import (
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
)

// BenchmarkVerifyKey measures the lookup every event signature check
// makes, with 1000 servers known.
func BenchmarkVerifyKey(b *testing.B) {
	net, clock := newFakeNet(), newClock()
	us := newNode(b, net, clock, "us.example", 1, nodeOpts{})
	k := key(b, "k", 2)
	us.ring.mu.Lock()
	for i := range 1000 {
		st := us.ring.stateLocked(fmt.Sprintf("s%d.example", i))
		st.keys[k.ID] = keystore.Key{ServerName: "x", KeyID: k.ID, PublicKey: k.Public(), ValidUntilTS: 1 << 50, FetchedTS: 1}
	}
	us.ring.mu.Unlock()
	v := us.ring.Verifier(true)
	var id signing.KeyID = k.ID
	for b.Loop() {
		if _, ok := v.VerifyKey("s500.example", id, 1000); !ok {
			b.Fatal("not found")
		}
	}
}
