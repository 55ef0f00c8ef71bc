"""Commands pipelined after STARTTLS in clear text are discarded, not run inside TLS
(the CVE-2011-0411 class of command injection)."""
from txmail_harness import *

with Txmail() as tx:
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.send("STARTTLS\r\nNOOP injected\r\n")
    d.expect(220, "2.0.0", "STARTTLS")
    d._wrap()
    d.cmd("EHLO client.test", 250)  # the first reply over TLS answers EHLO, not the NOOP
    d.cmd("STARTTLS", 503, "5.5.1")
    d.cmd("QUIT", 221)
print("ok")
