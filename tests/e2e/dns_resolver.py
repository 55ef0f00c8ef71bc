"""DNS through libunbound against a real DNS server serving a test zone: MX order (preference,
shuffled within equal preference), implicit MX, null MX, NXDOMAIN, SERVFAIL as a temporary
failure, A/AAAA/TXT/TLSA, and `[dns] servers` taken from the config file."""
import json
import subprocess
from txmail_harness import *

ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
multi IN MX 10 mx-a.multi.test.
multi IN MX 10 mx-b.multi.test.
multi IN MX 20 backup.multi.test.
mx-a.multi IN A 127.0.0.11
mx-b.multi IN A 127.0.0.12
backup.multi IN A 127.0.0.13
backup.multi IN AAAA ::1
nomx IN A 127.0.0.14
nullmx IN MX 0 .
txt IN TXT "v=spf1 ip4:127.0.0.0/8 " "-all"
_25._tcp.mx-a.multi IN TLSA 3 1 1 0123456789abcdef
"""


def txmail_dns(server, *args):
    out = subprocess.run([TXMAIL, "dns", "--server", server] + list(args), capture_output=True, text=True,
                         timeout=60)
    check(out.stdout.strip() != "", f"dns {args}: no output, stderr {out.stderr!r}")
    return out.returncode, json.loads(out.stdout)


with DnsServer(ZONE) as dns:
    firsts = set()
    for _ in range(12):
        rc, mx = txmail_dns(dns.address, "mx", "multi.test")
        check(rc == 0, f"mx multi.test: {mx}")
        hosts = [h["host"] for h in mx["hosts"]]
        check(sorted(hosts[:2]) == ["mx-a.multi.test", "mx-b.multi.test"] and hosts[2] == "backup.multi.test",
              f"MX order {hosts}")
        firsts.add(hosts[0])
        check(mx["hosts"][2]["addresses"] == ["127.0.0.13", "::1"], f"backup addresses {mx['hosts'][2]}")
        check(mx["site"] == "backup.multi.test,mx-a.multi.test,mx-b.multi.test", f"site {mx['site']}")
    check(firsts == {"mx-a.multi.test", "mx-b.multi.test"}, f"equal preferences never shuffled: {firsts}")

    rc, mx = txmail_dns(dns.address, "mx", "nomx.test")
    check(rc == 0 and mx["implicit"] and mx["hosts"] == [{"host": "nomx.test", "addresses": ["127.0.0.14"]}],
          f"implicit MX: {mx}")
    rc, mx = txmail_dns(dns.address, "mx", "nullmx.test")
    check(rc == 1 and mx["permanent"] and "null MX" in mx["detail"], f"null MX: {mx}")
    rc, mx = txmail_dns(dns.address, "mx", "nowhere.test")
    check(rc == 1 and mx["error"] == "not-found" and mx["permanent"], f"NXDOMAIN: {mx}")
    rc, mx = txmail_dns(dns.address, "mx", "x.servfail.test")
    check(rc == 1 and mx["error"] == "dns-temporary" and not mx["permanent"], f"SERVFAIL: {mx}")

    rc, txt = txmail_dns(dns.address, "query", "TXT", "txt.test")
    check(rc == 0 and txt["values"] == ["v=spf1 ip4:127.0.0.0/8 -all"] and 0 < txt["ttl"] <= 300, f"TXT: {txt}")
    rc, aaaa = txmail_dns(dns.address, "query", "AAAA", "backup.multi.test")
    check(rc == 0 and aaaa["values"] == ["::1"], f"AAAA: {aaaa}")
    rc, tlsa = txmail_dns(dns.address, "query", "TLSA", "_25._tcp.mx-a.multi.test")
    check(rc == 0 and tlsa["tlsa"][0]["usage"] == 3 and tlsa["tlsa"][0]["data_b64"] == "ASNFZ4mrze8=", f"TLSA: {tlsa}")
    rc, nodata = txmail_dns(dns.address, "query", "AAAA", "nomx.test")
    check(rc == 0 and nodata["values"] == [], f"NODATA: {nodata}")

    # [dns] servers from the config file.
    tx = Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n')
    out = subprocess.run([TXMAIL, "dns", "--config", tx.config, "query", "A", "mx-a.multi.test"],
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0 and json.loads(out.stdout)["values"] == ["127.0.0.11"], f"via config: {out.stdout}")
    check(any(q.startswith("mx-a.multi.test.") for q in dns.queries()), "the test server was not asked")
print("ok")
