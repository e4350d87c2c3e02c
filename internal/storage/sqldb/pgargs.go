package sqldb

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Synapse configures PostgreSQL with a map of connection arguments that it
// hands to psycopg2, which passes libpq keywords through (Synapse
// documentation, "Using Postgres" and the "database" config option). The
// helpers below accept the same map so that an operator's existing
// configuration carries over.

// pgArgDSNKeys are the args that become libpq keywords in the DSN. They are
// the libpq keywords that pgx understands, plus "database", psycopg2's alias
// for dbname.
var pgArgDSNKeys = map[string]bool{
	"host": true, "port": true, "user": true, "password": true,
	"dbname": true, "database": true,
	"sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"connect_timeout": true, "application_name": true, "target_session_attrs": true,
	"options": true, "passfile": true,
}

// pgArgIgnored are args that are valid in a Synapse configuration but have
// no DSN meaning here: cp_min and cp_max size the pool (see
// PostgresConfigFromArgs); cp_reconnect is Twisted's, and database/sql
// already replaces broken connections; the keepalives* keywords are libpq's,
// which pgx does not read (its dialer enables TCP keepalives itself), and
// passing them on would make the server reject them as unknown parameters.
var pgArgIgnored = map[string]bool{
	"cp_min": true, "cp_max": true, "cp_reconnect": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
}

// PostgresDSNFromArgs builds a keyword/value DSN from Synapse-style database
// args: user, password, database or dbname, host (a name, an address or a
// Unix socket directory), port, sslmode and the other libpq keywords pgx
// supports. Values may be strings or, where a number is meant, numbers, as a
// YAML decoder produces them. Unknown args are an error so that a typo does
// not silently connect somewhere else. The output is deterministic (keys in
// sorted order).
func PostgresDSNFromArgs(args map[string]any) (string, error) {
	settings := make(map[string]string, len(args))
	for key, raw := range args {
		switch {
		case key == "cp_min" || key == "cp_max":
			if _, err := argInt(key, raw); err != nil {
				return "", err
			}
			continue
		case pgArgIgnored[key]:
			continue
		case !pgArgDSNKeys[key]:
			return "", fmt.Errorf("sqldb: unknown postgres database arg %q", key)
		}
		val, err := argString(key, raw)
		if err != nil {
			return "", err
		}
		if key == "database" {
			key = "dbname"
		}
		if prev, ok := settings[key]; ok && prev != val {
			return "", fmt.Errorf("sqldb: postgres args name two databases, %q and %q", prev, val)
		}
		settings[key] = val
	}
	if p, ok := settings["port"]; ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("sqldb: postgres arg port %q is not a TCP port", p)
		}
	}
	if _, ok := settings["dbname"]; !ok {
		// libpq would fall back to the user name, which is rarely what an
		// operator meant; Synapse's documentation always names the database.
		return "", fmt.Errorf("sqldb: postgres args must name the database (database or dbname)")
	}

	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quoteDSNValue(settings[k]))
	}
	return b.String(), nil
}

// PostgresConfigFromArgs is PostgresDSNFromArgs plus pool sizes: cp_max
// becomes MaxOpenConns and cp_min MaxIdleConns, the nearest database/sql
// equivalents of Twisted's pool bounds.
func PostgresConfigFromArgs(args map[string]any) (Config, error) {
	dsn, err := PostgresDSNFromArgs(args)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Dialect: Postgres, PostgresDSN: dsn}
	if raw, ok := args["cp_max"]; ok {
		if cfg.MaxOpenConns, err = argInt("cp_max", raw); err != nil {
			return Config{}, err
		}
	}
	if raw, ok := args["cp_min"]; ok {
		if cfg.MaxIdleConns, err = argInt("cp_min", raw); err != nil {
			return Config{}, err
		}
	}
	if cfg.MaxOpenConns < 0 || cfg.MaxIdleConns < 0 {
		return Config{}, fmt.Errorf("sqldb: postgres args cp_min and cp_max must not be negative")
	}
	if cfg.MaxOpenConns > 0 && cfg.MaxIdleConns > cfg.MaxOpenConns {
		return Config{}, fmt.Errorf("sqldb: postgres arg cp_min (%d) exceeds cp_max (%d)", cfg.MaxIdleConns, cfg.MaxOpenConns)
	}
	return cfg, nil
}

// quoteDSNValue quotes a keyword/value DSN value the way libpq reads it:
// inside single quotes, with backslash and single quote escaped by a
// backslash. Quoting always keeps empty values and spaces unambiguous.
func quoteDSNValue(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' || v[i] == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// argString renders a YAML-decoded scalar as libpq expects it.
func argString(key string, raw any) (string, error) {
	var s string
	switch v := raw.(type) {
	case string:
		s = v
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		s = fmt.Sprint(v)
	case float64:
		if v != math.Trunc(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("sqldb: postgres arg %s: %v is not a whole number", key, v)
		}
		s = strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return "", fmt.Errorf("sqldb: postgres arg %s: want a string or number, got %T", key, raw)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("sqldb: postgres arg %s contains a NUL byte", key)
	}
	return s, nil
}

// argInt reads a numeric arg given as a number or a decimal string.
func argInt(key string, raw any) (int, error) {
	s, err := argString(key, raw)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("sqldb: postgres arg %s: %q is not an integer", key, s)
	}
	return n, nil
}
