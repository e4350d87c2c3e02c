package e2ee

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// RemoteClient makes signed requests to other servers
// (federation/fedclient.Client).
type RemoteClient interface {
	Get(ctx context.Context, destination, path string, out any) error
	Post(ctx context.Context, destination, path string, body, out any) error
}

// SetRemote installs the client for other servers' keys. Call it while the
// server is wired, before serving.
func (s *Service) SetRemote(r RemoteClient) { s.remote = r }

// DefaultRemoteTimeout is how long /keys/query and /keys/claim wait for
// other servers when the request does not say (keys.yaml: 10 seconds).
const DefaultRemoteTimeout = 10 * time.Second

// serverFailure is a failures entry for a server that did not answer.
func serverFailure(err error) json.RawMessage {
	msg := "the server did not answer"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the server did not answer in time"
	} else if err != nil {
		msg = err.Error()
	}
	raw, _ := json.Marshal(map[string]any{"status": 503, "message": msg})
	return raw
}

// remoteQueryAnswer is one server's share of a /keys/query.
type remoteQueryAnswer struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
}

// queryRemote asks each server of remote (server → user → devices) at
// once, for at most timeout, and adds the answers or failures to res.
func (s *Service) queryRemote(ctx context.Context, remote map[string]map[string][]string, timeout time.Duration, res *QueryResult) {
	var mu sync.Mutex
	perServer(ctx, timeout, remote, func(ctx context.Context, server string, users map[string][]string) {
		ans, err := s.queryServer(ctx, server, users)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failures[server] = serverFailure(err)
		}
		if ans == nil {
			return
		}
		for u, devs := range ans.DeviceKeys {
			res.DeviceKeys[u] = devs
		}
		for u, k := range ans.MasterKeys {
			res.MasterKeys[u] = k
		}
		for u, k := range ans.SelfSigningKeys {
			res.SelfSigningKeys[u] = k
		}
	})
}

// perServer runs fn for each server of m at once, with at most timeout
// for all of them, and waits for them.
func perServer[T any](ctx context.Context, timeout time.Duration, m map[string]T, fn func(ctx context.Context, server string, v T)) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for server, v := range m {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx, server, v)
		}()
	}
	wg.Wait()
}

// resyncsPerServer bounds the device lists fetched from one server at
// once for one query.
const resyncsPerServer = 8

// errNoFederation: other servers' users cannot be asked about.
var errNoFederation = errors.New("this server has no federation")

// queryServer answers for one server's users. Those a local user shares a
// room with are answered from the cache of their device lists; missing or
// stale lists are fetched first (GET /user/devices, several at once),
// never served stale. The others, and those whose list could not be
// fetched, are asked in one POST /user/keys/query for them all.
func (s *Service) queryServer(ctx context.Context, server string, users map[string][]string) (*remoteQueryAnswer, error) {
	out := &remoteQueryAnswer{DeviceKeys: map[string]map[string]json.RawMessage{}}
	ask := map[string][]string{}
	var resync []string
	for userID, wanted := range users {
		tracked, err := s.tracked(ctx, userID)
		if err != nil {
			return nil, err
		}
		if !tracked {
			ask[userID] = wanted
			continue
		}
		list, err := s.store.RemoteDeviceList(ctx, userID)
		if err != nil {
			return nil, err
		}
		if list == nil || list.Stale {
			resync = append(resync, userID)
			continue
		}
		if err := s.addCachedList(ctx, out, userID, list, wanted); err != nil {
			return nil, err
		}
	}
	if len(ask)+len(resync) == 0 {
		return out, nil
	}
	if s.remote == nil {
		return out, errNoFederation
	}
	// The users asked outright are asked while the lists are fetched.
	type asked struct {
		ans *remoteQueryAnswer
		err error
	}
	first := make(chan asked, 1)
	go func() {
		ans, err := s.askServer(ctx, server, ask)
		first <- asked{ans, err}
	}()
	lists := s.resyncAll(ctx, resync)
	again := map[string][]string{}
	for _, userID := range resync {
		if lists[userID] == nil {
			again[userID] = users[userID]
			continue
		}
		if err := s.addCachedList(ctx, out, userID, lists[userID], users[userID]); err != nil {
			<-first
			return nil, err
		}
	}
	a := <-first
	mergeAnswer(out, a.ans)
	err := a.err
	if len(again) > 0 {
		ans, againErr := s.askServer(ctx, server, again)
		mergeAnswer(out, ans)
		err = cmp.Or(err, againErr)
	}
	return out, err
}

// addCachedList adds a cached list's keys (wanted devices, or all) and the
// user's kept cross-signing keys to out.
func (s *Service) addCachedList(ctx context.Context, out *remoteQueryAnswer, userID string, list *e2eestore.RemoteDeviceList, wanted []string) error {
	var err error
	if out.DeviceKeys[userID], err = cachedKeys(list, wanted); err != nil {
		return err
	}
	return s.addRemoteCrossSigning(ctx, userID, out)
}

// resyncAll fetches the device lists of userIDs, resyncsPerServer at a
// time; a list that could not be fetched is missing from the answer.
func (s *Service) resyncAll(ctx context.Context, userIDs []string) map[string]*e2eestore.RemoteDeviceList {
	out := make(map[string]*e2eestore.RemoteDeviceList, len(userIDs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, resyncsPerServer)
	for _, userID := range userIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			list, err := s.resync(ctx, userID)
			if err != nil {
				s.log.Info("fetching a device list for /keys/query failed; asking for the keys instead", "user", userID, "err", err)
				return
			}
			mu.Lock()
			out[userID] = list
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// askServer asks server for the keys of ask (its users) in one POST
// /user/keys/query, and keeps only what the server may speak for: its own
// users asked about, devices' keys that name the device they are listed
// under, cross-signing keys that are the user's and of the right usage.
func (s *Service) askServer(ctx context.Context, server string, ask map[string][]string) (*remoteQueryAnswer, error) {
	if len(ask) == 0 {
		return nil, nil
	}
	var ans remoteQueryAnswer
	if err := s.remote.Post(ctx, server, "/_matrix/federation/v1/user/keys/query", map[string]any{"device_keys": ask}, &ans); err != nil {
		return nil, err
	}
	out := &remoteQueryAnswer{DeviceKeys: map[string]map[string]json.RawMessage{}}
	for userID := range ask {
		devs := map[string]json.RawMessage{}
		for d, k := range ans.DeviceKeys[userID] {
			if c, err := checkRemoteDeviceKeys(userID, d, k); err == nil && len(devs) < maxRemoteDevices {
				devs[d] = c
			}
		}
		out.DeviceKeys[userID] = devs
		if k, ok := ans.MasterKeys[userID]; ok {
			if _, err := parseCrossSigningKey(k, userID, e2eestore.UsageMaster); err == nil {
				out.MasterKeys = setKey(out.MasterKeys, userID, k)
			}
		}
		if k, ok := ans.SelfSigningKeys[userID]; ok {
			if _, err := parseCrossSigningKey(k, userID, e2eestore.UsageSelfSigning); err == nil {
				out.SelfSigningKeys = setKey(out.SelfSigningKeys, userID, k)
			}
		}
	}
	return out, nil
}

// mergeAnswer adds from's users to into.
func mergeAnswer(into, from *remoteQueryAnswer) {
	if from == nil {
		return
	}
	for u, devs := range from.DeviceKeys {
		into.DeviceKeys[u] = devs
	}
	for u, k := range from.MasterKeys {
		into.MasterKeys = setKey(into.MasterKeys, u, k)
	}
	for u, k := range from.SelfSigningKeys {
		into.SelfSigningKeys = setKey(into.SelfSigningKeys, u, k)
	}
}

func setKey(m map[string]json.RawMessage, k string, v json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	m[k] = v
	return m
}

// cachedKeys returns the keys of a cached list's devices (wanted ones, or
// all) that have keys, with their display names in unsigned.
func cachedKeys(list *e2eestore.RemoteDeviceList, wanted []string) (map[string]json.RawMessage, error) {
	want := map[string]bool{}
	for _, d := range wanted {
		want[d] = true
	}
	out := map[string]json.RawMessage{}
	for _, d := range list.Devices {
		if d.Keys == nil || (len(want) > 0 && !want[d.DeviceID]) {
			continue
		}
		kj, err := withDisplayName(d.Keys, d.DisplayName)
		if err != nil {
			return nil, err
		}
		out[d.DeviceID] = kj
	}
	return out, nil
}

// claimRemote claims the devices of remote (server → user → device →
// algorithm) from each server at once, for at most timeout, into res.
func (s *Service) claimRemote(ctx context.Context, remote map[string]map[string]map[string]string, timeout time.Duration, res *ClaimResult) {
	var mu sync.Mutex
	perServer(ctx, timeout, remote, func(ctx context.Context, server string, users map[string]map[string]string) {
		var ans struct {
			OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		}
		err := errNoFederation
		if s.remote != nil {
			err = s.remote.Post(ctx, server, "/_matrix/federation/v1/user/keys/claim", map[string]any{"one_time_keys": users}, &ans)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failures[server] = serverFailure(err)
			return
		}
		// Only keys of the devices asked for, one per device.
		for userID, devices := range users {
			for deviceID := range devices {
				keys := ans.OneTimeKeys[userID][deviceID]
				if len(keys) != 1 {
					continue
				}
				if res.OneTimeKeys[userID] == nil {
					res.OneTimeKeys[userID] = map[string]map[string]json.RawMessage{}
				}
				res.OneTimeKeys[userID][deviceID] = keys
			}
		}
	})
}

// FederationQuery answers POST /_matrix/federation/v1/user/keys/query:
// the device keys of this server's users among users (others are left
// out).
func (s *Service) FederationQuery(ctx context.Context, users map[string][]string) (json.RawMessage, error) {
	if len(users) > MaxQueryUsers {
		return nil, merr.InvalidParam(fmt.Sprintf("at most %d users per query", MaxQueryUsers))
	}
	out := map[string]map[string]json.RawMessage{}
	masters, selfSigning := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for userID, wanted := range users {
		if _, local, err := s.serverOf(userID); err != nil || !local {
			continue
		}
		devs, err := s.localDeviceKeys(ctx, userID, wanted)
		if err != nil {
			return nil, err
		}
		out[userID] = devs
		// server-server-api "POST /user/keys/query": the users'
		// master and self-signing keys too.
		master, ssk, err := s.publicCrossSigningKeys(ctx, userID)
		if err != nil {
			return nil, err
		}
		if master != nil {
			masters[userID] = master
		}
		if ssk != nil {
			selfSigning[userID] = ssk
		}
	}
	return json.Marshal(map[string]any{"device_keys": out, "master_keys": masters, "self_signing_keys": selfSigning})
}

// FederationClaim answers POST /_matrix/federation/v1/user/keys/claim:
// claims of this server's users' keys (others are left out).
func (s *Service) FederationClaim(ctx context.Context, req map[string]map[string]string) (json.RawMessage, error) {
	res := &ClaimResult{OneTimeKeys: map[string]map[string]map[string]json.RawMessage{}}
	claims, _, err := s.claimsOf(req)
	if err != nil {
		return nil, err
	}
	if err := s.claimLocal(ctx, claims, res); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"one_time_keys": res.OneTimeKeys})
}
