"""Connection limits: past max_connections_per_ip a client gets 421 4.7.0 and is closed;
closing a connection frees its slot."""
import time
from txmail_harness import *

with Txmail(smtp_settings="max_connections_per_ip = 2\nmax_connections = 3") as tx:
    a = Dialog(tx.ports["relay"])
    a.expect(220)
    b = Dialog(tx.ports["relay"])
    b.expect(220)
    c = Dialog(tx.ports["relay"])
    c.expect(421, "4.7.0", "third connection from one IP")
    check(c.closed(), "refused connection left open")
    d = Dialog(tx.ports["relay"], source="127.0.0.3")
    d.expect(220)  # another IP still fits the total
    e = Dialog(tx.ports["relay"], source="127.0.0.4")
    e.expect(421, "4.7.0", "over the total")
    a.cmd("QUIT", 221)
    check(a.closed(), "QUIT did not close")
    for _ in range(100):  # the slot is released when the session ends
        f = Dialog(tx.ports["relay"])
        code, _ = f.reply()
        if code == 220:
            break
        time.sleep(0.05)
    check(code == 220, "slot not released after QUIT")
print("ok")
