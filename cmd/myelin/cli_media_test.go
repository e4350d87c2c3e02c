package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// `myelin media purge-remote --before DATE` deletes the cached remote
// media last accessed before DATE, keeps newer copies and local media, and
// draws its progress on stderr.
func TestMediaPurgeRemote_DeletesCachedCopiesOlderThanTheDate(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "homeserver.yaml")
	if code, _, errs := runCLI(t, "", "generate-config", "-H", "example.org", "--config-path", cfgPath,
		"--data-dir", filepath.Join(dir, "data"), "--report-stats=no"); code != 0 {
		t.Fatalf("generate-config: %s", errs)
	}
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: cfg.Database.Args.Database})
	if err != nil {
		t.Fatal(err)
	}
	store, err := mediastore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDisk(cfg.MediaStorePath)
	if err != nil {
		t.Fatal(err)
	}
	const jan2024, jan2026 = 1704067200000, 1767225600000
	rows := []struct {
		origin, id, body string
		access           int64
	}{
		{"remote.example", "old", "old remote", jan2024},
		{"remote.example", "new", "new remote", jan2026},
		{"example.org", "local", "old local", jan2024},
	}
	for _, r := range rows {
		info, err := blobs.Put(ctx, strings.NewReader(r.body), 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.WithTx(ctx, func(tx *sql.Tx) error {
			return store.Insert(ctx, tx, &mediastore.Media{Origin: r.origin, MediaID: r.id, SHA256: info.Key, Size: info.Size,
				CreatedTS: r.access, UploadedTS: r.access, LastAccessTS: r.access})
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	code, out, errs := runCLI(t, "", "media", "purge-remote", "--before", "2025-01-01", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "Purged 1 ") || !strings.Contains(errs, "1/1") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	db, err = sqldb.Open(ctx, sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: cfg.Database.Args.Database})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, _ = mediastore.New(ctx, db)
	for _, r := range rows {
		_, err := store.Get(ctx, r.origin, r.id)
		if gone := err != nil; gone != (r.id == "old") {
			t.Errorf("%s/%s: %v", r.origin, r.id, err)
		}
	}
	if code, _, _ := runCLI(t, "", "media", "purge-remote", "--before", "last tuesday", "-c", cfgPath); code != 1 {
		t.Errorf("a bad date: exit %d", code)
	}
}
