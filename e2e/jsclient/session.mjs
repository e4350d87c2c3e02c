// Drives a Myelin server with matrix-js-sdk, the library Element is built
// on (pinned to 36.2.0, the last release that supports Node.js 20; later
// ones need Node.js 22). Run by e2e/js_test.go:
//
//   node session.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--deadline SECONDS]
//
// Each step prints a line; any failure exits non-zero with the reason.
import sdk from "matrix-js-sdk";
import { login, parseArgs, run, setDeadline, step, waitFor as waitUntil } from "./common.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);
const waitFor = (emitter, kind, check, what) => waitUntil(emitter, kind, check, what, deadline);

async function start(userId, password) {
  const client = await login(args.homeserver, userId, password, "matrix-js-sdk e2e");
  // startClient makes the calls Element makes at start-up (versions,
  // capabilities, push rules, filters) before its first /sync; PREPARED
  // means the first sync was processed. threadSupport as Element enables
  // it: threads come from the server's m.thread relations, /relations and
  // /threads.
  await client.startClient({ initialSyncLimit: 20, threadSupport: true });
  await waitFor(client, sdk.ClientEvent.Sync, () => client.isInitialSyncComplete(), `${userId}'s first sync`);
  step(`${userId} logged in as device ${client.getDeviceId()} and finished its first sync`);
  return client;
}

async function main() {
  const alice = await start(args.user1, args.password1);
  const bob = await start(args.user2, args.password2);

  const rules = alice.pushRules;
  if (!rules || !rules.global || !rules.global.override || !rules.global.override.some((r) => r.rule_id === ".m.rule.master")) {
    throw new Error(`push rules missing after start-up: ${JSON.stringify(rules)}`);
  }
  step("alice's push rules hold the server-default rules");

  const { room_id: roomId } = await alice.createRoom({ name: "js-sdk room", invite: [bob.getUserId()] });
  step(`alice created ${roomId} and invited bob`);
  await waitFor(bob, sdk.RoomEvent.MyMembership, () => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob's invite");
  await bob.joinRoom(roomId);
  step("bob saw the invite in /sync and joined");

  const { event_id: eventId } = await alice.sendTextMessage(roomId, "hello from matrix-js-sdk");
  await waitFor(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(eventId), "bob to see alice's message");
  const seen = bob.getRoom(roomId).findEventById(eventId);
  if (seen.getSender() !== alice.getUserId() || seen.getContent().body !== "hello from matrix-js-sdk") {
    throw new Error(`bob saw ${JSON.stringify(seen.event)}`);
  }
  step("bob received alice's message with the right sender and body");

  // Typing (m.typing in the room's ephemeral section): bob types, alice's
  // client shows him typing, then not once he stops.
  await bob.sendTyping(roomId, true, 30000);
  await waitFor(alice, sdk.RoomMemberEvent.Typing, () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.typing, "alice to see bob typing");
  await bob.sendTyping(roomId, false);
  await waitFor(alice, sdk.RoomMemberEvent.Typing, () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.typing === false, "alice to see bob stop typing");
  step("alice saw bob start and stop typing");

  // Read receipts (m.receipt): alice writes again (after bob's join, which
  // clients count as read by him), bob reads it, and alice's client sees
  // bob's receipt on it.
  const { event_id: laterId } = await alice.sendTextMessage(roomId, "read me");
  await waitFor(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(laterId), "bob to see alice's second message");
  // Unread counts (unread_notifications in /sync): alice's messages count
  // for bob until he reads them.
  const unread = () => bob.getRoom(roomId)?.getUnreadNotificationCount(sdk.NotificationCountType.Total) ?? 0;
  await waitFor(bob, sdk.ClientEvent.Sync, () => unread() > 0, "bob's client to count alice's messages as unread");
  step(`bob's client shows ${unread()} unread notifications`);
  await bob.sendReadReceipt(bob.getRoom(roomId).findEventById(laterId));
  await waitFor(alice, sdk.RoomEvent.Receipt, () => alice.getRoom(roomId)?.getReadReceiptForUserId(bob.getUserId())?.eventId === laterId, "alice to see bob's read receipt");
  step("alice saw bob's read receipt on her message");
  await waitFor(bob, sdk.ClientEvent.Sync, () => unread() === 0, "bob's unread count to drop after reading");
  step("bob's unread count dropped to 0 after his read receipt");

  // Media (content repository): alice uploads an image and sends it; bob
  // downloads it through the authenticated endpoint, as a client that
  // passes useAuthentication (Element does, given /versions v1.11) would.
  const png = Buffer.from(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
      "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201" +
      "a1b1f3c30000000049454e44ae426082",
    "hex",
  );
  const { content_uri: mxc } = await alice.uploadContent(new Blob([png], { type: "image/png" }), { name: "dot.png", type: "image/png" });
  if (!mxc || !mxc.startsWith("mxc://")) {
    throw new Error(`upload answered ${mxc}`);
  }
  const { event_id: imageId } = await alice.sendMessage(roomId, {
    msgtype: "m.image", body: "dot.png", url: mxc, info: { mimetype: "image/png", size: png.length, w: 1, h: 1 },
  });
  await waitFor(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(imageId), "bob to see alice's image");
  const url = bob.mxcUrlToHttp(bob.getRoom(roomId).findEventById(imageId).getContent().url, undefined, undefined, undefined, false, true, true);
  if (!url.includes("/_matrix/client/v1/media/download/")) {
    throw new Error(`not an authenticated media URL: ${url}`);
  }
  const resp = await fetch(url, { headers: { Authorization: `Bearer ${bob.getAccessToken()}` } });
  const got = Buffer.from(await resp.arrayBuffer());
  if (resp.status !== 200 || !got.equals(png) || resp.headers.get("content-type") !== "image/png") {
    throw new Error(`bob's download: ${resp.status} ${resp.headers.get("content-type")} ${got.length} bytes`);
  }
  step("alice uploaded an image and sent it; bob downloaded it through the authenticated media endpoint");

  // Edits (m.replace): alice edits her message; bob's client shows the
  // new content on the original, both from the edit it syncs and from the
  // server's bundled aggregation when it reads the original afresh.
  const { event_id: originalId } = await alice.sendTextMessage(roomId, "I like cake");
  const { event_id: editId } = await alice.sendMessage(roomId, {
    msgtype: "m.text", body: "* I like lemon cake",
    "m.new_content": { msgtype: "m.text", body: "I like lemon cake" },
    "m.relates_to": { rel_type: "m.replace", event_id: originalId },
  });
  await waitFor(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(originalId)?.replacingEventId() === editId, "bob to see alice's edit applied");
  const shown = bob.getRoom(roomId).findEventById(originalId);
  if (shown.getContent().body !== "I like lemon cake") {
    throw new Error(`bob's client shows ${JSON.stringify(shown.getContent())} for the edited message`);
  }
  const fetched = bob.getEventMapper()(await bob.fetchRoomEvent(roomId, originalId));
  if (fetched.replacingEventId() !== editId || fetched.getContent().body !== "I like lemon cake") {
    throw new Error(`the original read afresh is not shown edited: ${JSON.stringify(fetched.getUnsigned())}`);
  }
  step("bob's client shows alice's edit as the message's content, live and from the bundled m.replace");

  // Threads (m.thread): bob replies twice in a thread on alice's message;
  // alice's client holds the thread with both replies, and a client that
  // starts afresh finds it through /threads with its bundled summary.
  const { event_id: rootId } = await alice.sendTextMessage(roomId, "a thread starts here");
  const replies = [];
  for (const body of ["first reply", "second reply"]) {
    const { event_id } = await bob.sendMessage(roomId, rootId, { msgtype: "m.text", body });
    replies.push(event_id);
  }
  const thread = await waitFor(alice, sdk.ThreadEvent.Update, () => {
    const t = alice.getRoom(roomId)?.getThread(rootId);
    return t && t.length === 2 && replies.every((id) => t.findEventById(id)) ? t : null;
  }, "alice's client to hold the thread with both replies");
  if (thread.replyToEvent?.getId() !== replies[1]) {
    throw new Error(`the thread's latest reply is ${thread.replyToEvent?.getId()}, want ${replies[1]}`);
  }
  step(`alice's client holds the thread on ${rootId} with ${thread.length} replies`);
  const fresh = await start(args.user2, args.password2);
  const freshRoom = fresh.getRoom(roomId);
  await freshRoom.createThreadsTimelineSets();
  await freshRoom.fetchRoomThreads();
  const listed = freshRoom.getThread(rootId);
  if (!listed || listed.length !== 2 || !listed.hasCurrentUserParticipated) {
    throw new Error(`a fresh client's thread list: ${listed ? `length ${listed.length}, participated ${listed.hasCurrentUserParticipated}` : "no thread"}`);
  }
  step("a fresh client of bob's found the thread through /threads: 2 replies, bob participated");
  fresh.stopClient();

  alice.stopClient();
  bob.stopClient();
  step("done");
}

run(main);
