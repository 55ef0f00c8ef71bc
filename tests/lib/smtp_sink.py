"""A destination MX for delivery tests, on python3-aiosmtpd. Listens on ADDRESS:PORT, keeps
every message it accepts as a JSON file in DIR (envelope, bytes, peer address, EHLO name, TLS
version, time), and keeps counters in DIR/stats.json (connections now and at most).

Recipients steer the answers by their local part:
  reject*     -> 550 5.1.1 at RCPT
  defer*      -> 450 4.2.1 at RCPT, every time
  later*      -> 450 4.2.1 at RCPT the first time that address is seen, then 250

--legacy: a server without SMTPUTF8 and without 8BITMIME (RFC 6531, RFC 6152), as many still are.

Usage: /usr/bin/python3 smtp_sink.py ADDRESS PORT DIR [--tls CERT KEY] [--delay SECONDS] [--legacy]
"""
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP

args = sys.argv[1:]
address, port, out_dir = args[0], int(args[1]), args[2]
tls_context = None
delay = 0.0
if "--tls" in args:
    i = args.index("--tls")
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_context.load_cert_chain(args[i + 1], args[i + 2])
if "--delay" in args:
    delay = float(args[args.index("--delay") + 1])
legacy = "--legacy" in args

stats = {"connections": 0, "max_connections": 0, "messages": 0}
seen = {}


def save_stats():
    tmp = os.path.join(out_dir, "stats.tmp")
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, os.path.join(out_dir, "stats.json"))


class Handler:
    async def handle_RCPT(self, server, session, envelope, addr, rcpt_options):
        local = addr.split("@")[0]
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        if local.startswith("defer"):
            return "450 4.2.1 Mailbox busy, try later"
        if local.startswith("later"):
            seen[addr] = seen.get(addr, 0) + 1
            if seen[addr] == 1:
                return "450 4.2.1 Greylisted, try later"
        envelope.rcpt_tos.append(addr)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if delay:
            await asyncio.sleep(delay)
        stats["messages"] += 1
        tls = session.ssl.get("version") if isinstance(session.ssl, dict) else None
        if tls is None and server.transport is not None:
            obj = server.transport.get_extra_info("ssl_object")
            tls = obj.version() if obj is not None else None
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "surrogateescape"),
            "peer": session.peer[0],
            "ehlo": session.host_name,
            "tls": tls,
            "time": time.time(),
        }
        name = os.path.join(out_dir, "msg-%06d.json" % stats["messages"])
        with open(name + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(name + ".tmp", name)
        save_stats()
        return "250 2.0.0 Message accepted"


class LegacyHandler(Handler):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [r for r in responses if r != "250-8BITMIME"]


class CountingSMTP(SMTP):
    def connection_made(self, transport):
        stats["connections"] += 1
        stats["max_connections"] = max(stats["max_connections"], stats["connections"])
        save_stats()
        super().connection_made(transport)

    def connection_lost(self, exc):
        stats["connections"] -= 1
        save_stats()
        super().connection_lost(exc)


async def main():
    handler = LegacyHandler() if legacy else Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, hostname="sink.test", tls_context=tls_context, require_starttls=False,
                             decode_data=False, enable_SMTPUTF8=not legacy),
        host=address, port=port)
    save_stats()
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
