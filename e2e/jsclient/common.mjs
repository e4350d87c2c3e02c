// What the matrix-js-sdk scripts share: arguments, step output, a deadline,
// waiting for client events, and logging in as Element does.
import sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("warn");

// parseArgs reads "--name value" pairs and exits if a required one is
// missing.
export function parseArgs(required) {
  const args = {};
  for (let i = 2; i < process.argv.length; i += 2) {
    args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
  }
  for (const k of required) {
    if (!args[k]) {
      console.error(`missing --${k}`);
      process.exit(2);
    }
  }
  return args;
}

// setDeadline ends the process with a failure after seconds, and returns
// the deadline in milliseconds (waitFor's own timeout).
export function setDeadline(seconds) {
  const ms = Number(seconds || 90) * 1000;
  setTimeout(() => {
    console.error(`gave up after ${ms / 1000}s`);
    process.exit(1);
  }, ms).unref();
  return ms;
}

export const step = (msg) => console.log(`- ${msg}`);

// waitFor resolves when check() holds, re-checking on every event of kind
// on emitter and after every sync the client processes (a new room, say,
// announces itself with ClientEvent.Room rather than the room's own events).
export function waitFor(emitter, kind, check, what, timeoutMs) {
  const kinds = kind === sdk.ClientEvent.Sync ? [kind] : [kind, sdk.ClientEvent.Sync, sdk.ClientEvent.Room];
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      for (const k of kinds) emitter.removeListener(k, tryIt);
    };
    const t = setTimeout(() => {
      done();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    function tryIt(...a) {
      let v;
      try {
        v = check(...a);
      } catch (e) {
        done();
        reject(e);
        return;
      }
      if (v) {
        done();
        resolve(v);
      }
    }
    for (const k of kinds) emitter.on(k, tryIt);
    tryIt();
  });
}

// login logs in with a password and returns a client for the new device
// (not started), created with the extra createClient options opts.
export async function login(homeserver, userId, password, deviceName, opts = {}) {
  const c = sdk.createClient({ baseUrl: homeserver });
  const res = await c.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password,
    initial_device_display_name: deviceName,
  });
  return sdk.createClient({ ...opts, baseUrl: homeserver, userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token });
}

// run runs main and exits 0, or 1 with the error.
export function run(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
}
