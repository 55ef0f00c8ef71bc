"""AUTH LOGIN and AUTH PLAIN with a separate response line, and cancellation with "*"."""
import base64
from txmail_harness import *

b64 = lambda s: base64.b64encode(s.encode()).decode()

with Txmail() as tx:
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    check(d.cmd("AUTH LOGIN", 334) == ["VXNlcm5hbWU6"], "LOGIN username prompt")
    d.cmd("*", 501, "5.0.0")
    d.cmd("AUTH PLAIN", 334)
    d.cmd(auth_plain("alice", "wrong password"), 535, "5.7.8")
    d.cmd("AUTH LOGIN", 334)
    d.cmd(b64("alice"), 334)
    d.cmd(b64(PASSWORD), 235, "2.7.0")
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 503, "5.5.1")  # already authenticated
    d.cmd("QUIT", 221)
print("ok")
