// Dehydrated devices (MSC3814) with matrix-js-sdk's Rust crypto, as Element
// uses them: a user with no device logged in still receives room keys, and
// the next login reads them. Run by e2e/js_e2ee_test.go:
//
//   node e2ee_dehydrated.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--deadline SECONDS]
//
// 1. Alice (device A1) sets up cross-signing and secret storage (no key
//    backup: the room keys must come through the dehydrated device), asks
//    whether the server supports dehydration (GET dehydrated_device: 404
//    M_NOT_FOUND) and dehydrates a device: its key goes to secret storage,
//    the device with its keys to PUT dehydrated_device.
// 2. Alice and Bob share an encrypted room; A1 logs out, so Alice has no
//    device logged in but the dehydrated one.
// 3. Bob sends encrypted messages: his client claims a one-time key of the
//    dehydrated device and sends it the room key (to-device, queued).
// 4. Alice logs in a fresh device A2, which cannot decrypt Bob's messages;
//    she enters the recovery key, A2 rehydrates the device (GET
//    dehydrated_device, POST dehydrated_device/{id}/events until an empty
//    page), imports the room keys and decrypts every message; it then
//    uploads a new dehydrated device in place of the old one.
import sdk from "matrix-js-sdk";
import { parseArgs, run, setDeadline, step } from "./common.mjs";
import { encryptedRoom, poll, startCrypto } from "./crypto.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);

const prefix = { prefix: "/_matrix/client/unstable/org.matrix.msc3814.v1" };

let recoveryKey = null;
const cryptoCallbacks = {
  getSecretStorageKey: async ({ keys }) => {
    const keyId = Object.keys(keys)[0];
    return recoveryKey && keyId ? [keyId, recoveryKey.privateKey] : null;
  },
};

async function dehydratedDeviceId(client) {
  const resp = await client.http.authedRequest(sdk.Method.Get, "/dehydrated_device", undefined, undefined, prefix);
  return resp.device_id;
}

async function main() {
  const alice = await startCrypto(args.homeserver, args.user1, args.password1, deadline, { cryptoCallbacks, deviceName: "A1" });
  const bob = await startCrypto(args.homeserver, args.user2, args.password2, deadline);

  // 1. Recovery without a key backup, then dehydration.
  recoveryKey = await alice.getCrypto().createRecoveryKeyFromPassphrase();
  await alice.getCrypto().bootstrapSecretStorage({ createSecretStorageKey: async () => recoveryKey, setupNewKeyBackup: false });
  await poll(() => alice.getCrypto().isSecretStorageReady(), "alice's secret storage to be ready", deadline);
  if (!(await alice.getCrypto().isDehydrationSupported())) {
    throw new Error("matrix-js-sdk says the server does not support dehydrated devices");
  }
  await alice.getCrypto().startDehydration({ createNewKey: true });
  const dehydrated = await dehydratedDeviceId(alice);
  step(`alice dehydrated device ${dehydrated}; its key is in her secret storage`);

  // 2. An encrypted room; Bob's client must know the dehydrated device
  // before he sends, as it learns of any new device of Alice's.
  const roomId = await encryptedRoom(alice, bob, "encrypted room for a dehydrated device", deadline);
  await poll(
    async () => (await bob.getCrypto().getUserDeviceInfo([alice.getUserId()], true)).get(alice.getUserId())?.has(dehydrated),
    "bob's client to know alice's dehydrated device",
    deadline,
  );
  alice.stopClient();
  await alice.logout(true);
  step("alice logged out of her only device; only the dehydrated one is left");

  // 3. Bob writes while Alice is away.
  const sent = [];
  for (const body of ["while you were out", "second message for the dehydrated device"]) {
    const { event_id: id } = await bob.sendTextMessage(roomId, body);
    sent.push({ id, body });
  }
  step(`bob sent ${sent.length} encrypted messages to ${roomId}`);

  // 4. A fresh login rehydrates and decrypts.
  const alice2 = await startCrypto(args.homeserver, args.user1, args.password1, deadline, { cryptoCallbacks, deviceName: "A2" });
  const room = await poll(() => alice2.getRoom(roomId), "A2 to see the room", deadline);
  const events = await poll(() => {
    const found = sent.map(({ id }) => room.findEventById(id));
    return found.every(Boolean) ? found : null;
  }, "A2 to hold bob's messages", deadline);
  for (const ev of events) {
    await alice2.decryptEventIfNeeded(ev);
    if (!ev.isDecryptionFailure()) {
      throw new Error(`A2 decrypted ${ev.getId()} before rehydrating: ${JSON.stringify(ev.getContent())}`);
    }
  }
  step("A2 holds bob's messages and cannot decrypt them yet");

  let completed = false;
  let rehydrationError = null;
  alice2.on(sdk.Crypto.CryptoEvent.RehydrationCompleted, () => (completed = true));
  alice2.on(sdk.Crypto.CryptoEvent.RehydrationError, (msg) => (rehydrationError = msg));
  let roomKeys = 0;
  alice2.on(sdk.Crypto.CryptoEvent.RehydrationProgress, (keys) => (roomKeys = keys));
  await alice2.getCrypto().startDehydration();
  if (rehydrationError || !completed) {
    throw new Error(`rehydration did not complete: ${rehydrationError}`);
  }
  if (roomKeys < 1) {
    throw new Error(`the rehydrated device received ${roomKeys} room keys`);
  }
  step(`A2 rehydrated ${dehydrated} and imported ${roomKeys} room key(s)`);
  for (const [i, ev] of events.entries()) {
    await poll(
      async () => {
        if (ev.isDecryptionFailure()) {
          await ev.attemptDecryption(alice2.getCrypto(), { isRetry: true });
        }
        return !ev.isDecryptionFailure();
      },
      `A2 to decrypt ${ev.getId()} with the rehydrated key`,
      deadline,
    );
    if (ev.getContent().body !== sent[i].body) {
      throw new Error(`A2 decrypted ${ev.getId()} as ${JSON.stringify(ev.getContent())}, want ${JSON.stringify(sent[i].body)}`);
    }
  }
  const replacement = await dehydratedDeviceId(alice2);
  if (replacement === dehydrated) {
    throw new Error(`A2 did not replace the dehydrated device ${dehydrated}`);
  }
  step(`A2 decrypted bob's messages and dehydrated a new device ${replacement}`);

  for (const c of [alice2, bob]) {
    c.stopClient();
  }
  step("done");
}

run(main);
