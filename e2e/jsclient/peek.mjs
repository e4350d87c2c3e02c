// Room previews with matrix-js-sdk (client-server-api "Room Previews"):
// a user who is not in a world_readable room, and a guest, peek into it
// with client.peekInRoom (GET /rooms/{roomId}/initialSync, then the
// peeking GET /events?room_id= long poll) and see its history and its new
// messages without joining. Run by e2e/js_test.go:
//
//   node peek.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--deadline SECONDS]
import sdk from "matrix-js-sdk";
import { login, parseArgs, run, setDeadline, step, waitFor as waitUntil } from "./common.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);
const waitFor = (emitter, kind, check, what) => waitUntil(emitter, kind, check, what, deadline);

const bodies = (room) => room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);

// peekAndFollow peeks into roomId as client, checks the history it shows,
// then has alice send a message and waits for the peek to deliver it.
async function peekAndFollow(who, client, alice, roomId, history) {
  const room = await client.peekInRoom(roomId);
  if (!bodies(room).includes(history)) {
    throw new Error(`${who}'s peek shows ${JSON.stringify(bodies(room))}, want ${history}`);
  }
  if (room.getMyMembership() === "join") {
    throw new Error(`${who} is joined to the room it only peeks into`);
  }
  step(`${who} peeked into the room and sees its history without joining`);
  const text = `news for ${who}`;
  // The first /events poll starts from "now", so the message is sent once
  // the peek's long poll is waiting: sent again each second until seen.
  const resend = setInterval(() => alice.sendTextMessage(roomId, text).catch(() => {}), 1000);
  try {
    await waitFor(room, sdk.RoomEvent.Timeline, () => bodies(room).includes(text), `${who} to see a new message through /events`);
  } finally {
    clearInterval(resend);
  }
  client.stopPeeking();
  step(`${who} saw alice's new message arrive through the peek`);
}

async function main() {
  const alice = await login(args.homeserver, args.user1, args.password1, "matrix-js-sdk peek");
  const { room_id: roomId } = await alice.createRoom({
    name: "preview me",
    preset: "public_chat",
    initial_state: [
      { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } },
    ],
  });
  await alice.sendTextMessage(roomId, "history anyone may read");
  step(`alice created the world_readable room ${roomId}`);

  const bob = await login(args.homeserver, args.user2, args.password2, "matrix-js-sdk peek");
  await peekAndFollow("bob", bob, alice, roomId, "history anyone may read");

  const anon = sdk.createClient({ baseUrl: args.homeserver });
  const reg = await anon.registerGuest({ body: {} });
  const guest = sdk.createClient({ baseUrl: args.homeserver, userId: reg.user_id, deviceId: reg.device_id, accessToken: reg.access_token });
  guest.setGuest(true);
  await peekAndFollow("a guest", guest, alice, roomId, "history anyone may read");
}

run(main);
