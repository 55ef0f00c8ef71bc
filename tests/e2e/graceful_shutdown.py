"""Graceful shutdown on SIGTERM: an idle session hears 421 4.3.2; a session in the middle of a
message finishes it (250, spooled) and then hears 421; new connections are refused; the
process exits 0."""
import signal
import socket
import time
from txmail_harness import *

with Txmail() as tx:
    idle = relay_session(tx)
    busy = relay_session(tx)
    busy.cmd("MAIL FROM:<a@sender.test>", 250)
    busy.cmd("RCPT TO:<b@rcpt.test>", 250)
    busy.cmd("DATA", 354)
    busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
    tx.proc.send_signal(signal.SIGTERM)
    idle.expect(421, "4.3.2", "idle session at shutdown")
    check(idle.closed(), "idle session not closed")
    busy.send("second half\r\n.\r\n")
    job = queued_id(busy.expect(250, "2.0.0", "message in flight at shutdown"))
    busy.send("NOOP\r\n")
    busy.expect(421, "4.3.2", "busy session after its transaction")
    rc = tx.proc.wait(15)
    check(rc == 0, f"exit status {rc}")
    try:
        socket.create_connection(("127.0.0.1", tx.ports["relay"]), timeout=2).close()
        fail("listener still open after shutdown")
    except OSError:
        pass
    tx.proc = None
    [j] = tx.spool()
    check(j["job_id"] == job, "in-flight message not spooled")
    check(tx.message(job).endswith(b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n"), "bytes")
print("ok")
