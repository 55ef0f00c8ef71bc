"""An MX that answers STARTTLS with 421 (closing: shutting down, overloaded), found by a review
of the delivery path: the opportunistic client took the session as opened although the server
was closing it, so nothing was recorded and a new connection was opened at once, for good (no
attempt, no event, no back-off, the remote hammered).

Now the 421 ends the attempt like any failure at STARTTLS: the recipient is DEFERRED with the
421 in its event, the second MX host of the domain is tried (and takes the mail when it can),
and the MX that said 421 is not asked again and again."""
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
closing IN MX 10 mx.closing.test.
mx.closing IN A 127.0.0.71
twohosts IN MX 10 mx1.twohosts.test.
twohosts IN MX 20 mx2.twohosts.test.
mx1.twohosts IN A 127.0.0.72
mx2.twohosts IN A 127.0.0.73
"""


class ClosingMx(ScriptedServer):
    """Greets, offers STARTTLS, and answers it 421 then hangs up; counts its connections."""

    def __init__(self, ip, port):
        self.connections = 0
        super().__init__(ip, port, self.session)

    async def session(self, reader, writer):
        self.connections += 1
        try:
            writer.write(b"220 closing.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line.split(b" ")[0].strip().upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-closing.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
                elif verb == b"STARTTLS":
                    writer.write(b"421 4.3.2 closing.test shutting down\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"503 5.5.1 not now\r\n")
                await writer.drain()
        finally:
            writer.close()


closing = ClosingMx("127.0.0.71", PORT)
first = ClosingMx("127.0.0.72", PORT)
second = Sink("127.0.0.73", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = f'mx_port = {PORT}\nretry_schedule = ["1h"]\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            job = submit(tx, "a@sender.test", ["ann@closing.test"], "Subject: to closing\r\n\r\nx\r\n")
            deferred = wait_for("the recipient deferred with the 421", lambda: [
                e for e in events(tx, job, type="DEFERRED") if "421" in e.get("reply", "")], timeout=60)
            print(f"deferred: {deferred[0]['reply']!r} after {closing.connections} connection(s)")
            asked = closing.connections
            # The next try is an hour away: the MX that is closing is not asked again meanwhile.
            other = submit(tx, "a@sender.test", ["bo@twohosts.test"], "Subject: to twohosts\r\n\r\nx\r\n")
            wait_for("the second MX host took the mail", lambda: any(
                "Subject: to twohosts" in m["data"] for m in second.messages()), timeout=60)
            check(first.connections >= 1, "the first MX host was never asked")
            check(events(tx, other, type="DELIVERED"), "no DELIVERED event for the second host's delivery")
            check(closing.connections == asked and asked <= 2,
                  f"the closing MX was asked {closing.connections} times (first deferral after {asked})")
            print(f"first MX asked {first.connections} time(s), then the second host took it")
finally:
    closing.stop()
    first.stop()
    second.stop()
print("ok")
