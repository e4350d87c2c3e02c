package roomversion

import "testing"

// TestFeatureMatrix mirrors the feature matrix in content/rooms/_index.md and
// the "changed in"/"added in" notes of each version page.
func TestFeatureMatrix(t *testing.T) {
	type row struct {
		id                                                   ID
		knock, restricted, knockRestricted, creators, intPLs bool
		stateRes                                             StateResAlgorithm
		redaction                                            RedactionAlgorithm
		format                                               EventFormat
	}
	rows := []row{
		{"1", false, false, false, false, false, StateResV1, RedactionV1, EventFormatV1},
		{"2", false, false, false, false, false, StateResV2, RedactionV1, EventFormatV1},
		{"3", false, false, false, false, false, StateResV2, RedactionV1, EventFormatV3},
		{"4", false, false, false, false, false, StateResV2, RedactionV1, EventFormatV4},
		{"5", false, false, false, false, false, StateResV2, RedactionV1, EventFormatV4},
		{"6", false, false, false, false, false, StateResV2, RedactionV6, EventFormatV4},
		{"7", true, false, false, false, false, StateResV2, RedactionV6, EventFormatV4},
		{"8", true, true, false, false, false, StateResV2, RedactionV6, EventFormatV4},
		{"9", true, true, false, false, false, StateResV2, RedactionV9, EventFormatV4},
		{"10", true, true, true, false, true, StateResV2, RedactionV9, EventFormatV4},
		{"11", true, true, true, false, true, StateResV2, RedactionV11, EventFormatV4},
		{"12", true, true, true, true, true, StateResV21, RedactionV11, EventFormatV4},
	}
	for _, r := range rows {
		v, ok := Get(r.id)
		if !ok {
			t.Fatalf("version %s missing", r.id)
		}
		if v.Knocking != r.knock || v.RestrictedJoins != r.restricted || v.KnockRestricted != r.knockRestricted ||
			v.PrivilegedCreators != r.creators || v.IntegerPowerLevels != r.intPLs ||
			v.StateRes != r.stateRes || v.Redaction != r.redaction || v.EventFormat != r.format {
			t.Errorf("version %s switches = %+v, want %+v", r.id, *v, r)
		}
		if !v.Stable {
			t.Errorf("version %s should be stable", r.id)
		}
	}
	if len(All()) != len(rows) {
		t.Errorf("All() has %d versions, want %d", len(All()), len(rows))
	}
}

func TestSwitchBoundaries(t *testing.T) {
	cases := []struct {
		name  string
		check func(*Version) bool
		from  int // first version (1-based) where the switch is on
		until int // last version where it is on
	}{
		{"redaction auth rule only in v1-v2", func(v *Version) bool { return v.RedactionAuthRule }, 1, 2},
		{"aliases special case until v5", func(v *Version) bool { return v.SpecialCaseAliasesAuth }, 1, 5},
		{"key validity from v5", func(v *Version) bool { return v.EnforceKeyValidity }, 5, 12},
		{"strict canonical JSON from v6", func(v *Version) bool { return v.StrictCanonicalJSON }, 6, 12},
		{"notifications PLs from v6", func(v *Version) bool { return v.NotificationsPowerLevels }, 6, 12},
		{"creator is sender from v11", func(v *Version) bool { return v.CreatorIsSender }, 11, 12},
		{"redacts in content from v11", func(v *Version) bool { return v.RedactsInContent }, 11, 12},
		{"legacy PDU fields until v10", func(v *Version) bool { return v.LegacyPDUFields }, 1, 10},
		{"create cited in auth events until v11", func(v *Version) bool { return v.CreateEventInAuthEvents }, 1, 11},
		{"room ID from create event in v12", func(v *Version) bool { return v.RoomIDFromCreateEvent() }, 12, 12},
	}
	for _, c := range cases {
		for i, v := range All() {
			n := i + 1
			want := n >= c.from && n <= c.until
			if got := c.check(v); got != want {
				t.Errorf("%s: version %s = %v, want %v", c.name, v.ID, got, want)
			}
		}
	}
}

func TestDefaultIsTwelve(t *testing.T) {
	if Default != "12" || !Known(Default) {
		t.Fatalf("default room version must be 12 and known")
	}
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"1", "1.2", "1.2-beta", "com.example.version"} {
		if !ValidID(ok) {
			t.Errorf("%q should be valid", ok)
		}
	}
	for _, bad := range []string{"", "A", "1 2", "x_y", "123456789012345678901234567890123"} {
		if ValidID(bad) {
			t.Errorf("%q should be invalid", bad)
		}
	}
}

func TestAllowsJoinRule(t *testing.T) {
	if MustGet("6").AllowsJoinRule("knock") || !MustGet("7").AllowsJoinRule("knock") {
		t.Error("knock join rule arrives in v7")
	}
	if MustGet("9").AllowsJoinRule("knock_restricted") || !MustGet("10").AllowsJoinRule("knock_restricted") {
		t.Error("knock_restricted arrives in v10")
	}
	if MustGet("12").AllowsJoinRule("private") {
		t.Error("private is not a usable join rule")
	}
}
