// Package server wires Myelin together from its configuration: storage,
// the room engine, the APIs and the listeners, with graceful shutdown.
// Tests build the same Server with a real database in a temporary directory.
package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/myelin-chat/myelin/internal/admin"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/bgupdates"
	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/keyfile"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/presence"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/searchstore"
	"github.com/myelin-chat/myelin/internal/storage/servermeta"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/tpinvite"
)

// Server is one running homeserver process.
type Server struct {
	Config  *config.Config
	Log     *slog.Logger
	DB      *sqldb.DB
	Key     signing.SigningKey
	Rooms   *rooms.Engine
	Syncer  *syncapi.Syncer
	Metrics *prometheus.Registry
	Client  http.Handler // client-server API, well-known, health
	// Federation serves /_matrix/federation and /_matrix/key.
	Federation http.Handler
	Sender     *sender.Sender
	fedAPI     *federationapi.API
	// tpInvites serves third-party invites (tpinvite_wiring.go).
	tpInvites *tpinvite.Service
	// presence is the presence service, once buildEphemeral made it.
	presence *presence.Service
	outbox   *outbox
	Now      func() time.Time
	// Limits applies the rc_* rate limits, shared by every API.
	Limits *ratelimit.Limiter
	// Media is the content repository.
	Media *media.Service
	// bgUpdates tracks the background updates (index backfills).
	bgUpdates *bgupdates.Registry
	// mediaStore holds the media metadata (media_wiring.go).
	mediaStore *mediastore.Store
	// searchIndex is the full-text index of room events (search_wiring.go).
	searchIndex *searchstore.Store
	// roomPurgers remove the domains' data of a room an admin deletes;
	// each domain's wiring adds its store.
	roomPurgers []admin.RoomPurger
	// Appservices are the registered application services (never nil
	// after New; it may be empty), AppserviceClient makes requests to them.
	Appservices       *appservice.Set
	AppserviceClient  *appservice.Client
	appserviceQueries *appservice.Queries
	closeFns          []func()
	// fedAdmin serves the federation admin API (federation_wiring.go).
	fedAdmin *admin.Federation
}

// New builds a server from a loaded configuration: opens and migrates the
// database, loads the signing key and builds every service.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{Config: cfg, Log: log, Now: time.Now, Metrics: prometheus.NewRegistry()}
	s.bgUpdates = bgupdates.New(func() time.Time { return s.Now() })
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	if err := s.loadAppservices(); err != nil {
		return nil, err
	}
	key, err := loadSigningKey(cfg.SigningKeyPath)
	if err != nil {
		return nil, err
	}
	s.Key = key

	dbCfg, err := DatabaseConfig(cfg)
	if err != nil {
		return nil, err
	}
	if s.DB, err = sqldb.Open(ctx, dbCfg); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	s.closeFns = append(s.closeFns, func() { _ = s.DB.Close() })

	applyMemoryLimit(cfg.Myelin.MemoryLimit, log)
	roomStore, err := roomstore.New(ctx, s.DB)
	if err != nil {
		return nil, fmt.Errorf("database migrations (rooms): %w", err)
	}
	if cfg.ForgetRoomsOnLeave {
		roomStore.ForgetOnLeave(cfg.ServerName)
	}
	// Before anything writes: indexers see every event from here on.
	if err := s.buildSearchIndex(ctx, roomStore); err != nil {
		return nil, fmt.Errorf("database migrations (search): %w", err)
	}
	if err := s.buildServices(ctx, roomStore); err != nil {
		return nil, err
	}
	// After every domain's migrations, so that a database from before the
	// name was recorded can be judged by its accounts.
	if err := servermeta.CheckServerName(ctx, s.DB, cfg.ServerName); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	ok = true
	return s, nil
}

// Close releases everything the server holds.
func (s *Server) Close() {
	for i := len(s.closeFns) - 1; i >= 0; i-- {
		s.closeFns[i]()
	}
	s.closeFns = nil
}

func loadSigningKey(path string) (signing.SigningKey, error) {
	keys, err := keyfile.ReadFile(path)
	if err != nil {
		return signing.SigningKey{}, fmt.Errorf("signing_key_path %s: %w (run `myelin generate-config` to create one)", path, err)
	}
	if len(keys) == 0 {
		return signing.SigningKey{}, fmt.Errorf("signing_key_path %s holds no key", path)
	}
	return signing.NewSigningKey(keys[0].Version, keys[0].Seed)
}

// DatabaseConfig is how the server opens the configuration's database
// (also for the myelin CLI's admin commands).
func DatabaseConfig(cfg *config.Config) (sqldb.Config, error) {
	switch cfg.Database.Name {
	case config.SQLite:
		return sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: cfg.Database.Args.Database}, nil
	case config.Postgres:
		return sqldb.Config{Dialect: sqldb.Postgres, PostgresDSN: cfg.Database.PostgresConnString(),
			MaxOpenConns: cfg.Database.Args.CPMax, MaxIdleConns: cfg.Database.Args.CPMin}, nil
	}
	return sqldb.Config{}, errors.New("database.name must be sqlite3 or psycopg2")
}

// maxStreamPos is where the shared stream resumes after a restart: the
// highest position any stream table holds.
func maxStreamPos(ctx context.Context, fns ...func(context.Context) (int64, error)) (int64, error) {
	var top int64
	for _, f := range fns {
		n, err := f(ctx)
		if err != nil {
			return 0, err
		}
		top = max(top, n)
	}
	return top, nil
}
