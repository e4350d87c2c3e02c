// Package ratelimit holds Myelin's request rate limits: Synapse's rc_*
// settings as token buckets keyed by (action, key), and rc_federation's
// per-origin throttle of inbound federation requests.
//
// A bucket's key is what the action is counted against: a user ID, a client
// address, a room ID. Limits are per process, as in Synapse: they are a
// defence against floods, not a quota, so nothing is stored.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Action names one limit. The names are the configuration keys that set
// them (Synapse's, where Synapse has the limit).
type Action string

// The limits. How each is applied follows Synapse's configuration manual
// ("Ratelimiting"); the handlers that apply them say which key they use.
const (
	// Message covers every event a client sends that is not a membership
	// change (messages, state, redactions), room creation and profile
	// changes; keyed by user.
	Message Action = "rc_message"
	// AdminRedaction replaces Message for redactions of other users'
	// events when rc_admin_redaction is set; keyed by user.
	AdminRedaction Action = "rc_admin_redaction"
	// RoomCreation is checked with Message on createRoom; keyed by user.
	RoomCreation Action = "rc_room_creation"
	// JoinsLocal and JoinsRemote count a user's joins to rooms this server
	// is in, and to rooms it must join over federation; keyed by user.
	JoinsLocal  Action = "rc_joins.local"
	JoinsRemote Action = "rc_joins.remote"
	// JoinsPerRoom counts every join to a room, whoever's and from
	// wherever; new joins are refused while it is exhausted; keyed by room.
	JoinsPerRoom Action = "rc_joins_per_room"
	// InvitesPerRoom, InvitesPerUser and InvitesPerIssuer are keyed by
	// room, by invitee and by inviter.
	InvitesPerRoom   Action = "rc_invites.per_room"
	InvitesPerUser   Action = "rc_invites.per_user"
	InvitesPerIssuer Action = "rc_invites.per_issuer"
	// LoginAddress (by client address), LoginAccount (by user) and
	// LoginFailed (by user, charged only for wrong passwords).
	LoginAddress Action = "rc_login.address"
	LoginAccount Action = "rc_login.account"
	LoginFailed  Action = "rc_login.failed_attempts"
	// Registration is keyed by client address.
	Registration Action = "rc_registration"
	// MediaCreate and ThreepidValidation are parsed and configured now and
	// applied by the media repository and 3PID validation when they exist.
	MediaCreate        Action = "rc_media_create"
	ThreepidValidation Action = "rc_3pid_validation"
	// ThirdPartyInvite is rc_third_party_invite: per inviting user, each
	// invite by third-party identifier.
	ThirdPartyInvite Action = "rc_third_party_invite"
	// Reports is rc_reports: per user, each report of content.
	Reports Action = "rc_reports"
	// RegisterAvailable bounds GET /register/available per client address
	// (Myelin's own; Synapse has no setting for it).
	RegisterAvailable Action = "register_available"
	// RegistrationTokenValidity bounds GET
	// /register/m.login.registration_token/validity per client address,
	// which the spec asks to rate limit against guessing (Synapse's
	// rc_registration_token_validity).
	RegistrationTokenValidity Action = "rc_registration_token_validity"
)

// Limit is one token bucket setting: BurstCount actions at once, refilled
// at PerSecond. A limit whose rate or burst is not positive is off: spent,
// it could never let anything through again, which no operator means.
type Limit struct {
	PerSecond  float64
	BurstCount float64
}

func (l Limit) enabled() bool {
	return l.PerSecond > 0 && l.BurstCount > 0 && !math.IsInf(l.PerSecond, 0) && !math.IsNaN(l.PerSecond) &&
		!math.IsNaN(l.BurstCount)
}

// DefaultMaxKeys bounds how many keys one action tracks at once.
const DefaultMaxKeys = 100_000

// Limiter applies every configured limit. A nil *Limiter allows everything,
// as does an action without an enabled limit. Methods are safe for
// concurrent use.
//
// Memory is bounded per action: a bucket that has refilled completely is
// identical to a fresh one and is dropped at the next sweep; if more than
// the bound are still refilling (someone cycling through addresses), arbitrary
// ones are dropped, which at worst forgives some debt. One action's
// flood never evicts another's buckets.
type Limiter struct {
	now    func() time.Time
	tables map[Action]*table // fixed after New
	// overrides are the per-user overrides (overrides.go); nil: none.
	overrides *overrides

	mu sync.Mutex
	// custom holds the buckets drawn at an overridden limit, by action
	// and limit (under mu). Its tables are swept like the others; a table
	// is dropped when its last bucket goes.
	custom        map[overrideKey]*table
	customSweepAt int
}

type table struct {
	rate, burst float64
	maxKeys     int
	buckets     map[string]*bucket
	sweepAt     int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter for limits. now is the clock (nil: time.Now),
// replaceable so that tests need not sleep.
func New(limits map[Action]Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{now: now, tables: map[Action]*table{}}
	for a, lim := range limits {
		if !lim.enabled() {
			continue
		}
		l.tables[a] = newTable(lim)
	}
	return l
}

func newTable(lim Limit) *table {
	return &table{rate: lim.PerSecond, burst: math.Max(lim.BurstCount, 1),
		maxKeys: DefaultMaxKeys, buckets: map[string]*bucket{}, sweepAt: 1024}
}

// Enabled reports whether a applies at all.
func (l *Limiter) Enabled(a Action) bool {
	return l != nil && l.tables[a] != nil
}

// Fits reports whether n actions of a could ever pass at once: false when
// n is more than a's burst.
func (l *Limiter) Fits(a Action, n int) bool {
	if !l.Enabled(a) {
		return true
	}
	return float64(n) <= l.tables[a].burst
}

// SetMaxKeys changes the bound on the keys each action tracks (for tests
// and tuning).
func (l *Limiter) SetMaxKeys(n int) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.tables {
		t.maxKeys = n
		t.sweepAt = min(t.sweepAt, n)
	}
}

// Cost is one bucket a request draws on.
type Cost struct {
	Action Action
	Key    string
	// N is how many actions the request counts for (0 means 1), such as
	// one per invitee of a createRoom.
	N int
	// CheckOnly tests the bucket without drawing on it: rc_joins_per_room
	// counts joins as they happen and refuses new ones while the room's
	// bucket is empty (Synapse's update=False).
	CheckOnly bool
	// limit replaces the action's configured limit (a user's override,
	// set by TakeFor).
	limit *Limit
}

// table returns the buckets c draws on; nil if its action is off. Called
// with l.mu held.
func (l *Limiter) table(c Cost) *table {
	if c.limit != nil {
		return l.overrideTable(c.Action, *c.limit)
	}
	return l.tables[c.Action]
}

// Take draws on every bucket of costs, or on none of them: it returns a
// 429 M_LIMIT_EXCEEDED carrying the longest wait if any bucket lacks room.
func (l *Limiter) Take(costs ...Cost) error {
	if l == nil {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, c := range costs {
		t := l.table(c)
		if t == nil {
			continue
		}
		if w := t.wait(c.Key, c.n(), now); w > wait {
			wait = w
		}
	}
	if wait > 0 {
		return merr.LimitExceeded(wait)
	}
	for _, c := range costs {
		if t := l.table(c); t != nil && !c.CheckOnly {
			t.charge(c.Key, c.n(), now)
		}
	}
	l.dropIdleOverrideTables(now)
	return nil
}

func (c Cost) n() float64 { return float64(max(c.N, 1)) }

// Check takes one action of a for key: Take with one Cost.
func (l *Limiter) Check(a Action, key string) error {
	return l.Take(Cost{Action: a, Key: key})
}

// Peek is Check without drawing on the bucket. Login uses it for
// rc_login.failed_attempts: check before verifying a password, Charge only
// when the password was wrong.
func (l *Limiter) Peek(a Action, key string) error {
	return l.Take(Cost{Action: a, Key: key, CheckOnly: true})
}

// Charge records one action of a for key even if that exhausts the bucket
// (Synapse's record_action): for actions that happened anyway, such as a
// failed login or a join that arrived over federation.
func (l *Limiter) Charge(a Action, key string) {
	if l == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.tables[a]; t != nil {
		t.charge(key, 1, now)
	}
}

// dropIdleOverrideTables forgets override tables whose buckets have all
// refilled, now and then, so that past overrides leave no tables behind.
func (l *Limiter) dropIdleOverrideTables(now time.Time) {
	if len(l.custom) < max(l.customSweepAt, 16) {
		return
	}
	for k, t := range l.custom {
		t.sweep(now)
		if len(t.buckets) == 0 {
			delete(l.custom, k)
		}
	}
	l.customSweepAt = 2 * len(l.custom)
}

// Len is the number of keys a currently tracks.
func (l *Limiter) Len(a Action) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.tables[a]; t != nil {
		return len(t.buckets)
	}
	return 0
}

// wait is how long until key's bucket holds n tokens; 0 if it does now. A
// request for more than the burst can never pass; like Synapse, it is told
// to wait for a full bucket and will be refused again.
func (t *table) wait(key string, n float64, now time.Time) time.Duration {
	tokens := t.burst
	if b := t.buckets[key]; b != nil {
		tokens = t.level(b, now)
	}
	if tokens >= n {
		return 0
	}
	need := math.Min(n, t.burst) - tokens
	return max(time.Duration(math.Ceil(need/t.rate*float64(time.Second))), time.Millisecond)
}

func (t *table) charge(key string, n float64, now time.Time) {
	b := t.buckets[key]
	tokens := t.burst
	if b != nil {
		tokens = t.level(b, now)
	} else {
		if len(t.buckets) >= t.sweepAt {
			t.sweep(now)
		}
		b = &bucket{}
		t.buckets[key] = b
	}
	b.tokens, b.last = tokens-n, now
}

// level is the bucket's tokens at now.
func (t *table) level(b *bucket, now time.Time) float64 {
	elapsed := max(now.Sub(b.last).Seconds(), 0)
	return math.Min(t.burst, b.tokens+elapsed*t.rate)
}

// sweep drops full buckets, then arbitrary ones while still at maxKeys, and
// sets the next sweep threshold so that sweeping stays amortised O(1) per
// new key.
func (t *table) sweep(now time.Time) {
	for k, b := range t.buckets {
		if t.level(b, now) >= t.burst {
			delete(t.buckets, k)
		}
	}
	for k := range t.buckets {
		if len(t.buckets) < t.maxKeys {
			break
		}
		delete(t.buckets, k)
	}
	t.sweepAt = min(max(2*len(t.buckets), 1024), t.maxKeys)
}
