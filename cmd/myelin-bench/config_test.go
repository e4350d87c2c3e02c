package main

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The tool reads Synapse's key names; later keys and later files win, as
// in "myelin serve -c a -c b", and scripts append overrides to a file.
func TestReadServerConfigs(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "server_name: x\nregistration_shared_secret: one\nbcrypt_rounds: 12\nbcrypt_rounds: 4\nmyelin: {log_level: info}\nmyelin: {log_level: warn}\n")
	writeFile(t, dir, "secret.txt", "from-file\n")
	b := writeFile(t, dir, "b.yaml", "registration_shared_secret_path: secret.txt\n")
	empty := writeFile(t, dir, "empty.yaml", "")

	got, err := readServerConfigs([]string{a})
	if err != nil || got.SharedSecret != "one" || got.BcryptRounds != 4 {
		t.Errorf("a: %+v %v", got, err)
	}
	got, err = readServerConfigs([]string{a, b, empty})
	if err != nil || got.SharedSecret != "from-file" || got.BcryptRounds != 4 {
		t.Errorf("a+b: %+v %v", got, err)
	}
	for name, text := range map[string]string{
		"list":       "- a\n- b\n",
		"bad secret": "registration_shared_secret: [1]\n",
		"bad rounds": "bcrypt_rounds: many\n",
		"bad yaml":   "a: [\n",
	} {
		p := writeFile(t, dir, "bad.yaml", text)
		if _, err := readServerConfigs([]string{p}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBcryptLabel(t *testing.T) {
	for _, tc := range []struct {
		have   bool
		rounds int
		want   string
	}{{false, 0, "unknown"}, {true, 0, "12 (default)"}, {true, 4, "4"}} {
		if got := bcryptLabel(tc.have, tc.rounds); got != tc.want {
			t.Errorf("bcryptLabel(%v, %d) = %q, want %q", tc.have, tc.rounds, got, tc.want)
		}
	}
}

func TestParseFlags_PresetsAndOverrides(t *testing.T) {
	o, err := parseFlags([]string{"--preset", "small", "--fanout-users", "3,5", "--send-messages", "7", "--scenario", "fanout,send"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.sz.sendMessages) != 1 || o.sz.sendMessages[0] != 7 || len(o.sz.fanoutUsers) != 2 || o.sz.fanoutUsers[1] != 5 ||
		len(o.sz.regAccounts) != 1 || o.sz.regAccounts[0] != presets["small"].regAccounts[0] {
		t.Errorf("sizes %+v", o.sz)
	}
	names, err := o.selected()
	if err != nil || len(names) != 2 || names[0] != "send" || names[1] != "fanout" {
		t.Errorf("selected %v %v", names, err)
	}
	if n := o.connsNeeded(names); n < 5+1 {
		t.Errorf("connsNeeded = %d", n)
	}
	for _, bad := range [][]string{
		{"--preset", "huge"}, {"--scenario", "nope"}, {"--fanout-users", "0"}, {"--send-messages", "0"},
		{"--register-via", "magic"}, {"extra"},
	} {
		o, err := parseFlags(bad)
		if err == nil {
			_, err = o.selected()
		}
		if err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestParseFlags_EveryScenarioTakesSeveralSizes(t *testing.T) {
	o, err := parseFlags([]string{"--send-messages", "10,100,1000", "--throughput-rooms", "1,10,100",
		"--register-accounts", "5,50,500", "--fanout-users", "10,100,1000", "--initialsync-rooms", "10,100,1000",
		"--joinstorm-users", "10,100,1000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range scenarioNames {
		if jobs := o.jobs(name); len(jobs) != 3 {
			t.Errorf("%s: %d jobs, want one per size", name, len(jobs))
		}
	}
	if _, err := parseFlags([]string{"--throughput-rooms", "10,0"}); err == nil {
		t.Error("a zero size was accepted")
	}
}
