package clientapi

import (
	"net/http"
)

// specVersions are the client-server API versions advertised on
// /_matrix/client/versions (versions.yaml). The r0 releases are listed
// because older clients look for them before using the r0 prefix, which
// Myelin still serves.
var specVersions = []string{
	"r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
	"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
	"v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19",
}

// versions is GET /_matrix/client/versions. It needs no authentication and
// gives everyone the same answer: no unstable features are offered.
func (a *AccountAPI) versions(w http.ResponseWriter, r *http.Request) {
	writeAccountJSON(w, map[string]any{
		"versions":          specVersions,
		"unstable_features": map[string]bool{},
	})
}
