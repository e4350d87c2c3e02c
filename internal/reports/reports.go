// Package reports takes users' reports of events, rooms and users
// (client-server-api "Reporting Content") and keeps them for the server's
// admins (Synapse's event reports admin API).
package reports

import (
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/reportstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// MaxReasonLength bounds a report's reason (characters), as Synapse
// bounds it.
const MaxReasonLength = 1000

// LocalUsers tells whether a local user exists.
type LocalUsers interface {
	Exists(ctx context.Context, userID string) (bool, error)
}

// Service takes and lists reports.
type Service struct {
	Store  *reportstore.Store
	Rooms  *rooms.Engine
	Users  LocalUsers
	Now    func() time.Time
	server string
}

// New returns the service.
func New(store *reportstore.Store, engine *rooms.Engine, users LocalUsers, now func() time.Time) *Service {
	return &Service{Store: store, Rooms: engine, Users: users, Now: now, server: engine.ServerName()}
}

// errEventNotFound is the spec's answer for an event the reporter cannot
// report (report_content.yaml: 404 "The event was not found or you are
// not joined to the room.").
func errEventNotFound() error {
	return merr.NotFound("The event was not found or you are not joined to the room.")
}

func checkReason(reason *string) error {
	if reason != nil && utf8.RuneCountInString(*reason) > MaxReasonLength {
		return merr.InvalidParam("reason is too long (at most 1000 characters)")
	}
	return nil
}

// ReportEvent stores a report of an event. The reporter must be joined to
// the room now (spec v1.8) and able to see the event; a redacted event
// cannot be reported (the spec allows the 404). score, when given, is
// Synapse's -100 (most offensive) to 0; the spec dropped it in v1.18.
func (s *Service) ReportEvent(ctx context.Context, reporter, roomID, eventID string, reason *string, score *int64) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	if score != nil && (*score < -100 || *score > 0) {
		return merr.InvalidParam("score must be an integer from -100 to 0")
	}
	store := s.Rooms.Store()
	m, err := store.CurrentStateEvent(ctx, roomID, event.TypeMember, reporter)
	if err != nil {
		return err
	}
	if m == nil || m.Membership() != event.Join {
		return errEventNotFound()
	}
	se, err := store.Event(ctx, eventID)
	if errors.Is(err, merr.ErrNotFound) {
		return errEventNotFound()
	}
	if err != nil {
		return err
	}
	if se.RoomID() != roomID || se.Rejected || se.SoftFailed || se.StreamPos == 0 || se.RedactedBy != "" {
		return errEventNotFound()
	}
	vis, err := s.Rooms.FilterVisible(ctx, reporter, []*roomstore.StoredEvent{se}, true)
	if err != nil {
		return err
	}
	if len(vis) == 0 {
		return errEventNotFound()
	}
	_, err = s.Store.Add(ctx, reportstore.Report{Kind: reportstore.KindEvent, ReceivedTS: s.Now().UnixMilli(),
		Reporter: reporter, RoomID: roomID, EventID: eventID, Reason: reason, Score: score})
	return err
}

// ReportRoom stores a report of a room the server knows; the reporter
// need not be in it (spec v1.13).
func (s *Service) ReportRoom(ctx context.Context, reporter, roomID string, reason *string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	if _, err := s.Rooms.Store().Room(ctx, roomID); err != nil {
		if errors.Is(err, merr.ErrNotFound) {
			return merr.NotFound("The room was not found.")
		}
		return err
	}
	_, err := s.Store.Add(ctx, reportstore.Report{Kind: reportstore.KindRoom, ReceivedTS: s.Now().UnixMilli(),
		Reporter: reporter, RoomID: roomID, Reason: reason})
	return err
}

// ReportUser stores a report of a user; the reporter need not share a
// room with them (spec v1.14). A local user must exist; other servers'
// users are taken as named, since this server cannot know them all.
func (s *Service) ReportUser(ctx context.Context, reporter, userID string, reason *string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	u, err := ids.ParseUserID(userID)
	if err != nil {
		return merr.InvalidParam("invalid user ID")
	}
	if string(u.Server) == s.server {
		ok, err := s.Users.Exists(ctx, userID)
		if err != nil {
			return err
		}
		if !ok {
			return merr.NotFound("The user was not found.")
		}
	}
	_, err = s.Store.Add(ctx, reportstore.Report{Kind: reportstore.KindUser, ReceivedTS: s.Now().UnixMilli(),
		Reporter: reporter, TargetUserID: userID, Reason: reason})
	return err
}

// EventReport is an event report as Synapse's admin API shows it.
type EventReport struct {
	reportstore.Report
	// Sender is the reported event's sender ("" if the event is gone).
	Sender string
	// Name and CanonicalAlias are the room's, "" when unset.
	Name, CanonicalAlias string
	// EventJSON is the event (only filled by EventReport).
	EventJSON json.RawMessage
}

// EventReports returns a page of event reports and their total.
func (s *Service) EventReports(ctx context.Context, q reportstore.Query) ([]EventReport, int64, error) {
	q.Kind = reportstore.KindEvent
	rs, total, err := s.Store.List(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]EventReport, len(rs))
	for i, r := range rs {
		if out[i], err = s.describe(ctx, r, false); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// EventReport returns one event report with its event.
func (s *Service) EventReport(ctx context.Context, id int64) (EventReport, error) {
	r, err := s.Store.Get(ctx, reportstore.KindEvent, id)
	if errors.Is(err, reportstore.ErrNotFound) {
		return EventReport{}, merr.NotFound("Event report not found")
	}
	if err != nil {
		return EventReport{}, err
	}
	return s.describe(ctx, r, true)
}

// DeleteEventReport deletes one event report.
func (s *Service) DeleteEventReport(ctx context.Context, id int64) error {
	err := s.Store.Delete(ctx, reportstore.KindEvent, id)
	if errors.Is(err, reportstore.ErrNotFound) {
		return merr.NotFound("Event report not found")
	}
	return err
}

func (s *Service) describe(ctx context.Context, r reportstore.Report, withEvent bool) (EventReport, error) {
	out := EventReport{Report: r}
	store := s.Rooms.Store()
	if ev, err := store.EventOnly(ctx, r.EventID); err == nil {
		out.Sender = ev.Sender()
		if withEvent {
			out.EventJSON = ev.JSON()
		}
	} else if !errors.Is(err, merr.ErrNotFound) {
		return out, err
	}
	for typ, dst := range map[string]*string{event.TypeName: &out.Name, event.TypeCanonicalAlias: &out.CanonicalAlias} {
		se, err := store.CurrentStateEvent(ctx, r.RoomID, typ, "")
		if err != nil {
			return out, err
		}
		if se != nil {
			var c map[string]any
			_ = json.Unmarshal(se.Content(), &c)
			key := "name"
			if typ == event.TypeCanonicalAlias {
				key = "alias"
			}
			*dst, _ = c[key].(string)
		}
	}
	return out, nil
}
