// What the end-to-end encryption scripts share: a logged-in client with
// matrix-js-sdk's Rust crypto and cross-signing, waiting for an event to
// arrive decrypted, and polling a condition that no client event announces.
import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import sdk from "matrix-js-sdk";
import { login, step, waitFor } from "./common.mjs";

// startCrypto logs userId in as a new device, starts Rust crypto (state in
// memory: no IndexedDB in Node.js) and the client, waits for the first
// sync, and bootstraps cross-signing: the first device of a user creates
// and uploads the keys with the password as user-interactive auth (POST
// /keys/device_signing/upload, /keys/signatures/upload); a later one, given
// the secret storage key through cryptoCallbacks, imports them from secret
// storage and signs itself.
export async function startCrypto(homeserver, userId, password, deadline, opts = {}) {
  const client = await login(homeserver, userId, password, opts.deviceName || "matrix-js-sdk e2ee", {
    cryptoCallbacks: opts.cryptoCallbacks,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  // initRustCrypto turns the Rust side's tracing on at debug level; the
  // steps are what these tests report. (The WebAssembly package is
  // matrix-js-sdk's own dependency, pinned by the lock file.)
  new Tracing(LoggerLevel.Warn).turnOn();
  await client.startClient({ initialSyncLimit: opts.initialSyncLimit ?? 20 });
  await waitFor(client, sdk.ClientEvent.Sync, () => client.isInitialSyncComplete(), `${userId}'s first sync`, deadline);
  if (opts.crossSigning === false) {
    return client;
  }
  // As Element does before it offers to set up or restore cross-signing:
  // download the user's own keys (POST /keys/query), so that a later
  // device holds the public keys the ones from secret storage must match.
  await client.getCrypto().userHasCrossSigningKeys(userId, true);
  await client.getCrypto().bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password });
    },
  });
  const status = await client.getCrypto().getCrossSigningStatus();
  if (!status.publicKeysOnDevice || !status.privateKeysCachedLocally.masterKey || !status.privateKeysCachedLocally.selfSigningKey) {
    throw new Error(`${userId}'s cross-signing did not set up: ${JSON.stringify(status)}`);
  }
  step(`${userId} logged in on ${homeserver} as ${client.getDeviceId()} with Rust crypto and cross-signing keys`);
  return client;
}

// decrypted waits until client holds the event, decrypted, and returns it.
export async function decrypted(client, roomId, eventId, what, deadline) {
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

// expectBody waits for client to decrypt eventId and checks its body.
export async function expectBody(client, roomId, eventId, body, what, deadline) {
  const ev = await decrypted(client, roomId, eventId, what, deadline);
  if (ev.getContent().body !== body || ev.getWireType() !== "m.room.encrypted") {
    throw new Error(`${what}: decrypted ${ev.getWireType()} ${JSON.stringify(ev.getContent())}, want ${JSON.stringify(body)}`);
  }
  return ev;
}

// poll resolves with check()'s first truthy value, calling it (it may be
// async) every quarter second; it rejects after timeoutMs.
export async function poll(check, what, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// encryptedRoom has owner create a room with encryption on from the start
// and invite guest, who joins; it returns the room ID once owner sees the
// join and both clients treat the room as encrypted.
export async function encryptedRoom(owner, guest, name, deadline) {
  const { room_id: roomId } = await owner.createRoom({
    name,
    invite: [guest.getUserId()],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  });
  await waitFor(guest, sdk.RoomEvent.MyMembership, () => guest.getRoom(roomId)?.getMyMembership() === "invite", `${guest.getUserId()}'s invite`, deadline);
  await guest.joinRoom(roomId);
  await waitFor(owner, sdk.RoomStateEvent.Members, () => owner.getRoom(roomId)?.getMember(guest.getUserId())?.membership === "join", `${owner.getUserId()} to see ${guest.getUserId()} join`, deadline);
  // The crypto side learns of m.room.encryption from the synced state,
  // a moment after the room's own state has it.
  for (const c of [owner, guest]) {
    await poll(() => c.getCrypto().isEncryptionEnabledInRoom(roomId), `${c.getUserId()}'s client to treat ${roomId} as encrypted`, deadline);
  }
  return roomId;
}
