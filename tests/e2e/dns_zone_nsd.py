"""The service's own DNS data (issue core-3, item 5): `txmail dns records` prints a zone that
nsd loads; queried from nsd, the SPF include chain lists exactly the egress addresses of the
config (split into records of at most 450 octets), each sender domain's delegated DKIM records
are the keys txmail signs with (a message signed by txmail verifies against them), and the
region endpoints resolve."""
import re
import subprocess
import dkim as pydkim
from dnslib import DNSRecord, QTYPE
from txmail_harness import *

ZONE = "svc.test"
EXTRA_V4 = [f"192.0.2.{i}" for i in range(1, 41)] + ["198.51.100.0/24"]
EXTRA_V6 = [f"2001:db8::{i:x}" for i in range(1, 11)]
ACCOUNTS = (f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n')
EXTRA = f"""[dkim]
ed25519 = true
[publish]
zone = "{ZONE}"
nameservers = ["ns1.{ZONE}"]
extra_egress = [{", ".join('"%s"' % a for a in EXTRA_V4 + EXTRA_V6)}]
[[publish.endpoint]]
name = "smtp.eu"
addresses = ["127.0.0.1", "::1"]
[[publish.endpoint]]
name = "ns1"
addresses = ["127.0.0.1"]
[[egress.source]]
name = "a"
address = "127.0.0.5"
[[egress.source]]
name = "b"
address = "127.0.0.6"
"""


def query(port, name, qtype):
    reply = DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", port, timeout=5))
    return reply


def txt(port, name):
    return [b"".join(rr.rdata.data).decode() for rr in query(port, name, "TXT").rr if rr.rtype == QTYPE.TXT]


def start_nsd(directory, zone_text):
    port = free_port()
    zone_file = os.path.join(directory, ZONE + ".zone")
    with open(zone_file, "w") as f:
        f.write(zone_text)
    check_zone = subprocess.run(["nsd-checkzone", ZONE, zone_file], capture_output=True, text=True)
    check(check_zone.returncode == 0, f"nsd-checkzone refuses the zone: {check_zone.stdout}{check_zone.stderr}")
    conf = os.path.join(directory, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{directory}"
  database: ""
  pidfile: "{directory}/nsd.pid"
  xfrdfile: "{directory}/xfrd.state"
  zonelistfile: "{directory}/zone.list"
  xfrdir: "{directory}"
  logfile: "{directory}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: {ZONE}
  zonefile: "{zone_file}"
""")
    proc = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def answers():
        if proc.poll() is not None:
            fail("nsd exited: " + proc.stderr.read().decode(errors="replace"))
        try:
            return query(port, ZONE, "SOA").rr
        except Exception:
            return None
    wait_for("nsd to answer", answers, timeout=20)
    return proc, port


with Txmail(extra=EXTRA, accounts=ACCOUNTS) as tx:
    domains = {}
    for name in ("a.test", "b.test"):
        domains[name] = cli(tx, "domain", "add", name, "--account", "shop")
    zone_text = subprocess.run([TXMAIL, "dns", "records", "--config", tx.config], capture_output=True, text=True,
                               check=True).stdout
    # A message signed by txmail with a.test's keys (the account may send unverified).
    message = "From: shop <x@a.test>\r\nTo: c@dest.test\r\nSubject: zone check\r\n\r\nsigned with the zone's keys\r\n"
    code, text, job = submit_as(tx, "shop", "x@a.test", ["c@dest.test"], message)
    check(code == 250, f"submission refused: {code} {text}")
    signed = tx.message(job)

nsd_dir = tempfile.mkdtemp(prefix="txmail-nsd-")
proc, port = start_nsd(nsd_dir, zone_text)
try:
    # SPF: follow the include chain from _spf.<zone>, as a receiver would.
    seen, name, lookups = set(), f"_spf.{ZONE}", 0
    while name:
        records = [r for r in txt(port, name) if r.startswith("v=spf1 ")]
        check(len(records) == 1, f"{name}: SPF records {records}")
        check(len(records[0]) <= 450, f"{name}: {len(records[0])} octets")
        lookups += 1
        terms = records[0].split()[1:]
        check(terms[-1] == "~all", f"{name}: {records[0]}")
        name = None
        for t in terms[:-1]:
            if t.startswith("include:"):
                name = t[len("include:"):]
            else:
                check(t.startswith("ip4:") or t.startswith("ip6:"), f"unexpected SPF term {t}")
                seen.add(t[4:])
    expected = {"127.0.0.5", "127.0.0.6"} | set(EXTRA_V4) | set(EXTRA_V6)
    check(seen == expected, f"SPF lists {sorted(seen ^ expected)} differently from the config")
    check(lookups >= 2, "the addresses should need more than one record")
    check(lookups <= 9, f"{lookups} chained records exceed the 10-lookup limit")

    # DKIM: each key txmail holds is published under <selector>.<domain>._dkim.<zone>.
    for name, d in domains.items():
        for k in d["keys"]:
            got = txt(port, f"{k['selector']}.{name}._dkim.{ZONE}")
            check(got == [k["dns_record"]], f"{name} {k['selector']}: zone has {got}")
    # A customer who delegates (CNAME <selector>._domainkey.a.test to the zone's name) gets the
    # zone's record when a receiver verifies: txmail's signatures verify against it.
    def delegated(qname, timeout=5):
        m = re.match(r"^(\w+)\._domainkey\.(.+?)\.?$", qname.decode())
        values = txt(port, f"{m.group(1)}.{m.group(2)}._dkim.{ZONE}")
        return values[0].encode() if values else None
    check(signed.count(b"DKIM-Signature:") == 2, "the message should carry two signatures")
    for idx in (0, 1):
        check(pydkim.DKIM(signed).verify(idx=idx, dnsfunc=delegated), f"signature {idx} fails against the zone")

    # Endpoints of the region.
    a = [str(rr.rdata) for rr in query(port, f"smtp.eu.{ZONE}", "A").rr]
    aaaa = [str(rr.rdata) for rr in query(port, f"smtp.eu.{ZONE}", "AAAA").rr]
    check(a == ["127.0.0.1"] and aaaa == ["::1"], f"endpoint records A {a} AAAA {aaaa}")
finally:
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(nsd_dir, ignore_errors=True)
print("ok")
