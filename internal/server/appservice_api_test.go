package server_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A registration that fails its checks stops the start and names its file
// (application-service-api.md, Registration: ids and as_tokens "MUST be
// unique ... The homeserver MUST enforce this").
func TestAppservice_BadRegistrationStopsStart(t *testing.T) {
	dir := t.TempDir()
	reg := "id: bridge\nurl: null\nas_token: same\nhs_token: other\nsender_localpart: bot\n"
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(reg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := servertest.WriteConfig(t, dir, storagetest.NewSQLite(t), servertest.Options{
		ExtraYAML: "app_service_config_files: [a.yaml, b.yaml]\n"})
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		s.Close()
		t.Fatal("the server started with two appservices of the same id")
	}
	if msg := err.Error(); !strings.Contains(msg, "app_service_config_files") || !strings.Contains(msg, "b.yaml") || !strings.Contains(msg, `both have id "bridge"`) {
		t.Errorf("error %q should name the key, the file and the clash", msg)
	}
}
