package invitepermission

import "testing"

// The schema of m.invite_permission_config: only default_action "block"
// blocks; "A missing, invalid or unsupported value means that the user
// wants to receive invites as normal".
func TestBlocks_OnlyTheExactBlockValueBlocks(t *testing.T) {
	for content, want := range map[string]bool{
		`{"default_action":"block"}`:           true,
		`{"default_action":"block","x":1}`:     true,
		`{}`:                                   false,
		`{"default_action":"allow"}`:           false,
		`{"default_action":"Block"}`:           false,
		`{"default_action":["block"]}`:         false,
		`{"default_action":null}`:              false,
		`not json`:                             false,
		`{"default_action":"block"`:            false,
		`{"default_action":"block\u0000"}`:     false,
		`{"default_action":{"block":"block"}}`: false,
	} {
		if got := Blocks([]byte(content)); got != want {
			t.Errorf("Blocks(%s) = %v, want %v", content, got, want)
		}
	}
}

// A nil checker, or one without account data, blocks nothing.
func TestChecker_NilBlocksNothing(t *testing.T) {
	var c *Checker
	if err := c.Check(t.Context(), "@a:b"); err != nil {
		t.Errorf("nil checker: %v", err)
	}
}
