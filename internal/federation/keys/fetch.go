package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
)

// Paths of the key API (server-server API, "Retrieving server keys").
const (
	PathServerKeys = "/_matrix/key/v2/server"
	PathQuery      = "/_matrix/key/v2/query"
)

// maxNotaryBatch bounds the servers asked about in one notary query.
const maxNotaryBatch = 100

// ErrUntrustedResponse is wrapped when a key response cannot be trusted:
// not self-signed by every key it lists, served for another server name,
// or (from a notary with pinned keys) not signed by the notary.
var ErrUntrustedResponse = errors.New("keys: untrusted key response")

// fetch gets keys for the claimed servers in want: through each notary in
// turn for the servers still unsatisfied, then directly. Failures are
// logged; the caller checks what is satisfied afterwards.
func (k *KeyRing) fetch(ctx context.Context, want map[string][]KeyRequest, useNotaries bool) {
	remaining := maps.Clone(want)
	if useNotaries {
		for _, n := range k.cfg.Notaries {
			servers := make([]string, 0, len(remaining))
			for s := range remaining {
				// A notary's word about its own keys is no better than
				// asking it directly, which the direct phase does.
				if s != n.ServerName {
					servers = append(servers, s)
				}
			}
			slices.Sort(servers)
			for chunk := range slices.Chunk(servers, maxNotaryBatch) {
				batch := make(map[string][]KeyRequest, len(chunk))
				for _, s := range chunk {
					batch[s] = remaining[s]
				}
				if err := k.queryNotary(ctx, n, batch); err != nil {
					k.log.Info("key query to notary failed", "notary", n.ServerName, "servers", len(batch), "err", err)
				}
			}
			k.dropSatisfied(remaining)
			if len(remaining) == 0 || ctx.Err() != nil {
				return
			}
		}
	}

	sem := make(chan struct{}, k.cfg.FetchConcurrency)
	var wg sync.WaitGroup
	for server := range remaining {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sk, err := k.fetchDirect(ctx, server)
			if err != nil {
				k.log.Info("fetching server keys failed", "server", server, "err", err)
				return
			}
			k.save(ctx, sk, server)
		}()
	}
	wg.Wait()
}

// dropSatisfied removes from want the servers whose requests memory now
// answers.
func (k *KeyRing) dropSatisfied(want map[string][]KeyRequest) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for s, rs := range want {
		if k.allSatisfiedLocked(k.servers[s], rs) {
			delete(want, s)
		}
	}
}

// fetchDirect gets GET /_matrix/key/v2/server from server itself and
// checks that it is self-signed by every key it lists and is about server.
func (k *KeyRing) fetchDirect(ctx context.Context, server string) (*signing.ServerKeys, error) {
	var raw json.RawMessage
	if err := k.cfg.Client.Get(ctx, server, PathServerKeys, &raw); err != nil {
		return nil, err
	}
	fetched := k.cfg.Now().UnixMilli()
	sk, err := signing.ParseServerKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %w", ErrUntrustedResponse, server, err)
	}
	if sk.ServerName != server {
		return nil, fmt.Errorf("%w: %s served keys for %q", ErrUntrustedResponse, server, sk.ServerName)
	}
	sk.FetchedTS = fetched
	return sk, nil
}

// notaryQuery is the body of POST /_matrix/key/v2/query.
type notaryQuery struct {
	ServerKeys map[string]map[signing.KeyID]notaryCriteria `json:"server_keys"`
}

type notaryCriteria struct {
	MinimumValidUntilTS int64 `json:"minimum_valid_until_ts,omitempty"`
}

// queryNotary asks notary n for the servers in batch and stores every
// answer it can trust. minimum_valid_until_ts is sent whenever a validity
// is needed, as room versions 5+ require ("MUST set"); without one the
// notary uses the current time.
func (k *KeyRing) queryNotary(ctx context.Context, n Notary, batch map[string][]KeyRequest) error {
	q := notaryQuery{ServerKeys: make(map[string]map[signing.KeyID]notaryCriteria, len(batch))}
	for server, rs := range batch {
		crit := map[signing.KeyID]notaryCriteria{}
		for _, r := range rs {
			c := crit[r.KeyID]
			c.MinimumValidUntilTS = max(c.MinimumValidUntilTS, r.MinValidTS)
			crit[r.KeyID] = c
		}
		q.ServerKeys[server] = crit
	}
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := k.cfg.Client.Post(ctx, n.ServerName, PathQuery, q, &resp); err != nil {
		return err
	}
	fetched := k.cfg.Now().UnixMilli()
	for _, raw := range resp.ServerKeys {
		sk, err := k.checkNotaryEntry(n, raw, batch)
		if err != nil {
			k.log.Info("ignoring key response from notary", "notary", n.ServerName, "err", err)
			continue
		}
		sk.FetchedTS = fetched
		k.save(ctx, sk, n.ServerName)
	}
	return nil
}

// checkNotaryEntry verifies one response relayed by notary n: it must be
// self-signed by the server it describes (ParseServerKeys), about a server
// we asked for, and, when n's keys are pinned, signed by one of them.
func (k *KeyRing) checkNotaryEntry(n Notary, raw []byte, asked map[string][]KeyRequest) (*signing.ServerKeys, error) {
	sk, err := signing.ParseServerKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedResponse, err)
	}
	if _, ok := asked[sk.ServerName]; !ok {
		return nil, fmt.Errorf("%w: keys for %q, which we did not ask about", ErrUntrustedResponse, sk.ServerName)
	}
	if len(n.VerifyKeys) == 0 {
		return sk, nil
	}
	for id, pub := range n.VerifyKeys {
		if signing.VerifyJSON(sk.Raw, n.ServerName, id, pub) == nil {
			return sk, nil
		}
	}
	return nil, fmt.Errorf("%w: keys for %s not signed by any pinned key of notary %s", ErrUntrustedResponse, sk.ServerName, n.ServerName)
}

// save persists a verified response and adds its keys to memory. A store
// failure is logged, not fatal: the keys are still good for this process.
func (k *KeyRing) save(ctx context.Context, sk *signing.ServerKeys, from string) {
	keys := keystore.KeysOf(sk, from)
	doc, err := ownSignaturesOnly(sk.Raw, sk.ServerName)
	if err != nil {
		doc = nil // keep the keys; just do not re-serve this copy
	}
	resp := keystore.Response{ServerName: sk.ServerName, FromServer: from, FetchedTS: sk.FetchedTS, ValidUntilTS: sk.ValidUntilTS, JSON: doc}
	if err := k.cfg.Store.Save(ctx, resp, keys); err != nil {
		k.log.Warn("storing server keys failed", "server", sk.ServerName, "err", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.stateLocked(sk.ServerName)
	for _, key := range keys {
		k.mergeLocked(st, key)
	}
}

// ownSignaturesOnly drops signatures other than server's own (a relaying
// notary's, say) from a canonical key response, so that what we store and
// re-serve is the server's document as it signed it.
func ownSignaturesOnly(doc []byte, server string) ([]byte, error) {
	sigs, err := signing.Signatures(doc)
	if err != nil {
		return nil, err
	}
	if len(sigs) == 1 && sigs[server] != nil {
		return doc, nil
	}
	enc, err := canonicaljson.Marshal(map[string]map[signing.KeyID]string{server: sigs[server]})
	if err != nil {
		return nil, err
	}
	return canonicaljson.Set(doc, "signatures", enc)
}
