// End-to-end encryption with matrix-js-sdk's Rust crypto (the
// matrix-sdk-crypto WebAssembly build Element uses) against Myelin. Run by
// e2e/js_e2ee_test.go (one server) and e2e/federation/js_e2ee_test.go (Bob
// on a second server):
//
//   node e2ee.mjs --homeserver URL --user1 @alice:hs --password1 P \
//        --user2 @bob:hs --password2 P [--homeserver2 URL] [--deadline SECONDS]
//
// Alice and Bob each set up cross-signing; Alice creates an encrypted room
// and invites Bob; every message each sends reaches the other as a Megolm
// event whose room key came over Olm to-device, and is decrypted; each sees
// the other's device signed by its owner's cross-signing key.
import { parseArgs, run, setDeadline, step } from "./common.mjs";
import { encryptedRoom, expectBody, startCrypto } from "./crypto.mjs";

const args = parseArgs(["homeserver", "user1", "password1", "user2", "password2"]);
const deadline = setDeadline(args.deadline);

async function main() {
  const alice = await startCrypto(args.homeserver, args.user1, args.password1, deadline);
  const bob = await startCrypto(args.homeserver2 || args.homeserver, args.user2, args.password2, deadline);

  const roomId = await encryptedRoom(alice, bob, "encrypted js-sdk room", deadline);
  step(`alice created encrypted room ${roomId}; bob joined`);

  // The first message makes alice's client query bob's device keys
  // (/keys/query), claim a one-time key (/keys/claim), and send the room
  // key to his device as an Olm to-device message (/sendToDevice), then
  // the Megolm event; bob's first answer does the same the other way.
  // Later ones reuse the sessions. Every message is checked, both ways.
  const exchange = [
    [alice, bob, "the eagle lands at dawn"],
    [bob, alice, "copy that"],
    [alice, bob, "bring the blue folder"],
    [alice, bob, "and an umbrella"],
    [bob, alice, "blue folder, umbrella: understood"],
    [bob, alice, "see you there"],
  ];
  for (const [from, to, body] of exchange) {
    const { event_id: id } = await from.sendTextMessage(roomId, body);
    await expectBody(to, roomId, id, body, `${to.getUserId()} to decrypt ${from.getUserId()}'s "${body}"`, deadline);
  }
  step(`each decrypted every one of the other's ${exchange.length} messages`);

  // Each client downloads the other's cross-signing keys (/keys/query's
  // master_keys, self_signing_keys) and sees the other's device signed by
  // them.
  for (const [viewer, owner] of [
    [bob, alice],
    [alice, bob],
  ]) {
    const identity = await viewer.getCrypto().getUserVerificationStatus(owner.getUserId());
    const device = await viewer.getCrypto().getDeviceVerificationStatus(owner.getUserId(), owner.getDeviceId());
    if (!identity || !device || !device.signedByOwner) {
      throw new Error(`${viewer.getUserId()}'s view of ${owner.getUserId()}: ${JSON.stringify(identity)} device ${JSON.stringify(device)}`);
    }
  }
  step("each client sees the other's device signed by its owner's cross-signing key");

  alice.stopClient();
  bob.stopClient();
  step("done");
}

run(main);
