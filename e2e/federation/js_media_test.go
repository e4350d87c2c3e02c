package fede2e

import "testing"

// Media across two servers as Element uses it: matrix-js-sdk as Alice on
// hs1 uploads an image and sends it with a thumbnail_url; Bob's client on
// hs2 downloads the image and a thumbnail of it through the authenticated
// media endpoints: hs2 fetches the image from hs1 over federation
// (/_matrix/federation/v1/media/download) and makes the thumbnail from its
// cached copy. The steps live in e2e/jsclient/media.mjs.
func TestFederation_JSClientMediaAndThumbnailAcrossServers(t *testing.T) {
	t.Parallel()
	runJSAcrossServers(t, "media.mjs")
}
