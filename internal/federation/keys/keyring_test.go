package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// The ring and its views are what the event layer verifies with.
var (
	_ event.KeyRing = (*KeyRing)(nil)
	_ Client        = (*fakeClient)(nil)
	_ Store         = (*keystore.Store)(nil)
)

const day = 24 * time.Hour

var ctx = context.Background()

// TestKeyRing_DirectFetch: a missing key is fetched from GET
// /_matrix/key/v2/server of its server, checked, kept in memory and stored
// with its fetch time.
func TestKeyRing_DirectFetch(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
	now := clock.ms()

	if _, ok := us.ring.VerifyKey("a.example", a.key.ID, now); ok {
		t.Fatal("key known before any fetch")
	}
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID, MinValidTS: now}}); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	pub, ok := us.ring.VerifyKey("a.example", a.key.ID, now)
	if !ok || !pub.Equal(a.key.Public()) {
		t.Fatalf("VerifyKey after Prefetch: %v, %v", pub, ok)
	}
	stored, err := us.store.Keys(ctx, "a.example")
	if err != nil || len(stored) != 1 || stored[0].FetchedTS != now || stored[0].FromServer != "a.example" {
		t.Fatalf("stored: %+v, %v", stored, err)
	}
	// A second Prefetch is answered from memory.
	before := net.callsTo("us.example", "a.example")
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID, MinValidTS: now}}); err != nil {
		t.Fatal(err)
	}
	if net.callsTo("us.example", "a.example") != before {
		t.Fatal("a satisfied Prefetch made a request")
	}
}

// TestKeyRing_ThroughNotary: with trusted_key_servers configured, keys are
// asked of the notary (POST /_matrix/key/v2/query) first, and its answer
// is accepted when signed by its pinned key and self-signed by the server.
func TestKeyRing_ThroughNotary(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	notary := newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{notaries: []Notary{
		{ServerName: "notary.example", VerifyKeys: map[signing.KeyID]ed25519.PublicKey{notary.key.ID: notary.key.Public()}},
	}})
	now := clock.ms()
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID, MinValidTS: now}}); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	if _, ok := us.ring.VerifyKey("a.example", a.key.ID, now); !ok {
		t.Fatal("key not known after the notary answered")
	}
	if n := net.callsTo("us.example", "a.example"); n != 0 {
		t.Fatalf("asked a.example directly %d times although the notary answered", n)
	}
	if net.callsTo("us.example", "notary.example") != 1 || net.callsTo("notary.example", "a.example") != 1 {
		t.Fatalf("calls: %v", net.calls)
	}
	stored, _ := us.store.Keys(ctx, "a.example")
	if len(stored) != 1 || stored[0].FromServer != "notary.example" || stored[0].FetchedTS != now {
		t.Fatalf("stored: %+v", stored)
	}
	// What we store to re-serve carries only a.example's own signature.
	resp, err := us.store.Response(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := signing.Signatures(resp.JSON)
	if len(sigs) != 1 || sigs["a.example"] == nil {
		t.Fatalf("stored response signatures: %v", sigs)
	}
}

// TestKeyRing_NotaryUnpinned: a notary without verify_keys is trusted on
// its TLS connection alone (Synapse's behaviour); the response must still
// be self-signed.
func TestKeyRing_NotaryUnpinned(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{notaries: []Notary{{ServerName: "notary.example"}}})
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID}}); err != nil {
		t.Fatal(err)
	}
	if net.callsTo("us.example", "a.example") != 0 {
		t.Fatal("fell back to a direct fetch")
	}
}

// TestKeyRing_NotaryFailureFallsBackToDirect: when the notary is down or
// does not know the server, the server is asked directly.
func TestKeyRing_NotaryFailureFallsBackToDirect(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{notaries: []Notary{{ServerName: "down.example"}}})
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID}}); err != nil {
		t.Fatal(err)
	}
	if net.callsTo("us.example", "down.example") != 1 || net.callsTo("us.example", "a.example") != 1 {
		t.Fatalf("calls: %v", net.calls)
	}
}

// TestKeyRing_UnknownKeyRefetch: a key ID we have not seen makes us fetch
// the server's keys again (it may have rotated), but no more often than
// RefetchInterval per server, and less often after failures, so a hostile
// peer naming made-up key IDs cannot make us hammer anyone.
func TestKeyRing_UnknownKeyRefetch(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
	k1, k2 := key(t, "one", 2), key(t, "two", 3)
	serveDoc(net, "a.example", mustBuild(t, "a.example", []signing.SigningKey{k1}, nil, clock.Now().Add(day).UnixMilli()))
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: k1.ID}}); err != nil {
		t.Fatal(err)
	}

	// a.example rotates to k2.
	serveDoc(net, "a.example", mustBuild(t, "a.example", []signing.SigningKey{k2},
		map[signing.KeyID]signing.OldVerifyKey{k1.ID: {Key: signing.Base64Bytes(k1.Public()), ExpiredTS: clock.ms()}},
		clock.Now().Add(day).UnixMilli()))
	err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: k2.ID}})
	if !errors.Is(err, ErrRateLimited) || net.callsTo("us.example", "a.example") != 1 {
		t.Fatalf("refetch within the interval: err %v, %d calls", err, net.callsTo("us.example", "a.example"))
	}
	clock.Add(time.Minute)
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: k2.ID}}); err != nil {
		t.Fatalf("refetch after the interval: %v", err)
	}
	if _, ok := us.ring.VerifyKey("a.example", k2.ID, clock.ms()); !ok {
		t.Fatal("rotated key not found")
	}

	// Made-up key IDs: one fetch, then back-off doubling on each miss.
	clock.Add(time.Minute)
	bogus := []KeyRequest{{Server: "a.example", KeyID: "ed25519:bogus"}}
	for range 50 {
		_ = us.ring.Prefetch(ctx, bogus)
	}
	if n := net.callsTo("us.example", "a.example"); n != 3 {
		t.Fatalf("%d fetches after 50 lookups of a bogus key, want 3 in total", n)
	}
	// After the n-th miss in a row the wait is RefetchInterval·2^(n-1),
	// capped at MaxBackoff.
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		before := net.callsTo("us.example", "a.example")
		clock.Add(wait - time.Second)
		_ = us.ring.Prefetch(ctx, bogus)
		if net.callsTo("us.example", "a.example") != before {
			t.Fatalf("miss %d: fetched again before %v", i+1, wait)
		}
		clock.Add(time.Second)
		_ = us.ring.Prefetch(ctx, bogus)
		if net.callsTo("us.example", "a.example") != before+1 {
			t.Fatalf("miss %d: not fetched after %v", i+1, wait)
		}
	}
}

// TestKeyRing_ConcurrentPrefetchSharesOneFetch: several goroutines asking
// for the same missing key cause one fetch; all see the key.
func TestKeyRing_ConcurrentPrefetchSharesOneFetch(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
	k := key(t, "k", 2)
	gate := make(chan struct{})
	doc := mustBuild(t, "a.example", []signing.SigningKey{k}, nil, clock.Now().Add(day).UnixMilli())
	net.serve("a.example", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-gate
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: k.ID}})
		}()
	}
	for net.callsTo("us.example", "a.example") == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := net.callsTo("us.example", "a.example"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestKeyRing_Validity: in room versions 5+ a key is valid for events up
// to the lesser of valid_until_ts and fetch time + 7 days, and an old key
// up to its expired_ts; a key past its validity is never accepted for
// events created after it. Room versions 1–4 ignore validity
// (rooms/fragments/v5-signing-requirements; server-server API,
// "Validating hashes and signatures on received events").
func TestKeyRing_Validity(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
	cur, old := key(t, "cur", 2), key(t, "old", 3)
	fetched := clock.ms()
	validUntil := clock.Now().Add(day).UnixMilli()
	expired := clock.Now().Add(-day).UnixMilli()
	serveDoc(net, "a.example", mustBuild(t, "a.example", []signing.SigningKey{cur},
		map[signing.KeyID]signing.OldVerifyKey{old.ID: {Key: signing.Base64Bytes(old.Public()), ExpiredTS: expired}}, validUntil))
	long := key(t, "long", 4)
	serveDoc(net, "b.example", mustBuild(t, "b.example", []signing.SigningKey{long}, nil, clock.Now().Add(365*day).UnixMilli()))
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: cur.ID}, {Server: "b.example", KeyID: long.ID}}); err != nil {
		t.Fatal(err)
	}
	v5, v1 := us.ring.Verifier(true), us.ring.Verifier(false)
	tests := []struct {
		name     string
		server   string
		id       signing.KeyID
		ts       int64
		v5, v1   bool
		viaOwnVK bool
	}{
		{"current key before valid_until_ts", "a.example", cur.ID, validUntil - 1, true, true, true},
		{"current key at valid_until_ts", "a.example", cur.ID, validUntil, true, true, true},
		{"current key after valid_until_ts", "a.example", cur.ID, validUntil + 1, false, true, false},
		{"old key before expired_ts", "a.example", old.ID, expired - 1, true, true, true},
		{"old key after expired_ts", "a.example", old.ID, expired + 1, false, true, false},
		{"far valid_until_ts capped at fetch + 7 days", "b.example", long.ID, fetched + 7*day.Milliseconds(), true, true, true},
		{"past the 7-day cap", "b.example", long.ID, fetched + 7*day.Milliseconds() + 1, false, true, false},
		{"unknown key", "a.example", "ed25519:nope", fetched, false, false, false},
		{"unknown server", "c.example", cur.ID, fetched, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := v5.VerifyKey(tt.server, tt.id, tt.ts); ok != tt.v5 {
				t.Errorf("enforcing validity: ok = %v, want %v", ok, tt.v5)
			}
			if _, ok := us.ring.VerifyKey(tt.server, tt.id, tt.ts); ok != tt.viaOwnVK {
				t.Errorf("KeyRing.VerifyKey (enforces): ok = %v, want %v", ok, tt.viaOwnVK)
			}
			if _, ok := v1.VerifyKey(tt.server, tt.id, tt.ts); ok != tt.v1 {
				t.Errorf("ignoring validity: ok = %v, want %v", ok, tt.v1)
			}
		})
	}
	// Asking for validity past what we know triggers a refetch.
	clock.Add(time.Minute)
	before := net.callsTo("us.example", "a.example")
	_ = us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: cur.ID, MinValidTS: validUntil + 1}})
	if net.callsTo("us.example", "a.example") != before+1 {
		t.Fatal("no refetch for a key needed past its known validity")
	}
}

// TestKeyRing_LyingServer: responses that are not self-signed by the keys
// they list, that list a key under an ID other than the one that signed,
// or that describe another server are never trusted, whether they come
// directly or through a notary.
func TestKeyRing_LyingServer(t *testing.T) {
	clock := newClock()
	validUntil := clock.Now().Add(day).UnixMilli()
	real, other := key(t, "real", 2), key(t, "real", 3)

	// Signed by a key that is not the one listed: build a document for
	// `other`, then swap in `real`'s public key.
	notSelfSigned := mustBuild(t, "a.example", []signing.SigningKey{other}, nil, validUntil)
	notSelfSigned = []byte(replaceOnce(string(notSelfSigned), signing.EncodeBase64(other.Public()), signing.EncodeBase64(real.Public())))
	// Key ID mismatch: the key is listed as ed25519:listed but the
	// signature is under ed25519:real.
	mismatch := mustBuild(t, "a.example", []signing.SigningKey{real}, nil, validUntil)
	mismatch = []byte(replaceOnce(string(mismatch), `"verify_keys":{"ed25519:real"`, `"verify_keys":{"ed25519:listed"`))
	// Correctly self-signed, but for another server name.
	wrongName := mustBuild(t, "b.example", []signing.SigningKey{real}, nil, validUntil)
	// Unsigned.
	unsigned := []byte(`{"server_name":"a.example","valid_until_ts":` + itoa(validUntil) +
		`,"verify_keys":{"ed25519:real":{"key":"` + signing.EncodeBase64(real.Public()) + `"}}}`)

	honest := mustBuild(t, "a.example", []signing.SigningKey{real}, nil, validUntil)
	for name, doc := range map[string][]byte{
		"control: honest":                   honest,
		"not self-signed by the listed key": notSelfSigned,
		"key ID mismatch":                   mismatch,
		"served for the wrong server_name":  wrongName,
		"unsigned":                          unsigned,
	} {
		t.Run("direct: "+name, func(t *testing.T) {
			net := newFakeNet()
			us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
			serveDoc(net, "a.example", doc)
			reqs := []KeyRequest{{Server: "a.example", KeyID: "ed25519:real"}, {Server: "a.example", KeyID: "ed25519:listed"}}
			if name == "control: honest" {
				_ = us.ring.Prefetch(ctx, reqs)
				if _, ok := us.ring.VerifyKey("a.example", "ed25519:real", clock.ms()); !ok {
					t.Fatal("the honest document was not accepted, so this test proves nothing")
				}
				return
			}
			if err := us.ring.Prefetch(ctx, reqs); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("Prefetch: %v, want ErrKeyNotFound", err)
			}
			for _, id := range []signing.KeyID{"ed25519:real", "ed25519:listed"} {
				for _, server := range []string{"a.example", "b.example"} {
					if _, ok := us.ring.Verifier(false).VerifyKey(server, id, 0); ok {
						t.Fatalf("trusted %s of %s", id, server)
					}
				}
			}
			if ks, _ := us.store.Keys(ctx, "a.example"); len(ks) != 0 {
				t.Fatalf("stored keys of a liar: %+v", ks)
			}
			if ks, _ := us.store.Keys(ctx, "b.example"); len(ks) != 0 {
				t.Fatalf("stored keys for a name nobody asked about: %+v", ks)
			}
		})
		t.Run("via notary: "+name, func(t *testing.T) {
			net := newFakeNet()
			// A notary that relays whatever a.example serves (it has no
			// pinned keys and believes anything): our ring must still
			// check the self-signature and the name.
			relay := key(t, "relay", 9)
			net.serve("notary.example", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				signed, err := signing.SignJSON(doc, "notary.example", relay)
				if err != nil {
					signed = doc
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"server_keys":[` + string(signed) + `]}`))
			}))
			us := newNode(t, net, clock, "us.example", 1, nodeOpts{notaries: []Notary{{ServerName: "notary.example"}}})
			_ = us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: "ed25519:real"}})
			_, ok := us.ring.Verifier(false).VerifyKey("a.example", "ed25519:real", 0)
			if name == "control: honest" {
				if !ok || net.callsTo("us.example", "a.example") != 0 {
					t.Fatal("the honest relayed document was not accepted, so this test proves nothing")
				}
				return
			}
			if ok {
				t.Fatal("trusted a lie relayed by a notary")
			}
			if _, ok := us.ring.Verifier(false).VerifyKey("b.example", "ed25519:real", 0); ok {
				t.Fatal("learned keys of a server we did not ask about")
			}
		})
	}

	t.Run("notary not signing with its pinned key", func(t *testing.T) {
		net := newFakeNet()
		a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
		newNode(t, net, clock, "notary.example", 9, nodeOpts{})
		pinned := key(t, "pinned", 8) // not the key the notary signs with
		us := newNode(t, net, clock, "us.example", 1, nodeOpts{notaries: []Notary{
			{ServerName: "notary.example", VerifyKeys: map[signing.KeyID]ed25519.PublicKey{pinned.ID: pinned.Public()}},
		}})
		if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: a.key.ID}}); err != nil {
			t.Fatal(err)
		}
		ks, _ := us.store.Keys(ctx, "a.example")
		if len(ks) != 1 || ks[0].FromServer != "a.example" {
			t.Fatalf("the unverified notary answer was used: %+v", ks)
		}
	})
}

// TestKeyRing_PersistsAcrossRestart: keys fetched before a restart are
// found after it without any request, with their original fetch time, so
// the 7-day cap still counts from the fetch; on both backends.
func TestKeyRing_PersistsAcrossRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		net, clock := newFakeNet(), newClock()
		long := key(t, "long", 2)
		serveDoc(net, "a.example", mustBuild(t, "a.example", []signing.SigningKey{long}, nil, clock.Now().Add(365*day).UnixMilli()))
		fetched := clock.ms()
		us := newNode(t, net, clock, "us.example", 1, nodeOpts{db: db})
		if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: long.ID, MinValidTS: fetched}}); err != nil {
			t.Fatal(err)
		}

		// Restart: a new ring on the same database, with a.example gone.
		net.down("a.example")
		clock.Add(3 * day)
		again := newNode(t, net, clock, "us.example", 1, nodeOpts{db: db})
		if err := again.ring.Prefetch(ctx, []KeyRequest{{Server: "a.example", KeyID: long.ID, MinValidTS: clock.ms()}}); err != nil {
			t.Fatalf("Prefetch after restart: %v", err)
		}
		if n := net.callsTo("us.example", "a.example"); n != 1 {
			t.Fatalf("%d requests to a.example, want only the one before the restart", n)
		}
		if _, ok := again.ring.VerifyKey("a.example", long.ID, fetched+7*day.Milliseconds()); !ok {
			t.Fatal("key not valid up to fetch + 7 days after restart")
		}
		if _, ok := again.ring.VerifyKey("a.example", long.ID, fetched+7*day.Milliseconds()+1); ok {
			t.Fatal("7-day cap not counted from the original fetch after restart")
		}
	})
}

// TestKeyRing_OwnKeys: our own keys are never fetched; old ones are valid
// until their expired_ts.
func TestKeyRing_OwnKeys(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	retired := key(t, "retired", 7)
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{old: map[signing.KeyID]signing.OldVerifyKey{
		retired.ID: {Key: signing.Base64Bytes(retired.Public()), ExpiredTS: 1000},
	}})
	if err := us.ring.Prefetch(ctx, []KeyRequest{{Server: "us.example", KeyID: "ed25519:whatever"}}); err != nil {
		t.Fatal(err)
	}
	if len(net.calls) != 0 {
		t.Fatalf("requests for our own keys: %v", net.calls)
	}
	if pub, ok := us.ring.VerifyKey("us.example", us.key.ID, clock.ms()+365*day.Milliseconds()); !ok || !pub.Equal(us.key.Public()) {
		t.Fatal("own current key not found")
	}
	if _, ok := us.ring.VerifyKey("us.example", retired.ID, 1000); !ok {
		t.Fatal("own old key not valid before its expiry")
	}
	if _, ok := us.ring.VerifyKey("us.example", retired.ID, 1001); ok {
		t.Fatal("own old key valid after its expiry")
	}
	if _, err := us.ring.RequestKey(ctx, "us.example", retired.ID); err == nil {
		t.Fatal("an old key was accepted for a request signature")
	}
}

// TestKeyRing_RequestKey: request signatures need a current key valid now;
// keys the server only lists as old are refused.
func TestKeyRing_RequestKey(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{})
	cur, old := key(t, "cur", 2), key(t, "old", 3)
	serveDoc(net, "a.example", mustBuild(t, "a.example", []signing.SigningKey{cur},
		map[signing.KeyID]signing.OldVerifyKey{old.ID: {Key: signing.Base64Bytes(old.Public()), ExpiredTS: clock.Now().Add(day).UnixMilli()}},
		clock.Now().Add(day).UnixMilli()))
	pub, err := us.ring.RequestKey(ctx, "a.example", cur.ID)
	if err != nil || !pub.Equal(cur.Public()) {
		t.Fatalf("RequestKey(current): %v, %v", pub, err)
	}
	if _, err := us.ring.RequestKey(ctx, "a.example", old.ID); err == nil {
		t.Fatal("RequestKey accepted an old key")
	}
	// Past valid_until_ts the key must be fetched again before a request
	// signed with it is accepted.
	clock.Add(day + time.Second)
	net.down("a.example")
	if _, err := us.ring.RequestKey(ctx, "a.example", cur.ID); err == nil {
		t.Fatal("RequestKey accepted a key past its validity")
	}
}

func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replaceOnce: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
