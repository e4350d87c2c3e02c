// Package media is the content repository (client-server-api "Content
// repository", server-server-api "Content Repository"): uploads (direct
// and the asynchronous create-then-upload), downloads of our media and of
// other servers' media fetched over federation on demand (one fetch per
// item however many ask at once), cached locally, and the unauthenticated
// endpoints' freeze (enable_authenticated_media). Metadata lives in
// internal/storage/mediastore, content in a blob.Store (internal/media/blob)
// stored once per SHA-256. HTTP is in internal/mediaapi.
//
// # Boundary with thumbnails and URL previews
//
// Thumbnails (internal/media/thumbnail) and URL previews
// (internal/urlpreview) plug in through two interfaces defined here, set
// on Config and wired in internal/server:
//
//   - Thumbnailer makes (or finds) a thumbnail of content this service
//     holds. It gets the source through Service.Open (local or remote,
//     coalesced, size-bounded) and may keep its output in Service.Blobs.
//     Its own metadata may live in new migrations appended to mediastore's
//     domain, or in a store of its own.
//   - Previewer answers GET /preview_url.
//
// mediaapi registers /thumbnail (client v1, deprecated v3, federation
// v1) and /preview_url (client v1, deprecated v3) only when Config
// carries the implementation: until then those paths answer 404
// M_UNRECOGNIZED rather than being half-served. mediaapi parses their
// parameters, opens the source (freeze, timeout_ms, remote fetch) and
// serves the result with the safe headers (mediaapi.SetContentHeaders);
// the implementations only make thumbnails and previews. Remote
// thumbnails are made from the cached remote content.
package media
