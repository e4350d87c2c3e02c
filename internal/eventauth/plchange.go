package eventauth

import (
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// checkPowerLevels is the m.room.power_levels rule (rule 10 in v1–v5 and
// v12, 9 in v6–v11). pl holds the current levels, senderLevel the sender's
// level under them.
//
// The rule applies to every event of the type, as the spec words it. For
// the odd one that is not state, there is no previous event; for one with a
// non-empty state_key, "the previous m.room.power_levels event" is the one
// with the same state_key, as in Synapse (the spec does not say); the
// sender's level still comes from the real power levels.
func checkPowerLevels(ev *event.Event, v *roomversion.Version, state StateLookup, create *event.Event, pl *PowerLevels, senderLevel int64) error {
	next, err := parseLevels(ev.Content(), v, true)
	if err != nil {
		// v10+ rules 1–3 (integers, objects of integers, user ID keys);
		// v1–v9 rule 1 (users) and values that cannot be read at all.
		return reject(malformedLevelsRule(v, err), "invalid power levels: %v", err)
	}
	if v.PrivilegedCreators {
		for _, c := range Creators(create) {
			if _, ok := next.users[c]; ok {
				return reject(ruleNo(v, "powerlevels", "creators"), "room creator %s cannot be given a power level", c)
			}
		}
	}
	prev := pl.content
	if !ev.IsState() {
		return nil // nothing it could replace
	}
	if !ev.StateKeyEquals("") {
		prevEv := state.Get(event.TypePowerLevels, *ev.StateKey())
		if prevEv == nil {
			return nil
		}
		if prev, err = parseLevels(prevEv.Content(), v, false); err != nil {
			return reject(ruleNo(v, "required"), "the previous power levels are unusable: %v", err)
		}
	} else if pl.Event == nil {
		return nil // no previous power levels: anything well-formed goes
	}

	for _, k := range topLevelKeys {
		o, hadOld := prev.top[k]
		n, hasNew := next.top[k]
		if hadOld == hasNew && o == n {
			continue
		}
		if hadOld && o > senderLevel {
			return reject(ruleNo(v, "powerlevels", "toplevel")+".1", "%s is %d, above the sender's %d", k, o, senderLevel)
		}
		if hasNew && n > senderLevel {
			return reject(ruleNo(v, "powerlevels", "toplevel")+".2", "%s would be %d, above the sender's %d", k, n, senderLevel)
		}
	}

	maps := []struct {
		name      string
		old, next map[string]int64
	}{{"events", prev.events, next.events}}
	if v.NotificationsPowerLevels {
		maps = append(maps, struct {
			name      string
			old, next map[string]int64
		}{"notifications", prev.notifications, next.notifications})
	}
	for _, m := range maps {
		err := firstChange(m.old, m.next, func(k string, o int64, hadOld bool, n int64, hasNew bool) error {
			if hadOld && o > senderLevel {
				return reject(ruleNo(v, "powerlevels", "eventsold")+".1", "%s[%q] is %d, above the sender's %d", m.name, k, o, senderLevel)
			}
			if hasNew && n > senderLevel {
				return reject(ruleNo(v, "powerlevels", "eventsnew")+".1", "%s[%q] would be %d, above the sender's %d", m.name, k, n, senderLevel)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	return firstChange(prev.users, next.users, func(u string, o int64, hadOld bool, n int64, hasNew bool) error {
		if hadOld && u != ev.Sender() && o >= senderLevel {
			return reject(ruleNo(v, "powerlevels", "usersold")+".1", "%s has level %d, not below the sender's %d", u, o, senderLevel)
		}
		if hasNew && n > senderLevel {
			return reject(ruleNo(v, "powerlevels", "usersnew")+".1", "%s would get level %d, above the sender's %d", u, n, senderLevel)
		}
		return nil
	})
}

// firstChange calls check for every key added, changed or removed between
// old and next, and returns the error for the smallest failing key, so that
// the result does not depend on map order. It avoids sorting all keys: power
// levels may list thousands of users and usually nothing fails.
func firstChange(old, next map[string]int64, check func(k string, o int64, hadOld bool, n int64, hasNew bool) error) error {
	var firstKey string
	var firstErr error
	try := func(k string, o int64, hadOld bool, n int64, hasNew bool) {
		if hadOld == hasNew && o == n {
			return
		}
		if firstErr != nil && k >= firstKey {
			return
		}
		if err := check(k, o, hadOld, n, hasNew); err != nil {
			firstKey, firstErr = k, err
		}
	}
	for k, o := range old {
		n, hasNew := next[k]
		try(k, o, true, n, hasNew)
	}
	for k, n := range next {
		if _, hadOld := old[k]; !hadOld {
			try(k, 0, false, n, true)
		}
	}
	return firstErr
}

// malformedLevelsRule picks the rule number for a parse failure.
func malformedLevelsRule(v *roomversion.Version, err error) string {
	if !v.IntegerPowerLevels {
		return ruleNo(v, "powerlevels", "users")
	}
	return ruleNo(v, "powerlevels", "ints") + "–3"
}
