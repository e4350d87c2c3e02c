package appservice

import (
	"context"
	"log/slog"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Queries asks appservices about user IDs and room aliases in their
// namespaces that the server does not know (application-service-api.md,
// "Querying"): the appservice may create the entity before it answers,
// and the caller then looks it up again. A nil *Queries asks nobody.
type Queries struct {
	set    *Set
	client *Client
	log    *slog.Logger
}

// NewQueries returns Queries over the set's appservices.
func NewQueries(set *Set, client *Client, log *slog.Logger) *Queries {
	if log == nil {
		log = slog.Default()
	}
	return &Queries{set: set, client: client, log: log}
}

// UserExists asks each appservice interested in userID, in turn, until one
// says it exists. An appservice that fails to answer counts as a no, as in
// Synapse: the lookup the client made then finds nothing.
func (q *Queries) UserExists(ctx context.Context, userID string) bool {
	if q == nil {
		return false
	}
	return q.ask(ctx, q.set.InterestedInUser(userID), "user", userID, q.client.QueryUser)
}

// AliasExists asks each appservice interested in alias, in turn, until one
// says it exists (after creating the room and the alias, usually).
func (q *Queries) AliasExists(ctx context.Context, alias string) bool {
	if q == nil {
		return false
	}
	return q.ask(ctx, q.set.InterestedInAlias(alias), "alias", alias, q.client.QueryAlias)
}

func (q *Queries) ask(ctx context.Context, regs []*Registration, kind, id string,
	query func(context.Context, *Registration, string) (bool, error)) bool {
	for _, r := range regs {
		if r.URL == "" {
			continue
		}
		ok, err := query(ctx, r, id)
		if err != nil {
			q.log.Warn("appservice query failed", "appservice", r.ID, "kind", kind, "id", id, "err", err)
			continue
		}
		if ok {
			return true
		}
	}
	return false
}

// CheckAlias decides whether a client may create or delete alias (the
// spec's "Server admin style permissions"): an appservice (appserviceID
// not "") only in its alias namespaces, anyone else only outside every
// exclusive one. Refusals are 400 M_EXCLUSIVE.
func (s *Set) CheckAlias(alias, appserviceID string) error {
	if appserviceID != "" {
		if r := s.ByID(appserviceID); r != nil && !r.IsInterestedInAlias(alias) {
			return merr.Exclusive("This application service has not reserved this kind of alias")
		}
	}
	if owner := s.ExclusiveOwnerOfAlias(alias); owner != nil && owner.ID != appserviceID {
		return merr.Exclusive("This alias is reserved by an application service")
	}
	return nil
}
