// A user's further devices with matrix-js-sdk's Rust crypto, as Element
// sets them up: recovery (secret storage and server-side key backup), a
// second device that joins the user's cross-signing from secret storage,
// and a fresh login that restores old room keys from the backup. Run by
// e2e/js_e2ee_test.go (one server) and e2e/federation/js_e2ee_test.go (Bob
// on a second server):
//
//   node e2ee_devices.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--homeserver2 URL] [--deadline SECONDS]
//
// 1. Alice (device A1) and Bob set up cross-signing; A1 sets up recovery:
//    a recovery key, secret storage in account data holding the
//    cross-signing keys and the backup key, and a key backup version
//    (POST /room_keys/version).
// 2. Alice and Bob exchange encrypted messages; A1 uploads the room keys
//    to the backup (PUT /room_keys/keys).
// 3. Alice logs in a second device A2 and enters the recovery key: A2
//    imports the cross-signing keys from secret storage and signs itself
//    with the self-signing key (POST /keys/signatures/upload). Bob's client
//    learns of A2 (device_lists.changed, /keys/query) and sees it signed by
//    Alice; A2 decrypts messages Bob and A1 send after it joined.
// 4. Alice logs in a third device A3 with no keys at all, reads the old
//    messages through /messages (undecryptable), enters the recovery key,
//    restores the backup (GET /room_keys/keys) and decrypts them.
import sdk from "matrix-js-sdk";
import { parseArgs, run, setDeadline, step } from "./common.mjs";
import { encryptedRoom, expectBody, poll, startCrypto } from "./crypto.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);

// The recovery key, once A1 has made it: what the user types into each
// new device when it asks for the secret storage key.
let recoveryKey = null;
const cryptoCallbacks = {
  getSecretStorageKey: async ({ keys }) => {
    const keyId = Object.keys(keys)[0];
    return recoveryKey && keyId ? [keyId, recoveryKey.privateKey] : null;
  },
};

// backupCount is the number of room keys the server holds in the current
// backup version (GET /room_keys/version's count).
async function backupCount(client) {
  const info = await client.http.authedRequest(sdk.Method.Get, "/room_keys/version", undefined, undefined, { prefix: sdk.ClientPrefix.V3 });
  return info.count;
}

async function main() {
  const alice = await startCrypto(args.homeserver, args.user1, args.password1, deadline, { cryptoCallbacks, deviceName: "A1" });
  const bob = await startCrypto(args.homeserver2 || args.homeserver, args.user2, args.password2, deadline);

  // 1. Recovery, as Element's "set up recovery" does it.
  recoveryKey = await alice.getCrypto().createRecoveryKeyFromPassphrase();
  await alice.getCrypto().bootstrapSecretStorage({ createSecretStorageKey: async () => recoveryKey, setupNewKeyBackup: true });
  // Readiness is judged from account data, which the client learns back
  // through /sync after writing it: wait for the echo.
  await poll(() => alice.getCrypto().isSecretStorageReady(), "alice's secret storage to be ready after bootstrapSecretStorage", deadline);
  const version = await poll(() => alice.getCrypto().getActiveSessionBackupVersion(), "alice's client to back up to the new backup version", deadline);
  const info = await alice.getCrypto().getKeyBackupInfo();
  if (info?.version !== version || info.algorithm !== "m.megolm_backup.v1.curve25519-aes-sha2") {
    throw new Error(`backup version ${version}, server says ${JSON.stringify(info)}`);
  }
  if (!(await alice.getCrypto().isKeyBackupTrusted(info)).trusted) {
    throw new Error(`alice does not trust her own backup ${JSON.stringify(info)}`);
  }
  step(`alice set up secret storage and key backup version ${version}`);

  // 2. Old messages, both ways; their keys go to the backup.
  const roomId = await encryptedRoom(alice, bob, "encrypted js-sdk room with history", deadline);
  const old = [];
  for (const [from, to, body] of [
    [alice, bob, "old news from alice"],
    [bob, alice, "old news from bob"],
  ]) {
    const { event_id: id } = await from.sendTextMessage(roomId, body);
    await expectBody(to, roomId, id, body, `${to.getUserId()} to decrypt "${body}"`, deadline);
    old.push({ id, body });
  }
  // A1 holds two Megolm sessions (its own and Bob's) and backs up both.
  await poll(async () => (await backupCount(alice)) >= 2, "alice's two room keys in the backup", deadline);
  step(`alice and bob exchanged ${old.length} messages in ${roomId}; their room keys are in alice's backup`);

  // 3. A second device, set up from secret storage.
  const alice2 = await startCrypto(args.homeserver, args.user1, args.password1, deadline, { cryptoCallbacks, deviceName: "A2" });
  const a2 = alice2.getDeviceId();
  // The signature reaches each client's copy of A2's keys through
  // /keys/query after device_lists.changed names alice, A2's own included.
  await poll(
    async () => (await alice2.getCrypto().getDeviceVerificationStatus(alice.getUserId(), a2))?.crossSigningVerified,
    "A2 to see itself cross-signed",
    deadline,
  );
  await poll(
    async () => (await bob.getCrypto().getDeviceVerificationStatus(alice.getUserId(), a2))?.signedByOwner,
    "bob's client to see alice's new device signed by alice",
    deadline,
  );
  await poll(
    async () => (await alice.getCrypto().getDeviceVerificationStatus(alice.getUserId(), a2))?.crossSigningVerified,
    "A1 to see A2 cross-signed",
    deadline,
  );
  step(`alice's second device ${a2} signed itself with her self-signing key; bob and A1 see it signed by alice`);
  for (const [from, body] of [
    [bob, "news for both of alice's devices"],
    [alice, "alice's first device speaking"],
  ]) {
    const { event_id: id } = await from.sendTextMessage(roomId, body);
    await expectBody(alice2, roomId, id, body, `A2 to decrypt "${body}"`, deadline);
  }
  step("A2 decrypted new messages from bob and from A1");

  // 4. A fresh login with no keys reads the old history from /messages.
  // Its first sync holds one event, so the old ones come from paginating.
  const alice3 = await startCrypto(args.homeserver, args.user1, args.password1, deadline, { cryptoCallbacks, deviceName: "A3", initialSyncLimit: 1, crossSigning: false });
  const room = await poll(() => alice3.getRoom(roomId), "A3 to see the room", deadline);
  for (const { id } of old) {
    if (room.findEventById(id)) {
      throw new Error(`A3's initial sync already held ${id}: the test would not read it from /messages`);
    }
  }
  const events = await poll(async () => {
    const found = old.map(({ id }) => room.findEventById(id));
    if (found.every(Boolean)) {
      return found;
    }
    if (room.oldState.paginationToken === null) {
      throw new Error("A3 paginated to the start of the room without finding the old messages");
    }
    await alice3.scrollback(room, 20);
    return null;
  }, "A3 to page back to the old messages", deadline);
  for (const ev of events) {
    await alice3.decryptEventIfNeeded(ev);
    if (!ev.isDecryptionFailure()) {
      throw new Error(`A3 decrypted ${ev.getId()} without the backup: ${JSON.stringify(ev.getContent())}`);
    }
  }
  step(`A3 paged back with /messages to the ${events.length} old messages and cannot decrypt them yet`);

  await alice3.getCrypto().loadSessionBackupPrivateKeyFromSecretStorage();
  const restored = await alice3.getCrypto().restoreKeyBackup();
  if (restored.total < 2 || restored.imported < 2) {
    throw new Error(`A3 restored ${JSON.stringify(restored)} from backup version ${version}, want both room keys`);
  }
  for (const [i, ev] of events.entries()) {
    await poll(
      async () => {
        if (ev.isDecryptionFailure()) {
          await ev.attemptDecryption(alice3.getCrypto(), { isRetry: true });
        }
        return !ev.isDecryptionFailure();
      },
      `A3 to decrypt ${ev.getId()} with the restored key`,
      deadline,
    );
    if (ev.getContent().body !== old[i].body) {
      throw new Error(`A3 decrypted ${ev.getId()} as ${JSON.stringify(ev.getContent())}, want ${JSON.stringify(old[i].body)}`);
    }
  }
  step(`A3 entered the recovery key, restored ${restored.imported} room keys from the backup and decrypted the old history`);

  for (const c of [alice, alice2, alice3, bob]) {
    c.stopClient();
  }
  step("done");
}

run(main);
