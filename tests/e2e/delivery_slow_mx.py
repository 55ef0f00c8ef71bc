"""An MX that drips its greeting, one byte every 0.3 s, as a continuation that never ends (found
by a review of the delivery path): the reply timeout was re-armed by every byte, so such a host
held a connection, and the destination's connection slot, for as long as it liked. Now a reply
has one deadline ([delivery] command_timeout, 2 s here): the first MX host is given up after it
and the second host takes the mail."""
import asyncio
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
slow IN MX 10 mx1.slow.test.
slow IN MX 20 mx2.slow.test.
mx1.slow IN A 127.0.0.74
mx2.slow IN A 127.0.0.75
"""


class DrippingMx(ScriptedServer):
    """Sends "220-" continuation lines one byte every 0.3 s until the client hangs up."""

    def __init__(self, ip, port):
        self.connections = 0
        super().__init__(ip, port, self.session)

    async def session(self, reader, writer):
        self.connections += 1
        try:
            while True:
                for byte in b"220-drip\r\n":
                    writer.write(bytes([byte]))
                    await writer.drain()
                    try:  # the next byte 0.3 s later, unless the client hangs up first
                        await asyncio.wait_for(reader.read(), 0.3)
                        return
                    except asyncio.TimeoutError:
                        pass
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


slow = DrippingMx("127.0.0.74", PORT)
second = Sink("127.0.0.75", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = f'mx_port = {PORT}\ncommand_timeout = "2s"\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            started = time.monotonic()
            job = submit(tx, "a@sender.test", ["ann@slow.test"], "Subject: past the drip\r\n\r\nx\r\n")
            wait_for("the second MX host took the mail", lambda: any(
                "Subject: past the drip" in m["data"] for m in second.messages()), timeout=60)
            print(f"delivered by the second host {time.monotonic() - started:.1f} s after submission; "
                  f"the dripping host was connected to {slow.connections} time(s)")
            check(slow.connections >= 1, "the first MX host was never asked")
            check(events(tx, job, type="DELIVERED"), "no DELIVERED event")
finally:
    slow.stop()
    second.stop()
print("ok")
