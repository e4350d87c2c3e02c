package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/users"
)

// registerAccountAPI builds the users service and its endpoints, and wires
// its hooks into the room engine: a profile change updates the user's
// membership events, a deactivation makes the user leave every room (and
// runs deactivated, e.g. to delete key backups); and into devices: a
// deleted device's keys and to-device queue go with it, and loginDevice
// refuses logins to a dehydrated device.
func (s *Server) registerAccountAPI(router *httpapi.Router, acct accounts.Store, devices users.DeviceHook, loginDevice users.DeviceGuard,
	registered registerHooks, deactivated deactivateHooks, profile profileHooks) (*clientapi.AccountAPI, error) {
	uo, err := users.OptionsFromConfig(s.Config)
	if err != nil {
		return nil, err
	}
	uo.Now, uo.Logger, uo.Appservices, uo.AppserviceQueries = s.Now, s.Log, s.Appservices, s.appserviceQueries
	svc, err := users.New(acct, uo)
	if err != nil {
		return nil, err
	}
	s.Rooms.SetErasure(svc)
	rh := roomHooks{s.Rooms, acct}
	svc.SetHooks(users.Hooks{Deactivate: append(deactivateHooks{rh}, deactivated...), Profile: append(profileHooks{rh}, profile...),
		Devices: devices, Register: registered, LoginDevice: loginDevice})
	if err := svc.EnsureAppserviceSenders(context.Background()); err != nil {
		return nil, fmt.Errorf("creating the appservices' sender accounts: %w", err)
	}
	ao := clientapi.AccountOptionsFromConfig(s.Config)
	ao.Now, ao.Logger, ao.Limits = s.Now, s.Log, s.Limits
	if ao.Threepids, err = s.buildThreepids(context.Background(), acct); err != nil {
		return nil, err
	}
	api := clientapi.NewAccountAPI(svc, ao)
	api.Register(router)
	return api, nil
}

// runAll calls each hook, all of them even when one fails.
func runAll[H any](hs []H, call func(H) error) error {
	var errs []error
	for _, h := range hs {
		errs = append(errs, call(h))
	}
	return errors.Join(errs...)
}

// deactivateHooks, registerHooks and profileHooks run each of their hooks.
type (
	deactivateHooks []users.DeactivateHook
	registerHooks   []users.RegisterHook
	profileHooks    []users.ProfileHook
)

func (hs deactivateHooks) OnDeactivate(ctx context.Context, userID string) error {
	return runAll(hs, func(h users.DeactivateHook) error { return h.OnDeactivate(ctx, userID) })
}

func (hs registerHooks) OnRegister(ctx context.Context, userID string) error {
	return runAll(hs, func(h users.RegisterHook) error { return h.OnRegister(ctx, userID) })
}

func (hs profileHooks) OnProfileChange(ctx context.Context, userID string) error {
	return runAll(hs, func(h users.ProfileHook) error { return h.OnProfileChange(ctx, userID) })
}

type roomHooks struct {
	engine *rooms.Engine
	acct   accounts.Store
}

// OnDeactivate leaves every room the user is joined to, invited to or
// knocking on (client-server-api "Account deactivation").
func (h roomHooks) OnDeactivate(ctx context.Context, userID string) error {
	ms, err := h.engine.Store().RoomsForUser(ctx, userID, event.Join, event.Invite, event.Knock)
	if err != nil {
		return err
	}
	for _, m := range ms {
		uid := userID
		b := &event.Builder{Type: event.TypeMember, StateKey: &uid, Sender: userID, Content: rooms.Content(map[string]any{"membership": event.Leave})}
		if _, err := h.engine.Send(ctx, m.RoomID, b, nil); err != nil {
			return err
		}
	}
	return nil
}

// OnProfileChange sends a new join event with the new profile to every
// joined room, as Synapse does, so other members see the change; a
// shadow-banned user's change is kept from the rooms, as Synapse does too
// (clientapi/shadowban.go).
func (h roomHooks) OnProfileChange(ctx context.Context, userID string) error {
	u, err := h.acct.GetUser(ctx, userID)
	if err != nil || u.ShadowBanned {
		return err
	}
	ms, err := h.engine.Store().RoomsForUser(ctx, userID, event.Join)
	if err != nil {
		return err
	}
	content := map[string]any{"membership": event.Join}
	if u.DisplayName != "" {
		content["displayname"] = u.DisplayName
	}
	if u.AvatarURL != "" {
		content["avatar_url"] = u.AvatarURL
	}
	for _, m := range ms {
		uid := userID
		b := &event.Builder{Type: event.TypeMember, StateKey: &uid, Sender: userID, Content: rooms.Content(content)}
		if _, err := h.engine.Send(ctx, m.RoomID, b, nil); err != nil {
			return err
		}
	}
	return nil
}
