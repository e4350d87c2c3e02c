package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/policyserver"
)

// SignEvent asks the Policy Server cfg.Via to sign ev with POST
// /_matrix/policy/v1/sign (a signed federation request, under the
// client's outbound rules: ip_range_blacklist, federation_domain_whitelist)
// and returns ev with the signature added and verified against the key of
// m.room.policy. It implements rooms.PolicySigner.
func (r *Remote) SignEvent(ctx context.Context, cfg policyserver.Config, ev *event.Event) (*event.Event, error) {
	resp, err := r.Client.Do(ctx, fedclient.Request{Method: http.MethodPost, Destination: cfg.Via,
		Path: policyserver.SignPath, Body: ev.FederationJSON(), MaxResponseBytes: policyserver.MaxResponseBytes})
	if err != nil {
		return nil, policyServerError(cfg.Via, err)
	}
	sig, err := policyserver.ParseSignResponse(resp.Body, cfg.Via)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", merr.New(merr.ErrBadGateway, merr.CodeUnknown,
			"The room's Policy Server "+cfg.Via+" did not answer with its signature"), err)
	}
	signed, err := policyserver.AddSignature(ev, cfg, sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", merr.New(merr.ErrBadGateway, merr.CodeUnknown,
			"The room's Policy Server "+cfg.Via+" signed the event with a key the room does not name"), err)
	}
	return signed, nil
}

// policyServerError is the client's error when the Policy Server did not
// sign. Its own Matrix error goes to the client verbatim, errcode and
// message (server-server-api "Validating Policy Server signatures"), with
// the status it answered when that is one a client understands (400
// M_FORBIDDEN is how it refuses an event; Synapse passes the status on
// too). An answer without a Matrix error, or no answer, is 502 (504 when
// it timed out) naming the Policy Server and why.
func policyServerError(via string, err error) error {
	var fe *fedclient.Error
	if errors.As(err, &fe) {
		if fe.Errcode != "" {
			kind := merr.ErrBadGateway
			switch fe.Status {
			case http.StatusBadRequest:
				kind = merr.ErrBadRequest
			case http.StatusForbidden:
				kind = merr.ErrForbidden
			case http.StatusNotFound:
				kind = merr.ErrNotFound
			case http.StatusTooManyRequests:
				e := merr.LimitExceeded(fe.RetryAfter)
				e.Message = fe.Message
				return fmt.Errorf("%w: %w", e, err)
			}
			return fmt.Errorf("%w: %w", merr.New(kind, fe.Errcode, fe.Message), err)
		}
		return fmt.Errorf("%w: %w", merr.Newf(merr.ErrBadGateway, merr.CodeUnknown,
			"The room's Policy Server %s answered %d", via, fe.Status), err)
	}
	if isOurs(err) {
		return err
	}
	kind := merr.ErrBadGateway
	if fedclient.TimedOut(err) {
		kind = merr.ErrGatewayTimeout
	}
	reason := fedclient.Reason(err)
	if reason == "" {
		reason = "no answer"
	}
	return fmt.Errorf("%w: %w", merr.New(kind, merr.CodeUnknown,
		"The room's Policy Server "+via+" could not be asked to sign the event: "+reason), err)
}
