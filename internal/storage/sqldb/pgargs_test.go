package sqldb_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// The args map is Synapse's database.args (Synapse documentation, "Using
// Postgres"), as a YAML decoder hands it over.
func TestPostgresDSNFromArgs_SynapseArgs(t *testing.T) {
	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{
			name: "Synapse documentation example",
			args: map[string]any{
				"user": "synapse_user", "password": "secretpassword", "dbname": "synapse",
				"host": "localhost", "cp_min": 5, "cp_max": 10,
			},
			want: "dbname='synapse' host='localhost' password='secretpassword' user='synapse_user'",
		},
		{
			name: "database is psycopg2's alias for dbname; port may be a number",
			args: map[string]any{"database": "myelin", "host": "db.example.org", "port": 5433, "sslmode": "verify-full"},
			want: "dbname='myelin' host='db.example.org' port='5433' sslmode='verify-full'",
		},
		{
			name: "database and dbname may both be given if they agree",
			args: map[string]any{"database": "m", "dbname": "m"},
			want: "dbname='m'",
		},
		{
			name: "port from JSON arrives as a float",
			args: map[string]any{"dbname": "m", "port": float64(5432)},
			want: "dbname='m' port='5432'",
		},
		{
			name: "Unix socket directory as host",
			args: map[string]any{"dbname": "m", "host": "/var/run/postgresql"},
			want: "dbname='m' host='/var/run/postgresql'",
		},
		{
			name: "libpq keepalives and Twisted's cp_reconnect are accepted and dropped",
			args: map[string]any{"dbname": "m", "keepalives_idle": 10, "keepalives_interval": 10, "keepalives_count": 3, "cp_reconnect": true},
			want: "dbname='m'",
		},
		{
			name: "quotes, backslashes and spaces are escaped",
			args: map[string]any{"dbname": "m", "password": `it's a \ secret`},
			want: `dbname='m' password='it\'s a \\ secret'`,
		},
		{
			name: "empty password stays explicit",
			args: map[string]any{"dbname": "m", "password": ""},
			want: "dbname='m' password=''",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sqldb.PostgresDSNFromArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DSN = %s\n          want %s", got, tt.want)
			}
		})
	}
}

// pgx must read back exactly the values that went in, whatever characters
// they hold.
func TestPostgresDSNFromArgs_RoundTripsThroughPgx(t *testing.T) {
	args := map[string]any{
		"user": "us er", "password": `p'a\ss =word'`, "dbname": "db name",
		"host": "/tmp/sock dir", "port": "6543", "application_name": "myelin-test",
	}
	dsn, err := sqldb.PostgresDSNFromArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgx.ParseConfig(%s): %v", dsn, err)
	}
	if cfg.User != "us er" || cfg.Password != `p'a\ss =word'` || cfg.Database != "db name" ||
		cfg.Host != "/tmp/sock dir" || cfg.Port != 6543 || cfg.RuntimeParams["application_name"] != "myelin-test" {
		t.Errorf("pgx read back user=%q password=%q database=%q host=%q port=%d app=%q",
			cfg.User, cfg.Password, cfg.Database, cfg.Host, cfg.Port, cfg.RuntimeParams["application_name"])
	}
}

func TestPostgresDSNFromArgs_RejectsBadArgs(t *testing.T) {
	tests := []struct {
		name string
		args map[string]any
	}{
		{"no database named", map[string]any{"user": "u", "host": "h"}},
		{"database and dbname disagree", map[string]any{"database": "a", "dbname": "b"}},
		{"unknown arg (typo)", map[string]any{"dbname": "m", "hostname": "h"}},
		{"port out of range", map[string]any{"dbname": "m", "port": 70000}},
		{"port not a number", map[string]any{"dbname": "m", "port": "fivefour"}},
		{"fractional port", map[string]any{"dbname": "m", "port": 5432.5}},
		{"list value", map[string]any{"dbname": "m", "host": []any{"a", "b"}}},
		{"NUL in value", map[string]any{"dbname": "m\x00"}},
		{"cp_max not a number", map[string]any{"dbname": "m", "cp_max": "lots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if dsn, err := sqldb.PostgresDSNFromArgs(tt.args); err == nil {
				t.Errorf("accepted, DSN %s", dsn)
			}
		})
	}
}

func TestPostgresConfigFromArgs_PoolBounds(t *testing.T) {
	cfg, err := sqldb.PostgresConfigFromArgs(map[string]any{"dbname": "m", "cp_min": 3, "cp_max": "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := sqldb.Config{Dialect: sqldb.Postgres, PostgresDSN: "dbname='m'", MaxOpenConns: 7, MaxIdleConns: 3}
	if cfg != want {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
	for _, bad := range []map[string]any{
		{"dbname": "m", "cp_min": 8, "cp_max": 2},
		{"dbname": "m", "cp_max": -1},
	} {
		if _, err := sqldb.PostgresConfigFromArgs(bad); err == nil {
			t.Errorf("PostgresConfigFromArgs(%v) accepted", bad)
		}
	}
}
