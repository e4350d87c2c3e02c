// End-to-end encryption with matrix-js-sdk's Rust crypto (the
// matrix-sdk-crypto WebAssembly build Element uses) against Myelin. Run by
// e2e/js_e2ee_test.go:
//
//   node e2ee.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--deadline SECONDS]
//
// Alice and Bob each set up cross-signing; Alice creates an encrypted room
// and invites Bob; Alice's message reaches Bob's device as an Olm-shared
// Megolm session and Bob's client decrypts it; Bob answers and Alice
// decrypts; each sees the other's cross-signing identity. Crypto state is
// kept in memory (no IndexedDB in Node.js).
import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import sdk from "matrix-js-sdk";
import { login, parseArgs, run, setDeadline, step, waitFor } from "./common.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);

async function start(userId, password) {
  const client = await login(args.homeserver, userId, password, "matrix-js-sdk e2ee");
  await client.initRustCrypto({ useIndexedDB: false });
  // initRustCrypto turns the Rust side's tracing on at debug level; the
  // steps below are what this test reports. (The WebAssembly package is
  // matrix-js-sdk's own dependency, pinned by the lock file.)
  new Tracing(LoggerLevel.Warn).turnOn();
  await client.startClient({ initialSyncLimit: 20 });
  await waitFor(client, sdk.ClientEvent.Sync, () => client.isInitialSyncComplete(), `${userId}'s first sync`, deadline);
  // Cross-signing keys, uploaded with the password as user-interactive
  // auth (POST /keys/device_signing/upload, /keys/signatures/upload).
  await client.getCrypto().bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password });
    },
  });
  const status = await client.getCrypto().getCrossSigningStatus();
  if (!status.publicKeysOnDevice || !status.privateKeysCachedLocally.masterKey) {
    throw new Error(`${userId}'s cross-signing did not set up: ${JSON.stringify(status)}`);
  }
  step(`${userId} logged in as ${client.getDeviceId()} with Rust crypto and cross-signing keys`);
  return client;
}

// decrypted waits until client holds the event, decrypted, and returns it.
async function decrypted(client, roomId, eventId, what) {
  const ev = await waitFor(client, sdk.RoomEvent.Timeline, () => client.getRoom(roomId)?.findEventById(eventId), what, deadline);
  if (!ev.isEncrypted()) {
    throw new Error(`${what}: the event is not encrypted: ${JSON.stringify(ev.event)}`);
  }
  await client.decryptEventIfNeeded(ev);
  if (ev.isDecryptionFailure()) {
    throw new Error(`${what}: decryption failed: ${ev.decryptionFailureReason} ${JSON.stringify(ev.getContent())}`);
  }
  return ev;
}

async function main() {
  const alice = await start(args.user1, args.password1);
  const bob = await start(args.user2, args.password2);

  const { room_id: roomId } = await alice.createRoom({
    name: "encrypted js-sdk room",
    invite: [bob.getUserId()],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  });
  await waitFor(bob, sdk.RoomEvent.MyMembership, () => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob's invite", deadline);
  await bob.joinRoom(roomId);
  await waitFor(alice, sdk.RoomStateEvent.Members, () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join", "alice to see bob join", deadline);
  if (!(await alice.getCrypto().isEncryptionEnabledInRoom(roomId))) {
    throw new Error("alice's client does not see the room as encrypted");
  }
  step(`alice created encrypted room ${roomId}; bob joined`);

  // Sending makes alice's client query bob's device keys (/keys/query),
  // claim a one-time key (/keys/claim), and send the room key to his device
  // as an Olm to-device message (/sendToDevice), then the Megolm event.
  const { event_id: secretId } = await alice.sendTextMessage(roomId, "the eagle lands at dawn");
  const seen = await decrypted(bob, roomId, secretId, "bob to decrypt alice's message");
  if (seen.getContent().body !== "the eagle lands at dawn" || seen.getWireType() !== "m.room.encrypted") {
    throw new Error(`bob decrypted ${JSON.stringify(seen.getContent())}`);
  }
  step("bob's client received alice's room key over to-device and decrypted her message");

  const { event_id: replyId } = await bob.sendTextMessage(roomId, "copy that");
  const reply = await decrypted(alice, roomId, replyId, "alice to decrypt bob's reply");
  if (reply.getContent().body !== "copy that") {
    throw new Error(`alice decrypted ${JSON.stringify(reply.getContent())}`);
  }
  step("alice decrypted bob's reply");

  // Each client downloads the other's cross-signing keys (/keys/query's
  // master_keys, self_signing_keys) and sees the other's device signed by
  // them.
  const bobsView = await bob.getCrypto().getUserVerificationStatus(alice.getUserId());
  const alicesDevice = await bob.getCrypto().getDeviceVerificationStatus(alice.getUserId(), alice.getDeviceId());
  if (!bobsView || !alicesDevice || !alicesDevice.signedByOwner) {
    throw new Error(`bob's view of alice: ${JSON.stringify(bobsView)} device ${JSON.stringify(alicesDevice)}`);
  }
  step("bob's client sees alice's device signed by her own cross-signing key");

  alice.stopClient();
  bob.stopClient();
  step("done");
}

run(main);
