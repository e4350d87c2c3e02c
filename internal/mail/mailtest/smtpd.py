# A real SMTP server for Myelin's tests: aiosmtpd (Debian's
# python3-aiosmtpd) storing every accepted message in a Maildir. It binds
# port 0 on 127.0.0.1 and prints the port it got.
import argparse
import asyncio
import ssl

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult

p = argparse.ArgumentParser()
p.add_argument("--maildir", required=True)
p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
a = p.parse_args()

ctx = None
if a.cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (mechanism == "PLAIN" and auth_data.login.decode() == a.user
          and auth_data.password.decode() == a.password)
    return AuthResult(success=ok)


handler = Mailbox(a.maildir)


def factory():
    kw = {"hostname": "mailtest.localhost", "auth_require_tls": False}
    if a.mode == "starttls":
        kw.update(tls_context=ctx, require_starttls=True)
    if a.user:
        kw.update(authenticator=authenticator, auth_required=True)
    return SMTP(handler, **kw)


async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(factory, "127.0.0.1", 0,
                                   ssl=ctx if a.mode == "implicit" else None)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


asyncio.run(main())
