package users

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// User-interactive authentication sessions (client-server-api
// "User-Interactive Authentication API") are stored, so that a client's
// next stage may reach any process sharing the database. The rules of the
// flows live in clientapi; this is their storage with its bounds.

// UIASession is a stored UIA session.
type UIASession = accounts.UIASession

const (
	// uiaSessionLifetime bounds how long a client may take to finish a
	// flow. Synapse keeps sessions for two days; an hour is plenty for the
	// stages offered here and keeps the table small.
	uiaSessionLifetime = time.Hour
	// maxUIASessions bounds the table: registration sessions can be
	// opened by anyone. The oldest are dropped first.
	maxUIASessions = 10_000
)

// CreateUIASession opens a session for one operation (method and path)
// of userID ("" for registration).
func (s *Service) CreateUIASession(ctx context.Context, operation, userID string) (*UIASession, error) {
	var b [18]byte
	_, _ = rand.Read(b[:])
	now := s.now()
	sess := &UIASession{ID: base64.RawURLEncoding.EncodeToString(b[:]), Operation: operation, UserID: userID,
		Completed: []string{}, CreatedTS: now.UnixMilli(), ExpiresTS: now.Add(uiaSessionLifetime).UnixMilli()}
	if err := s.store.CreateUIASession(ctx, *sess, maxUIASessions); err != nil {
		return nil, err
	}
	return sess, nil
}

// UIASession returns an unexpired session; merr.ErrNotFound otherwise.
func (s *Service) UIASession(ctx context.Context, id string) (*UIASession, error) {
	return s.store.GetUIASession(ctx, id, s.nowMS())
}

// BindUIABody binds a session to a request body's hash if it has none yet
// and reports whether hash is the session's body.
func (s *Service) BindUIABody(ctx context.Context, sess *UIASession, hash []byte) (bool, error) {
	ok, err := s.store.BindUIABody(ctx, sess.ID, hash)
	if ok && sess.BodyHash == nil {
		sess.BodyHash = hash
	}
	return ok, err
}

// CompleteUIAStage records a finished stage in sess.
func (s *Service) CompleteUIAStage(ctx context.Context, sess *UIASession, stage string) error {
	done, err := s.store.CompleteUIAStage(ctx, sess.ID, stage)
	if err == nil {
		sess.Completed = done
	}
	return err
}

// SetUIAEmail records the address the email stage of sess validated.
func (s *Service) SetUIAEmail(ctx context.Context, sess *UIASession, address string, validatedTS int64) error {
	if err := s.store.SetUIAEmail(ctx, sess.ID, address, validatedTS); err != nil {
		return err
	}
	sess.Email, sess.EmailValidatedTS = address, validatedTS
	return nil
}

// FinishUIASession marks a session whose request succeeded as spent, so
// that it cannot authorise another request, and ends its registration
// token's pending use. It stays stored until it expires, so a reuse is
// told why it is refused.
func (s *Service) FinishUIASession(ctx context.Context, sess *UIASession) error {
	if err := s.store.FinishUIASession(ctx, sess.ID); err != nil {
		return err
	}
	sess.Spent, sess.RegistrationToken = true, ""
	return nil
}
