package e2e

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// createPostgresDB creates a fresh database on the server adminDSN names,
// drops it when the test ends, and returns a DSN for it.
func createPostgresDB(t testing.TB, adminDSN string) string {
	t.Helper()
	return storagetest.CreatePostgresDatabase(t, adminDSN)
}
