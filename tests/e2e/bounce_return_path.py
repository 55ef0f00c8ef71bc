"""The return path the service owns (issue bounce-1, item 1): with [bounces] domain, each recipient
is sent in a transaction of its own whose envelope sender is b-<token>@<domain>; the token,
decoded here with an implementation of its own (base32, HMAC-SHA256 under the key derived from
the node's master key), names exactly that recipient's mail id. The header From and the rest of
what the customer wrote are unchanged, and the DKIM signature still verifies. A [bounces] domain
that is not a host name (spaces, brackets, one label, CR LF) is refused by check-config, naming
the key. With [bounces] mx, `domain add` lists the MX and SPF records of the sender domain's
return-path subdomain bounce.<domain>; once they verify, its mail goes out from
b-<token>@bounce.<domain>: SPF passes there (python3-spf through the test's DNS server) and the
domain aligns with the From domain for DMARC (relaxed: the same organizational domain, judged
here by the name); the inbound listener takes that return path, and no other bounce.<domain>."""
import base64
import hashlib
import hmac

import smtplib

import dkim as pydkim
import dns.resolver as dns_resolver
import spf
from txmail_harness import *
from dkim_check import txt_lookup

ACCOUNTS = f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nhourly_limit = 0\n'
BOUNCES = "bounces.txmail.test"
INBOUND_MX = "inbound.txmail.test"


def mail_id_of(local_part, master_hex):
    """The mail id a b-<token> local part names, or None when its MAC is wrong."""
    key = hmac.new(bytes.fromhex(master_hex), b"txmail return path v1", hashlib.sha256).hexdigest().encode()
    token = local_part[2:].upper()
    raw = base64.b32decode(token + "=" * (-len(token) % 8))
    payload, mac = raw[:24], raw[24:]
    if len(mac) != 10 or not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest()[:10], mac):
        return None
    h = payload[:16].hex()
    job = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return f"{job}#{payload[16:20].hex()}#{payload[20:24].hex()}"


def custom_return_path(tx, dns, zone, api_key, job, master):
    """The return-path subdomain's MX and SPF published: the envelope sender becomes
    b-<token>@bounce.shop.test, SPF passes for it (python3-spf asking the test's DNS server)
    and aligns with the From domain shop.test; the inbound listener takes it."""
    dns.update(zone + f"bounce.shop.test. IN MX 10 {INBOUND_MX}.\n"
               'bounce.shop.test. IN TXT "v=spf1 include:_spf.svc.test ~all"\n'
               '_spf.svc.test. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"\n')
    verified = http(tx, "POST", "/v2/domains/shop.test/verify", key=api_key).json
    check(verified.get("return_path_domain") == "bounce.shop.test", f"{verified}")
    before = len(sink.messages())
    r = http(tx, "POST", "/v2/jobs", {**job, "recipients": [{"mail": {"to": [{"email": "di@dest.test"}]}}]},
             key=api_key)
    check(r.status == 202, f"{r}")
    wait_for("the message at the sink", lambda: len(sink.messages()) == before + 1)
    m = [x for x in sink.messages() if x["rcpt_tos"] == ["di@dest.test"]][0]
    local, _, domain = m["mail_from"].partition("@")
    check(domain == "bounce.shop.test" and mail_id_of(local, master) == r.json["recipients"][0]["mailId"],
          f"envelope sender {m['mail_from']}")
    resolver = dns_resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns.port
    dns_resolver.default_resolver = resolver
    result, _ = spf.check2(i=m["peer"], s=m["mail_from"], h="txmail.test")
    check(result == "pass", f"SPF for {m['mail_from']} from {m['peer']}: {result}")
    # Relaxed DMARC alignment: the return path's organizational domain is the From domain's.
    check(domain.endswith(".shop.test"), f"{domain} does not align with shop.test")
    check(pydkim.DKIM(m["data"].encode()).verify(dnsfunc=txt_lookup(dns.port)), "DKIM does not verify")
    with smtplib.SMTP("127.0.0.1", tx.ports["inbound"], timeout=10) as s:
        s.ehlo("mx.dest.test")
        s.mail("<>")
        check(s.rcpt(m["mail_from"])[0] == 250, "the inbound listener refused the custom return path")
        check(s.rcpt(f"{local}@bounce.other.test")[0] == 550, "a bounce.<domain> nobody verified was taken")
    print(f"custom return path {m['mail_from'][:12]}...@{domain}: SPF {result} from {m['peer']}, "
          "aligned with shop.test, DKIM verifies, the inbound listener takes it")


sink = Sink("127.0.0.42", free_port())
try:
    with DnsServer(txt_zone([])) as dns:
        delivery = (f'idle_connection = "200ms"\nretry_schedule = ["1s"]\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.42:{sink.port}"\n')
        extra = (f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n'
                 f'[bounces]\ndomain = "{BOUNCES}"\nmx = "{INBOUND_MX}"\n'
                 f'[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n')
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            api_key = http(tx, "POST", "/v2/admin/accounts/shop/keys", {"name": "ci"}, token=admin_token(tx)).json["key"]
            added = http(tx, "POST", "/v2/domains", {"domain": "shop.test"}, key=api_key)
            check(added.status == 201, f"{added}")
            # First without the return-path subdomain's records: the service's own return path.
            records = added.json["records"]
            custom = [r for r in records if r["purpose"].startswith("return-path-")]
            check({(r["purpose"], r["name"], r["type"], r["value"]) for r in custom} == {
                ("return-path-mx", "bounce.shop.test", "MX", f"10 {INBOUND_MX}."),
                ("return-path-spf", "bounce.shop.test", "TXT", "v=spf1 include:_spf.svc.test ~all")},
                f"the return-path records to publish: {custom}")
            zone = txt_zone([(r["name"], r["value"]) for r in records if r not in custom])
            dns.update(zone)
            verified = http(tx, "POST", "/v2/domains/shop.test/verify", key=api_key).json
            check(verified.get("verified") and not verified.get("return_path_domain"), f"{verified}")
            job = {"subject": {"content": "Your order"},
                   "body": {"contentType": "text/plain", "content": "Thanks for your order"},
                   "mail": {"from": {"email": "bounce@shop.test"}, "mimeFrom": {"email": "Shop <orders@shop.test>"}},
                   "recipients": [{"mail": {"to": [{"email": "ann@dest.test"}, {"email": "bo@dest.test"}]}},
                                  {"mail": {"to": [{"email": "cy@other.test"}]}}]}
            r = http(tx, "POST", "/v2/jobs", job, key=api_key)
            check(r.status == 202, f"{r}")
            mail_ids = {x["email"]: x["mailId"] for x in r.json["recipients"]}
            wait_for("three messages at the sink", lambda: len(sink.messages()) == 3)
            with open(os.path.join(tx.data_dir, "master.key")) as f:
                master = f.read().strip()
            check(len(master) == 64, "the master key file is not 64 hex digits")
            senders = set()
            for m in sink.messages():
                check(len(m["rcpt_tos"]) == 1, f"one recipient per transaction: {m['rcpt_tos']}")
                rcpt = m["rcpt_tos"][0]
                local, _, domain = m["mail_from"].partition("@")
                check(domain == BOUNCES and local.startswith("b-") and len(local) == 57,
                      f"envelope sender of {rcpt}: {m['mail_from']}")
                check(mail_id_of(local, master) == mail_ids[rcpt], f"{local} names {mail_id_of(local, master)}, "
                      f"not {rcpt}'s {mail_ids[rcpt]}")
                # A token altered in one character names nothing.
                flipped = local[:10] + ("a" if local[10] != "a" else "b") + local[11:]
                check(mail_id_of(flipped, master) is None, "an altered token still verifies")
                data = m["data"]
                check("\r\nFrom: Shop <orders@shop.test>\r\n" in "\r\n" + data, f"header From changed: {data[:400]}")
                check(pydkim.DKIM(data.encode()).verify(dnsfunc=txt_lookup(dns.port)), f"DKIM does not verify for {rcpt}")
                senders.add(m["mail_from"])
            check(len(senders) == 3, f"each recipient has its own return path: {senders}")
            print(f"3 recipients, 3 transactions, 3 return paths @{BOUNCES} naming their mail ids; DKIM verifies")
            custom_return_path(tx, dns, zone, api_key, job, master)

    bad = tempfile.mkdtemp(prefix="txmail-bounces-")
    path = os.path.join(bad, "txmail.toml")
    for domain in ("not a domain", "a>b.example", "single", "-x.example", "x.example\\r\\nRCPT TO:<a@b>"):
        with open(path, "w") as f:
            f.write(f'[node]\ndata_dir = "{bad}/data"\n[bounces]\ndomain = "{domain}"\n')
        out = subprocess.run([TXMAIL, "check-config", path], capture_output=True, text=True, timeout=30)
        check(out.returncode != 0 and "bounces.domain" in out.stderr + out.stdout, f"check-config {domain!r}: {out}")
    for bounces, key in ((f'mx = "{INBOUND_MX}"\n', "bounces.mx"),  # no [bounces] domain
                         (f'domain = "{BOUNCES}"\nmx = "in bound.test"\n', "bounces.mx")):
        with open(path, "w") as f:
            f.write(f'[node]\ndata_dir = "{bad}/data"\n[bounces]\n{bounces}')
        out = subprocess.run([TXMAIL, "check-config", path], capture_output=True, text=True, timeout=30)
        check(out.returncode != 0 and key in out.stderr + out.stdout, f"check-config {bounces!r}: {out}")
    shutil.rmtree(bad, ignore_errors=True)
finally:
    sink.stop()
print("ok")
