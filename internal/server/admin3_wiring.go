package server

import "github.com/myelin-chat/myelin/internal/admin"

// historyPurgers are the domains that also forget single events a history
// purge removed: those of the room purgers that can (relations, search,
// notifications). The others keep rows about purged events that do no
// harm: receipts may name an event no longer held, as they may name one
// never received.
func historyPurgers(rps []admin.RoomPurger) []admin.HistoryPurger {
	var out []admin.HistoryPurger
	for _, p := range rps {
		if hp, ok := p.(admin.HistoryPurger); ok {
			out = append(out, hp)
		}
	}
	return out
}
