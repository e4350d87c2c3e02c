package users

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Limits on profile fields, Synapse's: the spec only bounds the whole
// profile (64 KiB, profile.yaml), and these keep membership events small.
const (
	MaxDisplayNameLength = 256  // characters
	MaxAvatarURLLength   = 1000 // bytes
)

// Profile is a user's public profile; empty fields are unset.
type Profile struct {
	DisplayName string
	AvatarURL   string
}

// IsLocal reports whether userID is a valid user ID of this server.
func (s *Service) IsLocal(userID string) bool {
	u, err := ids.ParseUserID(userID)
	return err == nil && u.Server == s.opts.ServerName
}

// GetProfile returns a local user's profile; 404 M_NOT_FOUND for unknown
// users. Deactivated users keep their profile unless they were erased, as
// in Synapse. Remote profiles are the federation layer's job.
func (s *Service) GetProfile(ctx context.Context, userID string) (*Profile, error) {
	if !s.IsLocal(userID) {
		return nil, merr.NotFound("Profile not found")
	}
	u, err := s.store.GetUser(ctx, userID)
	// An unknown user of an appservice's namespace: ask the appservice,
	// which may register the user before it answers, then look again
	// (application-service-api.md, "Querying").
	if errors.Is(err, merr.ErrNotFound) && s.opts.AppserviceQueries.UserExists(ctx, userID) {
		u, err = s.store.GetUser(ctx, userID)
	}
	if errors.Is(err, merr.ErrNotFound) {
		return nil, merr.NotFound("Profile not found")
	}
	if err != nil {
		return nil, err
	}
	return &Profile{DisplayName: u.DisplayName, AvatarURL: u.AvatarURL}, nil
}

// SetDisplayName sets ("" removes) a local user's display name.
func (s *Service) SetDisplayName(ctx context.Context, userID, name string) error {
	if utf8.RuneCountInString(name) > MaxDisplayNameLength {
		return merr.InvalidParam("Display name is too long (at most 256 characters)")
	}
	if err := s.store.SetDisplayName(ctx, userID, name); err != nil {
		return notFoundAsProfile(err)
	}
	s.profileChanged(ctx, userID)
	return nil
}

// SetAvatarURL sets ("" removes) a local user's avatar, which must be an
// mxc:// URI (profile.yaml: "For avatar_url, the value MUST be an MXC URI").
func (s *Service) SetAvatarURL(ctx context.Context, userID, url string) error {
	// What is checked is what Synapse checks: a string (the handler) of at
	// most 1000 bytes. The spec's profile.yaml describes the value as an
	// mxc:// URI but states no error for another one, and Synapse stores
	// any string, so clients that set http(s) or empty-scheme URLs keep
	// working here; clients only fetch mxc:// avatars through the media
	// API and ignore others. Text rules (no NUL) apply as to every body.
	if len(url) > MaxAvatarURLLength {
		return merr.InvalidParam("Avatar URL is too long")
	}
	if err := s.store.SetAvatarURL(ctx, userID, url); err != nil {
		return notFoundAsProfile(err)
	}
	s.profileChanged(ctx, userID)
	return nil
}

func notFoundAsProfile(err error) error {
	if errors.Is(err, merr.ErrNotFound) {
		return merr.NotFound("Profile not found")
	}
	return err
}

func (s *Service) profileChanged(ctx context.Context, userID string) {
	if h := s.getHooks().Profile; h != nil {
		if err := h.OnProfileChange(ctx, userID); err != nil {
			s.log.Error("profile hook failed", "user", userID, "err", err)
		}
	}
}

// maxProfileBytes is the spec's bound on a whole profile (profile.yaml:
// "the total profile MUST be under 64 KiB").
const maxProfileBytes = 64 * 1024

// ProfileFields returns a local user's profile fields other than the
// display name and avatar: m.tz and custom fields (profile.yaml, spec
// v1.16, MSC4133).
func (s *Service) ProfileFields(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	if !s.IsLocal(userID) {
		return nil, merr.NotFound("Profile not found")
	}
	return s.store.ProfileFields(ctx, userID)
}

// SetProfileField sets m.tz or a custom field to any JSON value (m.tz: a
// string, "a valid identifier from the IANA Time Zone Database", which
// is not checked further, as the spec allows). These fields stay in the
// profile: unlike the display name and avatar they are not copied into
// the user's membership events.
func (s *Service) SetProfileField(ctx context.Context, userID, field string, value json.RawMessage) error {
	if field == "m.tz" {
		var tz string
		if json.Unmarshal(value, &tz) != nil {
			return merr.BadJSON("m.tz must be a string")
		}
	}
	if err := s.store.SetProfileField(ctx, userID, field, value, maxProfileBytes); err != nil {
		return notFoundAsProfile(err)
	}
	return nil
}

// DeleteProfileField removes m.tz or a custom field.
func (s *Service) DeleteProfileField(ctx context.Context, userID, field string) error {
	return s.store.DeleteProfileField(ctx, userID, field)
}
