package fedqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// DestinationQuery pages through the destinations with recorded state
// (every server we ever delivered to or failed to reach), as Synapse's
// federation admin API lists them.
type DestinationQuery struct {
	// Search keeps destinations whose name contains it, ignoring case
	// (as server names are compared).
	Search string
	// OrderBy is one of DestinationOrders; Descending reverses it.
	OrderBy    string
	Descending bool
	From       int
	Limit      int
}

// DestinationOrders maps Synapse's order_by values to columns.
var DestinationOrders = map[string]string{
	"destination":                     "destination",
	"retry_last_ts":                   "retry_at_ts - retry_interval_ms",
	"retry_interval":                  "retry_interval_ms",
	"failure_ts":                      "failing_since_ts",
	"last_successful_stream_ordering": "last_sent_stream_pos",
}

// ListDestinations returns a page of destinations and how many match.
func (s *Store) ListDestinations(ctx context.Context, q DestinationQuery) ([]Destination, int, error) {
	col, ok := DestinationOrders[q.OrderBy]
	if !ok {
		col = "destination"
	}
	dir := "ASC"
	if q.Descending {
		dir = "DESC"
	}
	where, args := "", []any{}
	if q.Search != "" {
		where, args = `WHERE LOWER(destination) LIKE $1 ESCAPE '!'`, append(args, "%"+sqldb.EscapeLike(strings.ToLower(q.Search))+"%")
	}
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM fedqueue_destinations `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("fedqueue: count destinations: %w", err)
	}
	n := len(args)
	// col comes from DestinationOrders, never from the request.
	rows, err := s.db.Read.QueryContext(ctx, fmt.Sprintf(`SELECT destination, last_sent_stream_pos, last_success_ts, retry_interval_ms,
		retry_at_ts, failing_since_ts FROM fedqueue_destinations %s ORDER BY %s %s, destination %s LIMIT $%d OFFSET $%d`,
		where, col, dir, dir, n+1, n+2), append(args, q.Limit, q.From)...)
	if err != nil {
		return nil, 0, fmt.Errorf("fedqueue: list destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		var d Destination
		if err := rows.Scan(&d.Name, &d.LastSentStreamPos, &d.LastSuccessMS, &d.Retry.IntervalMS, &d.Retry.AtMS, &d.Retry.FailingSinceMS); err != nil {
			return nil, 0, err
		}
		out = append(out, d)
	}
	return out, total, rows.Err()
}

// Known reports whether a destination has recorded state.
func (s *Store) Known(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM fedqueue_destinations WHERE destination = $1`, name).Scan(&n)
	return n > 0, err
}
