package sqldb_test

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

func TestExpand_TokensPerDialect(t *testing.T) {
	tests := []struct {
		name, query, sqlite, postgres string
	}{
		{"no tokens is unchanged", "SELECT $1", "SELECT $1", "SELECT $1"},
		{"serial primary key",
			"CREATE TABLE t (id {{serial_pk}}, b {{bytes}})",
			"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB)",
			"CREATE TABLE t (id BIGSERIAL PRIMARY KEY, b BYTEA)"},
		{"greatest and least",
			"SET a = {{greatest}}(a, excluded.a), b = {{least}}(b, excluded.b)",
			"SET a = MAX(a, excluded.a), b = MIN(b, excluded.b)",
			"SET a = GREATEST(a, excluded.a), b = LEAST(b, excluded.b)"},
		{"for update vanishes on sqlite",
			"SELECT x FROM t WHERE k = $1 {{for_update}}",
			"SELECT x FROM t WHERE k = $1 ",
			"SELECT x FROM t WHERE k = $1 FOR UPDATE"},
		{"text sorted by bytes",
			"CREATE TABLE t (w {{text_bytes}})",
			"CREATE TABLE t (w TEXT)",
			`CREATE TABLE t (w TEXT COLLATE "C")`},
		{"unknown token is kept so the database reports it",
			"SELECT {{nope}}, {{bytes}}",
			"SELECT {{nope}}, BLOB",
			"SELECT {{nope}}, BYTEA"},
		{"unterminated token is kept", "SELECT {{bytes", "SELECT {{bytes", "SELECT {{bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sqldb.SQLite.Expand(tt.query); got != tt.sqlite {
				t.Errorf("SQLite.Expand(%q) = %q, want %q", tt.query, got, tt.sqlite)
			}
			if got := sqldb.Postgres.Expand(tt.query); got != tt.postgres {
				t.Errorf("Postgres.Expand(%q) = %q, want %q", tt.query, got, tt.postgres)
			}
		})
	}
}

func TestPlaceholders_NumbersFromStart(t *testing.T) {
	tests := []struct {
		start, n int
		want     string
	}{
		{1, 0, ""},
		{1, 1, "$1"},
		{3, 3, "$3, $4, $5"},
	}
	for _, tt := range tests {
		if got := sqldb.Placeholders(tt.start, tt.n); got != tt.want {
			t.Errorf("Placeholders(%d, %d) = %q, want %q", tt.start, tt.n, got, tt.want)
		}
	}
}

func TestParseDialect_AcceptsSynapseNames(t *testing.T) {
	tests := []struct {
		in      string
		want    sqldb.Dialect
		wantErr bool
	}{
		{"sqlite", sqldb.SQLite, false},
		{"sqlite3", sqldb.SQLite, false}, // Synapse: database.name
		{"postgres", sqldb.Postgres, false},
		{"PostgreSQL", sqldb.Postgres, false},
		{"psycopg2", sqldb.Postgres, false}, // Synapse: database.name
		{"mysql", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := sqldb.ParseDialect(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDialect(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, d := range []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres} {
		if back, err := sqldb.ParseDialect(d.String()); err != nil || back != d {
			t.Errorf("ParseDialect(%v.String()) = %v, %v", d, back, err)
		}
	}
}
