// Package accounts stores local users, their devices, access and refresh
// tokens, account data, filters and third-party identifiers, on SQLite or
// PostgreSQL through one set of queries (internal/storage/sqldb).
//
// Access and refresh tokens are stored only as SHA-256 hashes: a copy of the
// database does not let anyone act as its users. Storage takes timestamps as
// arguments (milliseconds since the epoch) and never reads a clock.
package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Errors returned by Store methods, for errors.Is. They wrap merr kinds, so
// a handler that passes them on unchanged still answers sensibly.
var (
	// ErrNotFound: the user, device, token, filter or account data entry
	// does not exist.
	ErrNotFound = merr.ErrNotFound
	// ErrUserExists: CreateUser for a user ID that is already taken
	// (including by a deactivated user: IDs are never reused).
	ErrUserExists = merr.UserInUse("User ID already taken")
	// ErrProfileTooLarge: SetProfileField would make the profile larger
	// than its bound (profile.yaml, M_PROFILE_TOO_LARGE).
	ErrProfileTooLarge = merr.BadRequest(merr.CodeProfileTooLarge, "The profile would be larger than 64 KiB")
	// ErrTokenExpired: RefreshSession with a refresh token past its
	// expiry or its session's.
	ErrTokenExpired = merr.UnknownToken("Refresh token has expired", true)
	// ErrTokenUnknown: RefreshSession with a refresh token that never
	// existed or was revoked.
	ErrTokenUnknown = merr.UnknownToken("Unknown refresh token", false)
	// ErrThreepidInUse: ReplaceThreepids with an address bound to another
	// user.
	ErrThreepidInUse = merr.BadRequest(merr.CodeThreepidInUse, "Third-party identifier is already in use")
	// ErrDeviceExists: ReplaceDevice with the ID of a device the user
	// keeps.
	ErrDeviceExists = merr.InvalidParam("device_id names an existing device")
	// ErrRegistrationTokenExists: CreateRegistrationToken with a token that
	// is taken (Synapse's wording and code).
	ErrRegistrationTokenExists = merr.InvalidParam("Token already exists")
)

// Store is everything the accounts domain can do. All methods are safe for
// concurrent use; methods that change several rows do so in one transaction.
type Store interface {
	// CreateUser adds a user and, when s is not nil, logs it in in the same
	// transaction (device and tokens); ErrUserExists if the ID is taken.
	CreateUser(ctx context.Context, u NewUser, s *NewSession) (*SessionIDs, error)
	// GetUser returns a user, deactivated or not; ErrNotFound if unknown.
	GetUser(ctx context.Context, userID string) (*User, error)
	// SetPasswordHash replaces a user's password hash ("" removes it);
	// ErrNotFound if the user is unknown.
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// UpgradeGuest makes a guest account a full one with this password
	// hash; ErrNotFound unless the user is a guest.
	UpgradeGuest(ctx context.Context, userID, hash string) error
	// SetAdmin grants or revokes server admin rights; ErrNotFound if unknown.
	SetAdmin(ctx context.Context, userID string, admin bool) error
	// SetLocked locks or unlocks an account; ErrNotFound if unknown.
	SetLocked(ctx context.Context, userID string, locked bool) error
	// SetSuspended suspends an account or lifts the suspension
	// (client-server-api "Account suspension"); ErrNotFound if unknown.
	SetSuspended(ctx context.Context, userID string, suspended bool) error
	// SetShadowBanned sets or clears Synapse's shadow-ban flag;
	// ErrNotFound if unknown.
	SetShadowBanned(ctx context.Context, userID string, banned bool) error
	// SetUserType sets ("" clears) Synapse's user_type; ErrNotFound if
	// unknown.
	SetUserType(ctx context.Context, userID, userType string) error
	// ReactivateUser clears the deactivated and erased flags and sets the
	// password hash; ErrNotFound if unknown.
	ReactivateUser(ctx context.Context, userID, passwordHash string) error
	// ListUsers returns one page of the users q selects, in its order, and
	// how many users it selects in all.
	ListUsers(ctx context.Context, q UserQuery) ([]User, int64, error)
	// DeactivateUser marks a user deactivated, removes its password,
	// devices, tokens and third-party IDs, and with erase also its profile
	// and account data, and records the erasure; ErrNotFound if unknown.
	DeactivateUser(ctx context.Context, userID string, erase bool) error
	// ErasedUsers returns which of userIDs were deactivated with erase
	// (only those, as true).
	ErasedUsers(ctx context.Context, userIDs []string) (map[string]bool, error)

	// ProfileFields returns a user's profile fields other than the display
	// name and avatar (JSON values by field name).
	ProfileFields(ctx context.Context, userID string) (map[string]json.RawMessage, error)
	// SetProfileField sets one such field unless the whole profile (every
	// field's name and value, the display name and avatar included) would
	// then be larger than maxProfileBytes: ErrProfileTooLarge.
	// ErrNotFound if the user is unknown.
	SetProfileField(ctx context.Context, userID, field string, value json.RawMessage, maxProfileBytes int) error
	// DeleteProfileField removes one such field (nothing if unset).
	DeleteProfileField(ctx context.Context, userID, field string) error

	// SetDisplayName sets ("" clears) a user's display name; ErrNotFound if
	// the user is unknown.
	SetDisplayName(ctx context.Context, userID, name string) error
	// SetAvatarURL sets ("" clears) a user's avatar URL; ErrNotFound if the
	// user is unknown.
	SetAvatarURL(ctx context.Context, userID, url string) error
	// AvatarInUse reports whether some user's profile has url as its
	// avatar (media retention keeps such media).
	AvatarInUse(ctx context.Context, url string) (bool, error)

	// CreateSession logs a user in: creates the device if missing, revokes
	// the device's previous tokens when asked, and stores new tokens.
	CreateSession(ctx context.Context, s NewSession) (*SessionIDs, error)
	// GetAccessToken returns the token with this hash together with its
	// user's flags; ErrNotFound if no such token exists.
	GetAccessToken(ctx context.Context, hash []byte) (*AccessToken, error)
	// TouchAccessToken records a use of a token (last-used time, the
	// device's last-seen time, IP and user agent); on the first use of a
	// token from a refresh it also revokes the refresh token it replaced.
	TouchAccessToken(ctx context.Context, t TokenUse) error
	// RefreshSession exchanges a refresh token for a new access and refresh
	// token pair bound to the same device; ErrTokenUnknown or
	// ErrTokenExpired when the old token cannot be used.
	RefreshSession(ctx context.Context, r RefreshRequest) (*RefreshResult, error)

	// ListDevices returns a user's devices ordered by device ID.
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	// GetDevice returns one device; ErrNotFound if the user has no such
	// device.
	GetDevice(ctx context.Context, userID, deviceID string) (*Device, error)
	// CreateDevice adds a device without tokens (a dehydrated device, which
	// no one logs in to, or an application service's) and reports whether
	// it is new; an existing device is left as it is.
	CreateDevice(ctx context.Context, userID, deviceID, displayName string, nowTS int64) (bool, error)
	// ReplaceDevice, in one transaction: r.Prepare names devices of the
	// user to delete, which are deleted as DeleteDevices deletes them (the
	// deletion hook included); r.DeviceID is created without tokens
	// (ErrDeviceExists if it still exists); r.Finish runs. It returns the
	// IDs deleted; ErrNotFound if the user is unknown.
	ReplaceDevice(ctx context.Context, r DeviceReplacement) ([]string, error)
	// SetDeviceDisplayName renames a device; ErrNotFound if the user has no
	// such device.
	SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error
	// DeleteDevices deletes the listed devices of a user with their tokens
	// and returns the IDs that existed; unknown IDs are ignored.
	DeleteDevices(ctx context.Context, userID string, deviceIDs []string) ([]string, error)
	// SetDeviceDeletionHook makes every deletion of devices (DeleteDevices,
	// DeleteOtherDevices, DeactivateUser) call fn with the deleted devices'
	// IDs inside its transaction, so that what other domains keep for the
	// devices (their end-to-end keys and to-device queues) goes in the
	// same commit. Call it while the server is wired.
	SetDeviceDeletionHook(fn DeviceDeletionHook)
	// DeleteOtherDevices deletes every device of a user except keep ("" keeps
	// none) with their tokens and returns the deleted IDs.
	DeleteOtherDevices(ctx context.Context, userID, keep string) ([]string, error)

	// PutAccountData sets an account data entry (roomID "" for global) at
	// stream position pos, replacing any previous content.
	PutAccountData(ctx context.Context, userID, roomID, dataType string, content json.RawMessage, pos int64) error
	// GetAccountData returns one entry's content; ErrNotFound if unset.
	GetAccountData(ctx context.Context, userID, roomID, dataType string) (json.RawMessage, error)
	// GlobalAccountDataOf returns the global entry of dataType of each of
	// the users who have one, keyed by user ID (at most 1 000 users a call).
	GlobalAccountDataOf(ctx context.Context, userIDs []string, dataType string) (map[string]json.RawMessage, error)
	// AccountDataSince returns the user's entries whose position is in
	// (fromPos, toPos], oldest first: what /sync sends for that range.
	AccountDataSince(ctx context.Context, userID string, fromPos, toPos int64) ([]AccountData, error)
	// RoomAccountData returns the user's entries for one room, by type,
	// at most limit of them (a room's initialSync carries them).
	RoomAccountData(ctx context.Context, userID, roomID string, limit int) ([]AccountData, error)
	// MaxAccountDataPos returns the highest position written (0 if none),
	// for seeding the stream counter at start-up.
	MaxAccountDataPos(ctx context.Context) (int64, error)
	// PurgeRoom deletes every user's account data of a room (a room an
	// admin deleted and purged).
	PurgeRoom(ctx context.Context, roomID string) error

	// CreateFilter stores a filter definition and returns its new ID.
	CreateFilter(ctx context.Context, userID string, filter json.RawMessage) (string, error)
	// GetFilter returns a filter the user created; ErrNotFound otherwise.
	GetFilter(ctx context.Context, userID, filterID string) (json.RawMessage, error)

	// DisplayNames returns the display name of each of the users who have
	// one, keyed by user ID (at most 1 000 users a call).
	DisplayNames(ctx context.Context, userIDs []string) (map[string]string, error)

	// ListThreepids returns the third-party IDs bound to a user, by medium
	// and address.
	ListThreepids(ctx context.Context, userID string) ([]Threepid, error)
	// ReplaceThreepids binds exactly these third-party IDs to a user (an
	// admin's edit); ErrThreepidInUse if one is bound to another user.
	ReplaceThreepids(ctx context.Context, userID string, threepids []Threepid) error
	// AddThreepid binds one third-party ID to a user (a validated address
	// the user added); ErrThreepidInUse if it is bound to another user,
	// nothing if it is already the user's.
	AddThreepid(ctx context.Context, userID string, t Threepid) error
	// DeleteThreepid unbinds a third-party ID from a user and reports
	// whether it was bound to them.
	DeleteThreepid(ctx context.Context, userID, medium, address string) (bool, error)
	// UserByThreepid returns the user a third-party ID is bound to, or "".
	UserByThreepid(ctx context.Context, medium, address string) (string, error)

	// CreatePuppetToken stores an access token of a user that belongs to
	// no device (an admin acting as the user) and returns its row ID.
	CreatePuppetToken(ctx context.Context, userID string, hash []byte, nowTS, expiresTS int64) (int64, error)
	// DeleteAccessToken revokes one access token; unknown IDs are ignored.
	DeleteAccessToken(ctx context.Context, tokenID int64) error

	// RatelimitOverride returns a user's rate-limit override; ok false if
	// the user has none.
	RatelimitOverride(ctx context.Context, userID string) (o RatelimitOverride, ok bool, err error)
	// SetRatelimitOverride sets a user's override; ErrNotFound if the user
	// is unknown.
	SetRatelimitOverride(ctx context.Context, userID string, o RatelimitOverride) error
	// DeleteRatelimitOverride removes a user's override (none is not an
	// error).
	DeleteRatelimitOverride(ctx context.Context, userID string) error

	// CreateRegistrationToken stores a new token; ErrRegistrationTokenExists
	// if it is taken.
	CreateRegistrationToken(ctx context.Context, t RegistrationToken) error
	// GetRegistrationToken returns one token; ErrNotFound if unknown.
	GetRegistrationToken(ctx context.Context, token string) (*RegistrationToken, error)
	// ListRegistrationTokens returns every token, ordered by token.
	ListRegistrationTokens(ctx context.Context) ([]RegistrationToken, error)
	// UpdateRegistrationToken changes the fields u sets and returns the
	// token as stored; ErrNotFound if unknown.
	UpdateRegistrationToken(ctx context.Context, token string, u RegistrationTokenUpdate) (*RegistrationToken, error)
	// DeleteRegistrationToken removes a token; ErrNotFound if unknown.
	DeleteRegistrationToken(ctx context.Context, token string) error

	// CreateUIASession stores a new session. It first deletes the sessions
	// expired at s.CreatedTS and, when more than maxSessions are left, the
	// ones that expire first, so that sessions anyone can open stay bounded.
	CreateUIASession(ctx context.Context, s UIASession, maxSessions int) error
	// GetUIASession returns a session that has not expired at nowMS;
	// ErrNotFound otherwise.
	GetUIASession(ctx context.Context, id string, nowMS int64) (*UIASession, error)
	// BindUIABody binds an unbound session to a body hash and reports
	// whether the session's body is now hash (false: bound to another).
	// ErrNotFound if the session is unknown.
	BindUIABody(ctx context.Context, id string, hash []byte) (bool, error)
	// CompleteUIAStage records a finished stage and returns the stages
	// done, in order; ErrNotFound if the session is unknown.
	CompleteUIAStage(ctx context.Context, id, stage string) ([]string, error)
	// SetUIAEmail records the address the email stage validated.
	SetUIAEmail(ctx context.Context, id, address string, validatedTS int64) error
	// FinishUIASession marks a session spent and ends the pending use of
	// its registration token; ErrNotFound if unknown.
	FinishUIASession(ctx context.Context, id string) error
	// HoldRegistrationToken makes session id hold a pending use of token,
	// if it holds none yet and valid accepts the token with its pending
	// uses (counted from the sessions unexpired at nowMS), all under a lock
	// of the token's row so that two processes cannot both take its last
	// use. It returns the token the session holds now ("" when valid
	// refused); ErrNotFound if the token or the session is unknown.
	HoldRegistrationToken(ctx context.Context, id, token string, nowMS int64,
		valid func(t *RegistrationToken, pending int64) bool) (string, error)
	// PendingRegistrationTokenUses counts, per token, the sessions
	// unexpired at nowMS that hold a pending use of it (tokens without one
	// are absent).
	PendingRegistrationTokenUses(ctx context.Context, nowMS int64) (map[string]int64, error)
}

// DeviceReplacement is what ReplaceDevice does. Prepare and Finish run in
// its transaction (and again if it is retried): they may write other
// domains' tables in tx, and must have no other effects.
type DeviceReplacement struct {
	UserID, DeviceID, DisplayName string
	NowTS                         int64
	Prepare                       func(ctx context.Context, tx *sql.Tx) ([]string, error)
	Finish                        func(ctx context.Context, tx *sql.Tx) error
}

// UIASession is a user-interactive authentication session: what it
// authorises and how far its flow has come.
type UIASession struct {
	ID string
	// Operation is the method and path of the request it authorises.
	Operation string
	// UserID is the authenticated caller, "" for registration.
	UserID string
	// BodyHash is the SHA-256 of the canonical request body without its
	// "auth" key, nil until the session is bound to one body.
	BodyHash []byte
	// Completed are the stages done, in order.
	Completed []string
	// RegistrationToken is the token whose pending use the session holds,
	// "" for none.
	RegistrationToken string
	// Spent: the session authorised a request that succeeded and must not
	// authorise another.
	Spent bool
	// Email is the address the m.login.email.identity stage validated,
	// with when it was validated (ms).
	Email            string
	EmailValidatedTS int64
	CreatedTS        int64
	ExpiresTS        int64
}

// User is a local account.
type User struct {
	UserID string
	// PasswordHash is empty when the user has no password.
	PasswordHash string
	IsAdmin      bool
	IsGuest      bool
	Deactivated  bool
	Erased       bool
	// Locked accounts cannot log in or use their tokens (Synapse's lock).
	Locked bool
	// Suspended users can log in and read but not act on others
	// (client-server-api "Account suspension").
	Suspended bool
	// ShadowBanned users' requests succeed but are not seen by others.
	ShadowBanned bool
	// UserType is Synapse's user_type ("bot", "support") or "".
	UserType  string
	CreatedTS int64
	// DisplayName and AvatarURL are "" when unset.
	DisplayName string
	AvatarURL   string
	// LastSeenTS is the latest last-seen time of the user's devices (0:
	// never seen).
	LastSeenTS int64
	// AppserviceID is the application service that registered the user
	// in its exclusive namespace, or "".
	AppserviceID string
}

// UserOrder is a column ListUsers can order by: Synapse's order_by values.
type UserOrder string

// The orders ListUsers knows; every order ends with the user ID so pages
// never overlap.
const (
	OrderByName        UserOrder = "name"
	OrderByIsGuest     UserOrder = "is_guest"
	OrderByAdmin       UserOrder = "admin"
	OrderByUserType    UserOrder = "user_type"
	OrderByDeactivated UserOrder = "deactivated"
	OrderByDisplayName UserOrder = "displayname"
	OrderByAvatarURL   UserOrder = "avatar_url"
	OrderByCreationTS  UserOrder = "creation_ts"
	OrderByLastSeenTS  UserOrder = "last_seen_ts"
	OrderByLocked      UserOrder = "locked"
	// OrderByShadowBanned is accepted for Synapse's clients; Myelin has no
	// shadow bans, so it orders by name.
	OrderByShadowBanned UserOrder = "shadow_banned"
)

// userOrderColumns maps orders to SQL; nullable columns are coalesced so
// that both databases place unset values alike.
var userOrderColumns = map[UserOrder]string{
	OrderByName:         "user_id",
	OrderByIsGuest:      "is_guest",
	OrderByAdmin:        "is_admin",
	OrderByUserType:     "COALESCE(user_type, '')",
	OrderByDeactivated:  "deactivated",
	OrderByDisplayName:  "COALESCE(displayname, '')",
	OrderByAvatarURL:    "COALESCE(avatar_url, '')",
	OrderByCreationTS:   "created_ts",
	OrderByLastSeenTS:   "last_seen",
	OrderByLocked:       "locked",
	OrderByShadowBanned: "user_id",
}

// ValidUserOrder reports whether ListUsers knows the order o.
func ValidUserOrder(o UserOrder) bool {
	_, ok := userOrderColumns[o]
	return ok
}

// UserQuery selects and orders users for ListUsers.
type UserQuery struct {
	// UserID keeps users whose ID contains it (case-insensitively).
	UserID string
	// Name keeps users whose ID or display name contains it
	// (case-insensitively).
	Name string
	// IncludeGuests, IncludeDeactivated and IncludeLocked keep those kinds
	// of users.
	IncludeGuests      bool
	IncludeDeactivated bool
	IncludeLocked      bool
	// Admins, when not nil, keeps only admins (true) or non-admins (false).
	Admins *bool
	// OrderBy is "" for OrderByName.
	OrderBy UserOrder
	Desc    bool
	// Offset and Limit select the page.
	Offset, Limit int
}

// RegistrationToken is a token that allows registering an account.
type RegistrationToken struct {
	Token string
	// UsesAllowed is nil for unlimited uses.
	UsesAllowed *int64
	// Completed counts the registrations that used the token.
	Completed int64
	// ExpiryTime is when the token stops being valid (ms), nil for never.
	ExpiryTime *int64
}

// RegistrationTokenUpdate changes the fields whose Set flag is true (a nil
// value then means "unlimited" or "never").
type RegistrationTokenUpdate struct {
	SetUsesAllowed bool
	UsesAllowed    *int64
	SetExpiryTime  bool
	ExpiryTime     *int64
}

// NewUser is what CreateUser stores.
type NewUser struct {
	UserID       string
	PasswordHash string
	IsAdmin      bool
	IsGuest      bool
	UserType     string
	DisplayName  string
	CreatedTS    int64
	// AppserviceID records the application service registering the user
	// in its exclusive namespace ("" for everyone else).
	AppserviceID string
	// RegistrationToken, when not "", is counted as used by this
	// registration in the same transaction.
	RegistrationToken string
}

// NewSession describes a login: the device and the tokens to store.
type NewSession struct {
	UserID   string
	DeviceID string
	// DeviceDisplayName names the device if it is created; an existing
	// device keeps its name (spec: initial_device_display_name is
	// "Ignored if device_id corresponds to a known device").
	DeviceDisplayName string
	// ReplaceDeviceTokens revokes the tokens the device already has (spec:
	// "Relationship between access tokens and devices").
	ReplaceDeviceTokens bool
	IP, UserAgent       string
	NowTS               int64

	AccessTokenHash []byte
	// AccessExpiresTS is when the access token expires (0: never).
	AccessExpiresTS int64
	// RefreshTokenHash, if not nil, stores a refresh token too.
	RefreshTokenHash []byte
	// RefreshExpiresTS is when the refresh token expires (0: never).
	RefreshExpiresTS int64
	// SessionExpiresTS bounds every token refreshed from this login
	// (Synapse's session_lifetime; 0: never).
	SessionExpiresTS int64
}

// SessionIDs are the row IDs of a new session's tokens.
type SessionIDs struct {
	AccessTokenID  int64
	RefreshTokenID int64 // 0 without a refresh token
	DeviceCreated  bool
}

// AccessToken is a stored access token with its owner's account flags.
type AccessToken struct {
	ID        int64
	UserID    string
	DeviceID  string
	CreatedTS int64
	// ExpiresTS is 0 for tokens that never expire.
	ExpiresTS  int64
	LastUsedTS int64
	// RefreshTokenID is the refresh token this access token was issued
	// with (0 for non-refreshable tokens).
	RefreshTokenID int64
	// Used is set on first use; see TouchAccessToken.
	Used bool

	IsAdmin      bool
	IsGuest      bool
	Deactivated  bool
	Locked       bool
	Suspended    bool
	ShadowBanned bool
}

// TokenUse is one use of an access token.
type TokenUse struct {
	TokenID        int64
	UserID         string
	DeviceID       string
	RefreshTokenID int64
	// FirstUse is true when the token was not used before; it revokes the
	// predecessor of RefreshTokenID.
	FirstUse      bool
	NowTS         int64
	IP, UserAgent string
}

// RefreshRequest exchanges the refresh token with hash OldHash.
type RefreshRequest struct {
	OldHash []byte
	NowTS   int64
	// AccessTokenHash and RefreshTokenHash are the new tokens.
	AccessTokenHash  []byte
	RefreshTokenHash []byte
	// AccessLifetime and RefreshLifetime are the new tokens' lifetimes (0:
	// no expiry); both are capped by the session's expiry.
	AccessLifetime  time.Duration
	RefreshLifetime time.Duration
}

// RefreshResult identifies the refreshed session.
type RefreshResult struct {
	UserID         string
	DeviceID       string
	AccessTokenID  int64
	RefreshTokenID int64
	// AccessExpiresTS is when the new access token expires (0: never).
	AccessExpiresTS int64
}

// Device is one of a user's devices.
type Device struct {
	UserID      string
	DeviceID    string
	DisplayName string
	CreatedTS   int64
	// LastSeenTS is 0 and LastSeenIP "" until the device is first used.
	LastSeenTS        int64
	LastSeenIP        string
	LastSeenUserAgent string
}

// RatelimitOverride is a user's own rc_message limit (Synapse's
// override_ratelimit); zero values exempt the user from rate limits.
type RatelimitOverride struct {
	MessagesPerSecond int64
	BurstCount        int64
}

// AccountData is one account data entry.
type AccountData struct {
	RoomID  string // "" for global account data
	Type    string
	Content json.RawMessage
	Pos     int64
}

// Threepid is a third-party identifier bound to an account.
type Threepid struct {
	Medium      string
	Address     string
	ValidatedAt int64
	AddedAt     int64
}

// DeviceDeletionHook runs inside the transaction that deletes devices;
// its error rolls the deletion back.
type DeviceDeletionHook func(ctx context.Context, tx *sql.Tx, userID string, deviceIDs []string) error
