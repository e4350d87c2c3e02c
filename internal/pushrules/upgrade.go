package pushrules

// CopyRoomRules gives newRoom a copy of the user's enabled rules about
// oldRoom, for a room upgrade. The spec leaves this to servers; Synapse
// copies, when the room is upgraded, every enabled rule that names the old
// room (a room rule, whose ID is the room ID, or an override or underride
// rule with a room_id condition on it), under the new room's ID as rule ID
// and with room_id conditions pointing at the new room, as the user's most
// important rule of its kind. A rule already there with that ID is
// replaced. It reports whether anything changed.
func CopyRoomRules(rs *Ruleset, oldRoom, newRoom string) (bool, error) {
	type copied struct {
		kind Kind
		rule NewRule
	}
	var out []copied
	for _, k := range Kinds {
		for _, r := range rs.Rules(k) {
			if r.Default || !r.Enabled {
				continue
			}
			about := k == Room && r.RuleID == oldRoom
			conds := make([]Condition, len(r.Conditions))
			for i, c := range r.Conditions {
				if c.Key == "room_id" && c.Pattern != nil && *c.Pattern == oldRoom {
					about = true
					c.Pattern = &newRoom
				}
				conds[i] = c
			}
			if !about {
				continue
			}
			if r.Conditions == nil {
				conds = nil
			}
			out = append(out, copied{k, NewRule{Actions: append([]Action(nil), r.Actions...), Conditions: conds, Pattern: r.Pattern}})
		}
	}
	for _, c := range out {
		if err := Put(rs, c.kind, newRoom, c.rule, "", ""); err != nil {
			return false, err
		}
	}
	return len(out) > 0, nil
}
