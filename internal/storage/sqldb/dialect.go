package sqldb

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect names the SQL engine behind a DB. The zero value is deliberately
// invalid so that a Config whose dialect was never set fails to open rather
// than silently picking a backend.
type Dialect int

const (
	// SQLite is the embedded default (modernc.org/sqlite, no cgo).
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL through pgx's database/sql driver.
	Postgres
)

// String returns "sqlite" or "postgres", the spellings ParseDialect accepts.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return "Dialect(" + strconv.Itoa(int(d)) + ")"
	}
}

// ParseDialect maps a configuration name to a Dialect. Besides "sqlite" and
// "postgres" it accepts the names Synapse's database.name setting uses
// ("sqlite3" and "psycopg2") so that a Synapse configuration carries over.
func ParseDialect(name string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "psycopg2":
		return Postgres, nil
	default:
		return 0, fmt.Errorf("sqldb: unknown database engine %q (want sqlite or postgres)", name)
	}
}

func (d Dialect) valid() bool { return d == SQLite || d == Postgres }

// tokens holds, per dialect, what each {{token}} in a query expands to. It is
// the one place where the two dialects' SQL text differs; see the package
// documentation for when to use each token.
var tokens = map[string][2]string{
	//            SQLite                               Postgres
	"serial_pk":  {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
	"bytes":      {"BLOB", "BYTEA"},
	"greatest":   {"MAX", "GREATEST"},
	"least":      {"MIN", "LEAST"},
	"for_update": {"", "FOR UPDATE"},
	"text_bytes": {"TEXT", `TEXT COLLATE "C"`},
}

// Expand replaces each {{token}} in query with this dialect's spelling of it
// (see the package documentation for the list). Text without "{{" is
// returned unchanged and without allocating, so calling Expand on every
// query is cheap. An unknown token is left in place: "{{" is a syntax error
// in both dialects, so the mistake surfaces as an SQL error naming the token
// the first time a test runs the query, instead of as a panic in production.
func (d Dialect) Expand(query string) string {
	i := strings.Index(query, "{{")
	if i < 0 || !d.valid() {
		return query
	}
	col := 0
	if d == Postgres {
		col = 1
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	for i >= 0 {
		end := strings.Index(query[i+2:], "}}")
		if end < 0 {
			break
		}
		name := query[i+2 : i+2+end]
		spelling, ok := tokens[name]
		if !ok {
			// Keep the unknown token and continue after it.
			b.WriteString(query[:i+2+end+2])
			query = query[i+2+end+2:]
		} else {
			b.WriteString(query[:i])
			b.WriteString(spelling[col])
			query = query[i+2+end+2:]
		}
		i = strings.Index(query, "{{")
	}
	b.WriteString(query)
	return b.String()
}

// PrefixEnd is the upper bound of a range scan over a {{text_bytes}}
// column for the values starting with prefix: prefix <= v < PrefixEnd(prefix)
// holds for every such v (of valid UTF-8), and the range can use the
// column's index on both backends, which LIKE 'p%' cannot.
func PrefixEnd(prefix string) string { return prefix + "\U0010FFFF" }

// Placeholders returns n comma-separated positional parameters starting at
// $start, e.g. Placeholders(3, 2) == "$3, $4". It is for IN lists whose
// length is only known at run time, which both dialects accept in the same
// form (SQLite has no arrays, so "= ANY($1)" is not shared SQL).
func Placeholders(start, n int) string {
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n * 5)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(start + i))
	}
	return b.String()
}

// EscapeLike escapes LIKE's wildcards in s so that it matches itself; the
// query must say ESCAPE '!' (a backslash would need escaping in PostgreSQL
// string literals under some settings, '!' never does).
func EscapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
