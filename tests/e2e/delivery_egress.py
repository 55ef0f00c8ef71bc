"""Egress sources and pools: an account given a pool with a dedicated source (127.0.0.5,
EHLO out5.test) connects from that address with that name; another account uses the default
pool."""
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
dest IN MX 10 mx.dest.test.
mx.dest IN A 127.0.0.51
"""
ACCOUNTS = f'''
[[account]]
name = "dedicated"
password = "{PASSWORD}"
allow_ips = ["127.0.0.6/32"]
allow_unverified_domains = true
pool = "dedicated"

[[account]]
name = "shared"
password = "{PASSWORD}"
allow_ips = ["127.0.0.7/32"]
allow_unverified_domains = true
'''

sink = Sink("127.0.0.51", PORT)
try:
    with DnsServer(ZONE) as dns:
        extra = (f'[dns]\nservers = ["{dns.address}"]\n'
                 '[[egress.source]]\nname = "out5"\naddress = "127.0.0.5"\nehlo = "out5.test"\n'
                 '[[egress.source]]\nname = "shared"\naddress = "127.0.0.8"\nehlo = "shared.test"\n'
                 '[[egress.pool]]\nname = "dedicated"\nsources = ["out5"]\n'
                 '[[egress.pool]]\nname = "default"\nsources = ["shared"]\n')
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=f'mx_port = {PORT}\nidle_connection = "100ms"\n') as tx:
            submit(tx, "a@sender.test", ["one@dest.test"], "Subject: dedicated\r\n\r\nx\r\n", source="127.0.0.6")
            submit(tx, "b@sender.test", ["two@dest.test"], "Subject: shared\r\n\r\ny\r\n", source="127.0.0.7")
            got = wait_for("two deliveries", lambda: len(sink.messages()) == 2 and sink.messages())
            by = {m["rcpt_tos"][0]: m for m in got}
            check(by["one@dest.test"]["peer"] == "127.0.0.5", f"dedicated peer {by['one@dest.test']['peer']}")
            check(by["one@dest.test"]["ehlo"] == "out5.test", f"dedicated EHLO {by['one@dest.test']['ehlo']}")
            check(by["two@dest.test"]["peer"] == "127.0.0.8" and by["two@dest.test"]["ehlo"] == "shared.test",
                  f"default pool {by['two@dest.test']}")
finally:
    sink.stop()
print("ok")
