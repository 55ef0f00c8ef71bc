"""Mail to internationalized domains and addresses (issue deliver-3). A test DNS server answers
only A-labels (xn--...). Two runs of txmail, each with its own sender domain registered by its
U-label (bücherei.test) and verified, deliver to bücher.test:

1. to an MX with SMTPUTF8 and 8BITMIME: josé@bücher.test and info@bücher.test arrive in UTF-8
   (MAIL FROM ... SMTPUTF8, the addresses as submitted); an 8-bit message submitted over SMTP
   arrives converted to 7-bit (quoted-printable, docs/delivery.md) and both python3-dkim and
   Mail::DKIM verify its signature; events and suppressions are found by either form of
   josé@bücher.test; a malformed IDN is refused at RCPT (553 5.1.3) and by the API (400 with
   the field's path); a REST job to info@bücher.test goes out with the A-label.
2. to an MX without SMTPUTF8 and 8BITMIME: info@bücher.test arrives as info@xn--bcher-kva.test
   without SMTPUTF8, josé@bücher.test is a hard bounce whose reply says why, and the 8-bit
   message arrives 7-bit and verifies.
"""
import email
import email.policy
import json
import smtplib
import subprocess
import urllib.parse
from txmail_harness import *
from dkim_check import perl_verdicts, python_verdicts

DOMAIN_U, DOMAIN_A = "b\u00fccher.test", "xn--bcher-kva.test"
SENDER_U, SENDER_A = "b\u00fccherei.test", "xn--bcherei-n2a.test"
JOSE_U, JOSE_A = "jos\u00e9@" + DOMAIN_U, "jos\u00e9@" + DOMAIN_A
INFO_U, INFO_A = "info@" + DOMAIN_U, "info@" + DOMAIN_A
ACCOUNTS = f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nhourly_limit = 0\n'
TEXT = "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u00bd \u20ac \u2713\r\n"
EIGHT_BIT = ("From: Shop <orders@" + SENDER_A + ">\r\nTo: <" + INFO_A + ">\r\nSubject: 8-bit\r\n"
             "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
             "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             + TEXT + "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             "<p>" + TEXT + "</p>\r\n--b1--\r\n").encode()


def decoded_texts(data):
    """The decoded text of every text/* part, as a reader's mail program shows it."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return [p.get_content().replace("\r\n", "\n").rstrip("\n") for p in msg.walk()
            if p.get_content_maintype() == "text"]


def zone(mx_ip, records):
    """Only the A-label names exist: a U-label query gets NXDOMAIN."""
    return txt_zone(records) + f"{DOMAIN_A}. IN MX 10 mx.{DOMAIN_A}.\nmx.{DOMAIN_A}. IN A {mx_ip}\n"


def run(args, ok=True):
    out = subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)
    check((out.returncode == 0) == ok, f"txmail {' '.join(args)}: {out.returncode} {out.stderr}")
    return out.stdout


def cli_json(tx, *args):
    return json.loads(run([*args, "--config", tx.config, "--json"]))


def register_sender_domain(tx, dns, mx_ip):
    """The sender domain added and verified by its U-label; stored and published as the A-label."""
    added = cli_json(tx, "domain", "add", SENDER_U, "--account", "shop")
    check(added["name"] == SENDER_A, f"sender domain stored as {added['name']}")
    published = [(r["name"], r["value"]) for r in added["records"]]
    check(all(n.isascii() for n, _ in published), f"records with U-labels: {published}")
    dns.update(zone(mx_ip, published))
    verified = cli_json(tx, "domain", "verify", SENDER_U)
    check(verified["verified"], f"not verified: {verified}")
    shown = cli_json(tx, "domain", "show", SENDER_A)
    check(shown["name"] == SENDER_A, f"found by its A-label: {shown}")


def submit_all(tx):
    """The malformed IDNs refused; the SMTPUTF8 job to josé and info; the 8-bit job."""
    s = smtplib.SMTP("127.0.0.1", tx.ports["submission"], timeout=30)
    s.starttls()
    s.login("shop", PASSWORD)
    # A malformed IDN is refused at RCPT, never accepted and lost later.
    s.mail("bounce@" + SENDER_U, ["SMTPUTF8"])
    for bad in ("a@xn--zz.test", "a@\u0301abc.test", "a@xn--bcher-xxx.test"):
        code, text = s.rcpt(bad)
        check(code == 553 and text.startswith(b"5.1.3"), f"RCPT {bad}: {code} {text}")
    s.rset()
    utf8 = ("From: Shop <orders@" + SENDER_A + ">\r\nTo: <" + INFO_A + ">\r\nSubject: idn\r\n\r\nHello\r\n").encode()
    s.sendmail("bounce@" + SENDER_U, [JOSE_U, INFO_U], utf8, mail_options=["SMTPUTF8"])
    s.sendmail("bounce@" + SENDER_A, [INFO_A], EIGHT_BIT, mail_options=["BODY=8BITMIME"])
    s.quit()


def deliveries(sink, n):
    return wait_for(f"{n} deliveries", lambda: len(sink.messages()) >= n and sink.messages(), timeout=60)


def check_seven_bit_and_signed(tx, dns, m, what):
    data = m["data"].encode("utf-8", "surrogateescape")
    check(all(b < 0x80 for b in data), f"{what}: 8-bit octets arrived")
    check(b"Content-Transfer-Encoding: quoted-printable" in data and b"8bit" not in data, f"{what}: {data[:800]!r}")
    check(decoded_texts(data) == decoded_texts(EIGHT_BIT) and len(decoded_texts(data)) == 2,
          f"{what}: texts {decoded_texts(data)}")
    verdicts = python_verdicts(data, dns.port)
    check(verdicts and all(v[0] == SENDER_A and v[2] for v in verdicts), f"{what}: python3-dkim says {verdicts}")
    path = os.path.join(tx.dir, what.replace(" ", "-") + ".eml")
    with open(path, "wb") as f:
        f.write(data)
    perl = perl_verdicts([path], dns.port)[path]
    check((SENDER_A, "txm1", "pass") in [v[:3] for v in perl], f"{what}: Mail::DKIM says {perl}")


def events_of(tx, address):
    out = run(["events", "--data-dir", tx.data_dir, "--recipient", address])
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_lookups(tx, dns):
    """Events and suppressions of josé@bücher.test, by either form; intake canonical too."""
    by_u, by_a = events_of(tx, JOSE_U), events_of(tx, JOSE_A)
    check(by_u and by_u == by_a, f"events by U-label {by_u}, by A-label {by_a}")
    check(all(e["recipient"] == JOSE_U and e["recipient_a_label"] == JOSE_A for e in by_u), f"{by_u}")
    run(["events", "--data-dir", tx.data_dir, "--recipient", "a@xn--zz.test"], ok=False)
    r = http(tx, "POST", "/v2/suppressions", {"email": JOSE_U}, user="shop")
    check(r.status == 201 and r.json["email"] == JOSE_A, f"suppression added: {r}")
    for form in (JOSE_U, JOSE_A, "jos\u00e9@B\u00dcCHER.test"):
        got = http(tx, "GET", "/v2/suppressions/" + urllib.parse.quote(form, safe="@"), user="shop")
        check(got.status == 200 and got.json["email"] == JOSE_A, f"suppression by {form}: {got}")
    r = http(tx, "POST", "/v2/suppressions", {"email": "a@xn--zz.test"}, user="shop")
    check(r.status == 400 and "email" in [e["path"] for e in r.json["errors"]], f"bad IDN suppression: {r}")
    # Sending to the other form is dropped at intake.
    s = smtplib.SMTP("127.0.0.1", tx.ports["submission"], timeout=30)
    s.starttls()
    s.login("shop", PASSWORD)
    s.sendmail("bounce@" + SENDER_A, [JOSE_A], b"Subject: again\r\n\r\nx\r\n", mail_options=["SMTPUTF8"])
    s.quit()
    wait_for("the DROPPED event", lambda: any(e["type"] == "DROPPED" and e["subType"] == "PREVIOUSLY_BOUNCED"
                                              for e in events_of(tx, JOSE_U)))


def check_api(tx, sink, delivered):
    job = {"subject": {"content": "hello"}, "body": {"contentType": "text/plain", "content": "hi"},
           "mail": {"from": {"email": "Shop <orders@" + SENDER_U + ">"}},
           "recipients": [{"mail": {"to": [{"email": "a@xn--zz.test"}]}}]}
    r = http(tx, "POST", "/v2/jobs", job, user="shop")
    check(r.status == 400 and r.headers["content-type"] == "application/problem+json", f"bad IDN job: {r}")
    check("recipients[0].mail.to[0].email" in [e["path"] for e in r.json["errors"]], f"{r.json}")
    bad_from = dict(job, mail={"from": {"email": "orders@xn--zz.test"}})
    r = http(tx, "POST", "/v2/jobs", bad_from, user="shop")
    check(r.status == 400 and "mail.from.email" in [e["path"] for e in r.json["errors"]], f"bad IDN sender: {r}")
    job["recipients"] = [{"mail": {"to": [{"email": "Info <" + INFO_U + ">"}]}}]
    r = http(tx, "POST", "/v2/jobs", job, user="shop")
    check(r.status == 202, f"REST job to a U-label domain: {r}")
    m = deliveries(sink, delivered + 1)[delivered]
    check(m["rcpt_tos"] == [INFO_A] and "SMTPUTF8" not in m["mail_options"], f"REST delivery {m}")
    check(f"d={SENDER_A};" in m["data"], "the REST job is signed for the A-label sender domain")


PORT = free_port()
modern = Sink("127.0.0.41", PORT)
legacy = Sink("127.0.0.42", PORT, legacy=True)
try:
    with DnsServer(zone("127.0.0.41", [])) as dns:
        delivery = f'mx_port = {PORT}\nidle_connection = "200ms"\n'
        extra = f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n'
        # 1: an MX with SMTPUTF8 and 8BITMIME.
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            register_sender_domain(tx, dns, "127.0.0.41")
            out = json.loads(run(["dns", "--server", dns.address, "mx", DOMAIN_U]))
            check(out["domain"] == DOMAIN_A and out["domain_unicode"] == DOMAIN_U
                  and out["hosts"][0]["host_unicode"] == "mx." + DOMAIN_U, f"dns mx: {out}")
            submit_all(tx)
            got = deliveries(modern, 2)
            utf8 = [m for m in got if "Subject: idn" in m["data"]][0]
            check(utf8["rcpt_tos"] == [JOSE_U, INFO_U] and "SMTPUTF8" in utf8["mail_options"]
                  and utf8["mail_from"] == "bounce@" + SENDER_U, f"UTF-8 delivery {utf8}")
            eight = [m for m in got if "Subject: 8-bit" in m["data"]][0]
            check(eight["rcpt_tos"] == [INFO_A], f"8-bit delivery {eight['rcpt_tos']}")
            check_seven_bit_and_signed(tx, dns, eight, "to 8BITMIME")
            queried = " ".join(dns.queries())
            check(DOMAIN_A in queried and "\\" not in queried and not any(ord(c) > 127 for c in queried),
                  f"a U-label reached DNS: {queried}")
            check_lookups(tx, dns)
            check_api(tx, modern, len(modern.messages()))
        # 2: the same mail to an MX without SMTPUTF8 and 8BITMIME.
        dns.update(zone("127.0.0.42", []))
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            register_sender_domain(tx, dns, "127.0.0.42")
            submit_all(tx)
            got = deliveries(legacy, 2)
            info = [m for m in got if "Subject: idn" in m["data"]][0]
            check(info["rcpt_tos"] == [INFO_A] and "SMTPUTF8" not in info["mail_options"]
                  and info["mail_from"] == "bounce@" + SENDER_A, f"ASCII delivery {info}")
            check_seven_bit_and_signed(tx, dns, [m for m in got if "Subject: 8-bit" in m["data"]][0],
                                       "to 7-bit only")
            bounce = wait_for("josé's bounce", lambda: [e for e in events_of(tx, JOSE_U) if e["type"] == "BOUNCED"])
            check(bounce[0]["subType"] == "HARD_BOUNCE" and "not ASCII" in bounce[0]["reply"]
                  and "SMTPUTF8" in bounce[0]["reply"], f"bounce {bounce}")
            check(not any(e["type"] == "DELIVERED" for e in events_of(tx, JOSE_U)), "josé delivered")
finally:
    modern.stop()
    legacy.stop()
print("ok")
