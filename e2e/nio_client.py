#!/usr/bin/env python3
"""Drive a Myelin homeserver with matrix-nio, a Matrix client library
written elsewhere (Debian's python3-matrix-nio), end to end.

Run by e2e/nio_test.go against a server it started:

    nio_client.py --homeserver http://127.0.0.1:PORT \
        --register alice --register-password PW \
        --login bob --login-password PW2

The first user registers through /register (m.login.dummy, which needs a
server with open registration); the second already exists (created with
"myelin register-user") and logs in with a password. Then: both set display
names, the first creates a room and invites the second, who joins through
the invite seen in /sync; each sends a message and sees the other's in
/sync with the right sender and display name; the second leaves, the first
sees that, and leaves too.

Every step prints a line; a failure prints what was expected, what came
back (status and Matrix error) and the state seen so far, and exits 1.
Exit status 3 means matrix-nio is not importable.
"""

import argparse
import asyncio
import sys
import time

try:
    import nio
except ImportError as exc:  # reported by the Go test as "not installed"
    print(f"nio_client: cannot import matrix-nio ({exc}); "
          f"install Debian's python3-matrix-nio (python: {sys.executable})", file=sys.stderr)
    sys.exit(3)

T0 = time.monotonic()


def log(msg):
    print(f"[nio {time.monotonic() - T0:6.2f}s] {msg}", flush=True)


class Failure(Exception):
    pass


def describe(resp):
    """A one-line account of a nio response, errors in full."""
    if isinstance(resp, nio.ErrorResponse):
        status = getattr(resp, "status_code", None)
        transport = getattr(resp, "transport_response", None)
        http_status = getattr(transport, "status", None)
        return (f"{type(resp).__name__}(http={http_status}, errcode={status!r}, "
                f"message={getattr(resp, 'message', None)!r})")
    return f"{type(resp).__name__}"


def expect(resp, cls, what):
    if not isinstance(resp, cls):
        raise Failure(f"{what}: expected {cls.__name__}, got {describe(resp)}")
    return resp


class Session:
    """One nio client plus what its syncs have shown."""

    def __init__(self, homeserver, label, user=""):
        self.label = label
        self.client = nio.AsyncClient(homeserver, user)
        self.messages = []  # (room_id, event_id, sender, body, sender display name)
        self.left_rooms = set()
        self.typing = {}  # room_id -> the user IDs of the latest m.typing
        self.receipts = set()  # (room_id, event_id, receipt type, user_id)
        self.fully_read = {}  # room_id -> event ID of the m.fully_read marker
        self.client.add_event_callback(self._on_message, nio.RoomMessageText)
        self.client.add_ephemeral_callback(self._on_ephemeral, (nio.TypingNoticeEvent, nio.ReceiptEvent))
        self.client.add_room_account_data_callback(self._on_fully_read, nio.FullyReadEvent)

    async def _on_message(self, room, event):
        name = room.user_name(event.sender)
        self.messages.append((room.room_id, event.event_id, event.sender, event.body, name))
        log(f"{self.label} saw in {room.room_id}: {event.sender} ({name!r}): {event.body!r}")

    async def _on_ephemeral(self, room, event):
        if isinstance(event, nio.TypingNoticeEvent):
            self.typing[room.room_id] = list(event.users)
            log(f"{self.label} saw typing in {room.room_id}: {event.users}")
        else:
            for r in event.receipts:
                self.receipts.add((room.room_id, r.event_id, r.receipt_type, r.user_id))
                log(f"{self.label} saw a receipt in {room.room_id}: {r.user_id} {r.receipt_type} {r.event_id}")

    async def _on_fully_read(self, room, event):
        self.fully_read[room.room_id] = event.event_id
        log(f"{self.label} saw its fully read marker in {room.room_id} at {event.event_id}")

    async def sync_until(self, what, pred, deadline):
        """Sync (long-polling up to 2 s at a time) until pred() holds."""
        while not pred():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"{self.label}: gave up waiting for {what} (deadline reached); "
                              f"next_batch={self.client.next_batch!r}, "
                              f"joined rooms={sorted(self.client.rooms)}, "
                              f"invited rooms={sorted(self.client.invited_rooms)}, "
                              f"messages seen={self.messages}")
            timeout_ms = int(min(2.0, remaining) * 1000)
            resp = await self.client.sync(timeout=timeout_ms)
            expect(resp, nio.SyncResponse, f"{self.label} GET /sync")
            # nio 0.20 keeps no state for left rooms; note them here.
            self.left_rooms.update(resp.rooms.leave.keys())
        log(f"{self.label}: {what}")

    async def close(self):
        await self.client.close()


async def run(args):
    deadline = time.monotonic() + args.deadline
    a = Session(args.homeserver, "A")
    b = Session(args.homeserver, "B", args.login)
    try:
        resp = await a.client.register(args.register, args.register_password, device_name="nio e2e A")
        expect(resp, nio.RegisterResponse, f"A registers {args.register!r} (POST /register, m.login.dummy)")
        log(f"A registered as {resp.user_id} (device {resp.device_id})")

        resp = await b.client.login(args.login_password, device_name="nio e2e B")
        expect(resp, nio.LoginResponse, f"B logs in as {args.login!r} (POST /login, m.login.password)")
        log(f"B logged in as {resp.user_id} (device {resp.device_id})")
        a_id, b_id = a.client.user_id, b.client.user_id

        a_name, b_name = "Alice via nio", "Bob via nio"
        expect(await a.client.set_displayname(a_name), nio.ProfileSetDisplayNameResponse, "A sets a display name")
        expect(await b.client.set_displayname(b_name), nio.ProfileSetDisplayNameResponse, "B sets a display name")
        resp = expect(await a.client.get_displayname(b_id), nio.ProfileGetDisplayNameResponse,
                      "A reads B's display name (GET /profile/{userId}/displayname)")
        if resp.displayname != b_name:
            raise Failure(f"A reads B's display name: got {resp.displayname!r}, want {b_name!r}")
        log("display names set and readable")

        resp = expect(await a.client.room_create(name="nio e2e room", topic="driven by matrix-nio"),
                      nio.RoomCreateResponse, "A creates a room")
        room_id = resp.room_id
        log(f"A created {room_id}")
        expect(await a.client.room_invite(room_id, b_id), nio.RoomInviteResponse, f"A invites {b_id}")

        await b.sync_until(f"the invite to {room_id} arrives in B's sync",
                           lambda: room_id in b.client.invited_rooms, deadline)
        invited = b.client.invited_rooms[room_id]
        if getattr(invited, "inviter", None) not in (None, a_id):
            raise Failure(f"B's invite names inviter {invited.inviter!r}, want {a_id!r}")
        expect(await b.client.join(room_id), nio.JoinResponse, f"B joins {room_id}")
        await b.sync_until(f"B sees itself joined to {room_id}", lambda: room_id in b.client.rooms, deadline)

        def joined(sess, room, uid):
            r = sess.client.rooms.get(room)
            return r is not None and uid in r.users and not r.users[uid].invited

        await a.sync_until(f"A sees B joined to {room_id}", lambda: joined(a, room_id, b_id), deadline)

        a_text, b_text = "Hello Bob, this is Alice (nio)", "Hi Alice, Bob here (nio)"
        resp = expect(await a.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": a_text}),
                      nio.RoomSendResponse, "A sends a message")
        a_event = resp.event_id
        resp = expect(await b.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": b_text}),
                      nio.RoomSendResponse, "B sends a message")
        b_event = resp.event_id

        def saw(sess, event_id):
            return any(m[1] == event_id for m in sess.messages)

        await b.sync_until("B sees A's message", lambda: saw(b, a_event), deadline)
        await a.sync_until("A sees B's message", lambda: saw(a, b_event), deadline)
        # Each must also see its own message come back through sync.
        await a.sync_until("A sees its own message", lambda: saw(a, a_event), deadline)
        await b.sync_until("B sees its own message", lambda: saw(b, b_event), deadline)

        want = {a_event: (a_id, a_text, a_name), b_event: (b_id, b_text, b_name)}
        for sess in (a, b):
            for room, event_id, sender, body, name in sess.messages:
                if event_id not in want:
                    continue
                w_sender, w_body, w_name = want[event_id]
                if room != room_id or sender != w_sender or body != w_body or name != w_name:
                    raise Failure(f"{sess.label} saw event {event_id} as room={room!r} sender={sender!r} "
                                  f"body={body!r} display name={name!r}; want room={room_id!r} "
                                  f"sender={w_sender!r} body={w_body!r} display name={w_name!r}")
        for sess in (a, b):
            ids = [m[1] for m in sess.messages]
            dups = {i for i in ids if ids.count(i) > 1}
            if dups:
                raise Failure(f"{sess.label} saw events more than once through sync: {sorted(dups)}")
        log("both saw both messages with the right senders and display names")

        # Typing notices (PUT /rooms/{roomId}/typing/{userId}), seen by the
        # other client in its sync's ephemeral events.
        expect(await a.client.room_typing(room_id, True, 30000), nio.RoomTypingResponse, "A starts typing")
        await b.sync_until("B sees A typing", lambda: b.typing.get(room_id) == [a_id], deadline)
        expect(await a.client.room_typing(room_id, False), nio.RoomTypingResponse, "A stops typing")
        await b.sync_until("B sees A stop typing", lambda: a_id not in b.typing.get(room_id, [a_id]), deadline)

        # Read receipts: update_receipt_marker (POST /receipt/m.read/...),
        # then room_read_markers (POST /read_markers) moving the receipt on
        # and setting the fully read marker, which only B sees.
        resp = await b.client.update_receipt_marker(room_id, a_event)
        if isinstance(resp, nio.ErrorResponse):
            raise Failure(f"B sends a read receipt: {describe(resp)}")
        await a.sync_until("A sees B's read receipt on A's message",
                           lambda: (room_id, a_event, "m.read", b_id) in a.receipts, deadline)
        resp = await b.client.room_read_markers(room_id, fully_read_event=a_event, read_event=b_event)
        if isinstance(resp, nio.ErrorResponse):
            raise Failure(f"B sets its read markers: {describe(resp)}")
        await a.sync_until("A sees B's receipt move on to B's message",
                           lambda: (room_id, b_event, "m.read", b_id) in a.receipts, deadline)
        await b.sync_until("B sees its fully read marker", lambda: b.fully_read.get(room_id) == a_event, deadline)
        if a.fully_read:
            raise Failure(f"A saw a fully read marker, which is B's own: {a.fully_read}")
        log("typing notices and read receipts went both ways")

        expect(await b.client.room_leave(room_id), nio.RoomLeaveResponse, f"B leaves {room_id}")
        await b.sync_until(f"B's sync lists {room_id} under rooms.leave", lambda: room_id in b.left_rooms, deadline)
        await a.sync_until(f"A sees B leave {room_id}",
                           lambda: b_id not in a.client.rooms[room_id].users, deadline)
        expect(await a.client.room_leave(room_id), nio.RoomLeaveResponse, f"A leaves {room_id}")
        await a.sync_until(f"A's sync lists {room_id} under rooms.leave", lambda: room_id in a.left_rooms, deadline)
        log("PASS")
    finally:
        await a.close()
        await b.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--homeserver", required=True, help="base URL, e.g. http://127.0.0.1:8008")
    p.add_argument("--register", required=True, help="local part of the user to register")
    p.add_argument("--register-password", required=True)
    p.add_argument("--login", required=True, help="full user ID of an existing user to log in")
    p.add_argument("--login-password", required=True)
    p.add_argument("--deadline", type=float, default=90, help="seconds for the whole session")
    args = p.parse_args()
    log(f"matrix-nio {getattr(nio, '__version__', '?')} from {nio.__file__}, server {args.homeserver}")
    try:
        asyncio.run(run(args))
    except Failure as exc:
        log(f"FAIL: {exc}")
        sys.exit(1)
    except Exception:  # a client-side crash is a failure too, with its traceback
        import traceback
        traceback.print_exc()
        log("FAIL: unexpected exception (above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
