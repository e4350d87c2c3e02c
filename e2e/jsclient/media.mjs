// Media across servers with matrix-js-sdk: Alice (on --homeserver) uploads
// an image and sends it with a thumbnail_url in a room Bob (on
// --homeserver2, else the same server) joins; Bob's client downloads the
// image and a thumbnail of it through the authenticated media endpoints
// (client-server-api "Content repository"): his server fetches the image
// from Alice's over federation and thumbnails its cached copy. Run by
// e2e/federation/js_media_test.go:
//
//   node media.mjs --homeserver URL --user1 @alice:hs1 --password1 P \
//        [--homeserver2 URL] --user2 @bob:hs2 --password2 P [--deadline SECONDS]
import sdk from "matrix-js-sdk";
import { login, parseArgs, run, setDeadline, step, waitFor as waitUntil } from "./common.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);
const waitFor = (emitter, kind, check, what) => waitUntil(emitter, kind, check, what, deadline);

async function start(homeserver, userId, password) {
  const client = await login(homeserver, userId, password, "matrix-js-sdk media e2e");
  await client.startClient({ initialSyncLimit: 20 });
  await waitFor(client, sdk.ClientEvent.Sync, () => client.isInitialSyncComplete(), `${userId}'s first sync`);
  return client;
}

// A 64×48 PNG (RGBA checks), which a 32×32 thumbnail scales down.
const png = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000040000000300806000000a14b7c1f000000" +
  "614944415478daedd8b10d003008034146cba8d9940c4111215ff1b5c595549ddb937ad8" +
  "f77d000000000000000000000000000000201060fd01d300000000000000000000000000" +
  "00008040001f21000000000000000000000000000000200ee001a9c96fa5666525b10000" +
  "000049454e44ae426082",
  "hex",
);
const pngMagic = png.subarray(0, 8);

// fetchAs GETs url with client's access token, as a client passing
// useAuthentication does.
async function fetchAs(client, url) {
  const resp = await fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
  return { resp, body: Buffer.from(await resp.arrayBuffer()) };
}

async function main() {
  const alice = await start(args.homeserver, args.user1, args.password1);
  const bob = await start(args.homeserver2 || args.homeserver, args.user2, args.password2);
  step(`alice (${alice.getUserId()}) and bob (${bob.getUserId()}) logged in`);

  const { room_id: roomId } = await alice.createRoom({ name: "js-sdk media room", invite: [bob.getUserId()] });
  await waitFor(bob, sdk.RoomEvent.MyMembership, () => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob's invite");
  await bob.joinRoom(roomId);
  step("bob joined alice's room");

  const { content_uri: mxc } = await alice.uploadContent(new Blob([png], { type: "image/png" }), { name: "checks.png", type: "image/png" });
  if (!mxc || !mxc.startsWith("mxc://")) {
    throw new Error(`upload answered ${mxc}`);
  }
  const { event_id: imageId } = await alice.sendMessage(roomId, {
    msgtype: "m.image", body: "checks.png", url: mxc,
    info: { mimetype: "image/png", size: png.length, w: 64, h: 48, thumbnail_url: mxc, thumbnail_info: { mimetype: "image/png", w: 64, h: 48 } },
  });
  await waitFor(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(imageId), "bob to see alice's image");
  step(`alice uploaded ${mxc} and sent it; bob's client has the event`);

  const content = bob.getRoom(roomId).findEventById(imageId).getContent();
  const download = bob.mxcUrlToHttp(content.url, undefined, undefined, undefined, false, true, true);
  if (!download.includes("/_matrix/client/v1/media/download/")) {
    throw new Error(`not an authenticated media URL: ${download}`);
  }
  let { resp, body } = await fetchAs(bob, download);
  if (resp.status !== 200 || !body.equals(png) || resp.headers.get("content-type") !== "image/png") {
    throw new Error(`bob's download: ${resp.status} ${resp.headers.get("content-type")} ${body.length} bytes`);
  }
  step("bob downloaded the image through his server");

  // What Element shows in the timeline: a thumbnail of thumbnail_url, by
  // scaling, from the authenticated endpoint.
  const thumb = bob.mxcUrlToHttp(content.info.thumbnail_url, 32, 32, "scale", false, true, true);
  if (!thumb.includes("/_matrix/client/v1/media/thumbnail/")) {
    throw new Error(`not an authenticated thumbnail URL: ${thumb}`);
  }
  ({ resp, body } = await fetchAs(bob, thumb));
  if (resp.status !== 200 || resp.headers.get("content-type") !== "image/png" || !body.subarray(0, 8).equals(pngMagic)) {
    throw new Error(`bob's thumbnail: ${resp.status} ${resp.headers.get("content-type")} ${body.length} bytes`);
  }
  step(`bob got a ${body.length}-byte PNG thumbnail of it through his server`);

  alice.stopClient();
  bob.stopClient();
}

run(main);
