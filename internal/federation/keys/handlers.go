package keys

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
)

// MaxQueryServers bounds the servers one POST /_matrix/key/v2/query may
// ask about: each may cost us a fetch, and the endpoint is open to anyone.
const MaxQueryServers = 100

// notaryConcurrency bounds parallel lookups within one notary query.
const notaryConcurrency = 4

// Router is what Handlers registers on (httpapi.Router satisfies it).
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Handlers serve the key API (server-server API, "Publishing Keys" and
// "Querying Keys Through Another Server"). None of these endpoints needs
// authentication.
type Handlers struct {
	Ring *KeyRing
}

// Register mounts the key endpoints, for the federation listener (and any
// listener serving the "keys" resource):
//
//	GET  /_matrix/key/v2/server
//	GET  /_matrix/key/v2/query/{serverName}
//	POST /_matrix/key/v2/query
func (h *Handlers) Register(r Router) {
	r.Handle("GET "+PathServerKeys, http.HandlerFunc(h.serverKeys))
	r.Handle("GET "+PathQuery+"/{serverName}", http.HandlerFunc(h.queryOne))
	r.Handle("POST "+PathQuery, http.HandlerFunc(h.queryBatch))
}

// serverKeys publishes our keys, self-signed, valid for
// key_refresh_interval.
func (h *Handlers) serverKeys(w http.ResponseWriter, r *http.Request) {
	doc, err := h.Ring.Publisher().Document()
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeRawJSON(w, doc)
}

// queryOne is GET /_matrix/key/v2/query/{serverName}: the server's keys,
// signed by us, or an empty list when it cannot be reached and we have no
// copy.
func (h *Handlers) queryOne(w http.ResponseWriter, r *http.Request) {
	server := r.PathValue("serverName")
	if !ids.ValidServerName(server) {
		httpapi.WriteError(w, httpapi.InvalidParam("serverName is not a valid server name"))
		return
	}
	minValid := h.Ring.cfg.Now().UnixMilli()
	if v := r.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("minimum_valid_until_ts must be an integer"))
			return
		}
		minValid = n
	}
	h.respond(w, r.Context(), []notaryLookup{{server: server, minValid: minValid}})
}

// queryBatch is POST /_matrix/key/v2/query.
func (h *Handlers) queryBatch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ServerKeys map[string]map[string]struct {
			MinimumValidUntilTS *int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	if err := httpapi.ReadJSON(r, 0, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.ServerKeys == nil {
		httpapi.WriteError(w, httpapi.BadJSON(`"server_keys" must be an object`))
		return
	}
	if len(body.ServerKeys) > MaxQueryServers {
		httpapi.WriteError(w, httpapi.InvalidParam("at most "+strconv.Itoa(MaxQueryServers)+" servers may be queried at once"))
		return
	}
	now := h.Ring.cfg.Now().UnixMilli()
	var lookups []notaryLookup
	for server, crit := range body.ServerKeys {
		if !ids.ValidServerName(server) {
			continue
		}
		// "If not supplied, the notary server MUST use the current time";
		// the strictest key's criterion applies to the whole response.
		l := notaryLookup{server: server, minValid: now}
		if len(crit) > 0 {
			l.minValid = 0
		}
		for id, c := range crit {
			if _, _, err := signing.ParseKeyID(id); err == nil {
				l.keyIDs = append(l.keyIDs, signing.KeyID(id))
			}
			if c.MinimumValidUntilTS != nil {
				l.minValid = max(l.minValid, *c.MinimumValidUntilTS)
			} else {
				l.minValid = max(l.minValid, now)
			}
		}
		lookups = append(lookups, l)
	}
	slices.SortFunc(lookups, func(a, b notaryLookup) int {
		if a.server < b.server {
			return -1
		}
		if a.server > b.server {
			return 1
		}
		return 0
	})
	h.respond(w, r.Context(), lookups)
}

type notaryLookup struct {
	server   string
	minValid int64
	keyIDs   []signing.KeyID
}

// respond looks every server up (in parallel, bounded), signs each
// response with our key and writes {"server_keys": [...]}.
func (h *Handlers) respond(w http.ResponseWriter, ctx context.Context, lookups []notaryLookup) {
	docs := make([][]byte, len(lookups))
	errs := make([]error, len(lookups))
	sem := make(chan struct{}, notaryConcurrency)
	var wg sync.WaitGroup
	for i, l := range lookups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			docs[i], errs[i] = h.Ring.NotaryDocument(ctx, l.server, l.minValid, l.keyIDs)
		}()
	}
	wg.Wait()
	key := h.Ring.Publisher().SigningKey()
	out := []byte(`{"server_keys":[`)
	n := 0
	for i, doc := range docs {
		if errs[i] != nil {
			if errors.Is(errs[i], context.Canceled) {
				httpapi.WriteError(w, errs[i])
				return
			}
			h.Ring.log.Info("notary lookup failed", "server", lookups[i].server, "err", errs[i])
			continue
		}
		if doc == nil {
			continue
		}
		signed, err := signing.SignJSON(doc, h.Ring.ServerName(), key)
		if err != nil {
			h.Ring.log.Warn("signing a relayed key response failed", "server", lookups[i].server, "err", err)
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, signed...)
		n++
	}
	out = append(out, "]}"...)
	writeRawJSON(w, out)
}

// NotaryDocument returns the key response to relay for server as a
// notary, without our signature: our own document for ourselves;
// otherwise the stored copy when it is valid until at least minValidTS and
// lists every key in keyIDs, else a fresh one fetched directly from the
// server (notaries do not ask other notaries). When the server cannot be
// reached the last copy is returned however old ("intermediate notary
// servers should continue to return the last response they received"),
// and nil when there is none. Fetches share the ring's per-server rate
// limit.
func (k *KeyRing) NotaryDocument(ctx context.Context, server string, minValidTS int64, keyIDs []signing.KeyID) ([]byte, error) {
	if server == k.ServerName() {
		return k.cfg.Publisher.Document()
	}
	stored, err := k.cfg.Store.Response(ctx, server)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return nil, err
	}
	if stored != nil && stored.ValidUntilTS >= minValidTS && listsKeys(stored.JSON, keyIDs) {
		return stored.JSON, nil
	}

	k.mu.Lock()
	st := k.stateLocked(server)
	claimed, wait, _ := k.claimLocked(st, k.cfg.Now())
	k.mu.Unlock()
	switch {
	case claimed:
		sk, err := k.fetchDirect(ctx, server)
		if err == nil {
			k.save(ctx, sk, server)
		} else {
			k.log.Info("notary: fetching server keys failed", "server", server, "err", err)
		}
		k.mu.Lock()
		k.finishLocked(k.stateLocked(server), err == nil)
		k.mu.Unlock()
		if err == nil {
			if doc, err := ownSignaturesOnly(sk.Raw, server); err == nil {
				return doc, nil
			}
		}
	case wait != nil:
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// Rate-limited, failed, or fetched by someone else: serve what the
	// store has now.
	stored, err = k.cfg.Store.Response(ctx, server)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return stored.JSON, nil
}

// listsKeys reports whether a key response lists every key ID, current or
// old.
func listsKeys(doc []byte, keyIDs []signing.KeyID) bool {
	for _, id := range keyIDs {
		_, err1 := canonicaljson.Get(doc, "verify_keys", string(id))
		_, err2 := canonicaljson.Get(doc, "old_verify_keys", string(id))
		if err1 != nil && err2 != nil {
			return false
		}
	}
	return true
}

// writeRawJSON writes an already encoded JSON body.
func writeRawJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
