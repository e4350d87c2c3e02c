// A small bridge on matrix-appservice (the application service framework
// of matrix-appservice-bridge; pinned to 2.0.0, the last release for
// Node.js 20) with matrix-js-sdk as its client (36.2.0, as in e2e/jsclient),
// driving Myelin's Application Service API. Run by
// e2e/appservice_js_test.go, which writes the registration file:
//
//   node bridge.mjs --homeserver URL --port P --hs-token T --as-token T \
//        --bot @bridgebot:hs --puppet @irc_bob:hs \
//        --user @alice:hs --password P [--deadline SECONDS]
//
// The bridge listens for transactions on 127.0.0.1:P, registers its
// puppet (m.login.application_service), which creates a room and invites
// the real user; the real user joins and speaks; the bridge receives the
// message in a transaction and answers as the puppet (masquerading with
// user_id); the real user sees the answer, and the bridge receives the
// real user's typing through ephemeral pushing (MSC2409). Each step prints
// a line; any failure exits non-zero with the reason.
import { AppService } from "matrix-appservice";
import sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("warn");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
}
for (const k of ["homeserver", "port", "hs-token", "as-token", "bot", "puppet", "user", "password"]) {
  if (!args[k]) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
}
const deadline = Number(args.deadline || 90) * 1000;
setTimeout(() => {
  console.error(`gave up after ${deadline / 1000}s`);
  process.exit(1);
}, deadline);

const step = (msg) => console.log(`- ${msg}`);

// The appservice side: transactions arrive here.
const as = new AppService({ homeserverToken: args["hs-token"] });
const seen = []; // [kind, event] in arrival order
const waiters = [];
function record(kind, ev) {
  seen.push([kind, ev]);
  for (const w of waiters.slice()) w();
}
as.on("event", (ev) => record("event", ev));
as.on("ephemeral", (ev) => record("ephemeral", ev));
// received resolves with the first event of kind for which check holds,
// among those already pushed or yet to come.
function received(kind, check, what) {
  return new Promise((resolve) => {
    const tryIt = () => {
      const hit = seen.find(([k, ev]) => k === kind && check(ev));
      if (hit) {
        waiters.splice(waiters.indexOf(tryIt), 1);
        resolve(hit[1]);
      }
    };
    waiters.push(tryIt);
    step(`waiting for ${what}`);
    tryIt();
  });
}
await as.listen(Number(args.port), "127.0.0.1");
step(`appservice listening on 127.0.0.1:${args.port}`);

// The bridge's clients: the bot (sender_localpart) and its puppet, both
// with the as_token; the puppet masquerades through ?user_id= on every
// request (matrix-js-sdk 36 ignores its queryParams option, so the
// client's fetch adds it).
const bot = sdk.createClient({ baseUrl: args.homeserver, accessToken: args["as-token"], userId: args.bot });
const localpart = args.puppet.slice(1, args.puppet.indexOf(":"));
const reg = await bot.http.authedRequest(sdk.Method.Post, "/register", undefined, {
  type: "m.login.application_service",
  username: localpart,
});
if (reg.user_id !== args.puppet) throw new Error(`registered ${reg.user_id}, want ${args.puppet}`);
step(`registered the puppet ${reg.user_id} with m.login.application_service`);

const puppet = sdk.createClient({
  baseUrl: args.homeserver,
  accessToken: args["as-token"],
  userId: args.puppet,
  fetchFn: (url, init) => {
    const u = new URL(url);
    u.searchParams.set("user_id", args.puppet);
    return fetch(u, init);
  },
});
const who = await puppet.whoami();
if (who.user_id !== args.puppet) throw new Error(`whoami as the puppet: ${JSON.stringify(who)}`);
step(`the puppet acts through the as_token: whoami says ${who.user_id}`);

const { room_id: roomId } = await puppet.createRoom({ name: "bridged", invite: [args.user], preset: "private_chat" });
step(`the puppet created ${roomId} and invited ${args.user}`);

// The real user.
const login = await sdk.createClient({ baseUrl: args.homeserver }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: args.user },
  password: args.password,
});
const user = sdk.createClient({
  baseUrl: args.homeserver,
  userId: login.user_id,
  deviceId: login.device_id,
  accessToken: login.access_token,
});
await user.joinRoom(roomId);
step(`${args.user} joined`);
const { event_id: said } = await user.sendTextMessage(roomId, "hello, bridge");
const msg = await received("event", (ev) => ev.event_id === said, "the user's message in a transaction");
if (msg.sender !== args.user || msg.room_id !== roomId || msg.content.body !== "hello, bridge") {
  throw new Error(`the pushed message is not the one sent: ${JSON.stringify(msg)}`);
}
step(`the bridge received "${msg.content.body}" from ${msg.sender}`);

const { event_id: answer } = await puppet.sendTextMessage(roomId, "hello from the other side");
const page = await user.createMessagesRequest(roomId, null, 10, sdk.Direction.Backward);
const got = page.chunk.find((ev) => ev.event_id === answer);
if (!got || got.sender !== args.puppet || got.content.body !== "hello from the other side") {
  throw new Error(`the user does not see the puppet's answer: ${JSON.stringify(page.chunk)}`);
}
step(`${args.user} sees the puppet's answer from ${got.sender}`);
await received("event", (ev) => ev.event_id === answer, "the puppet's own message in a transaction");
step("the bridge received its puppet's message too");

await user.sendTyping(roomId, true, 30000);
const typing = await received(
  "ephemeral",
  (ev) => ev.type === "m.typing" && ev.room_id === roomId && (ev.content.user_ids || []).includes(args.user),
  "the user's typing through ephemeral pushing",
);
step(`the bridge received m.typing ${JSON.stringify(typing.content.user_ids)} in ${typing.room_id}`);

await as.close();
console.log("bridge session complete");
process.exit(0);
