"""DKIM interoperability (issue core-3): a customer account registers its domain with
`txmail domain add` while the node runs, publishes the records it is given in a real DNS server,
`txmail domain verify` finds them, and then 45 varied messages submitted over SMTP (folded and
long headers, 8-bit and UTF-8 bodies and headers, empty bodies, trailing blank lines, long lines,
multipart with attachments, text of 1 KiB, 100 KiB and 20 MB, a customer's own signature) are
delivered to the MX with an RSA and an Ed25519 signature each. Every signature verifies with
python3-dkim and with Perl's Mail::DKIM (RSA only: Debian 12's Mail::DKIM has no Ed25519); a
changed body or header makes both fail. `txmail dkim verify` agrees."""
import base64
import json
import random
import smtplib
import subprocess
from txmail_harness import *
from dkim_check import perl_verdicts, python_verdicts
import dkim as pydkim

ACCOUNTS = f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\n'
SIZES = (1024, 102400, 20_000_000)
# Tampered copies of messages this long are left out: each verification of the 20 MB one takes
# seconds, and the other messages already show that a change fails.
TAMPER_LIMIT = 1_000_000



def cli(tx, *args):
    out = subprocess.run([TXMAIL, *args, "--config", tx.config, "--json"], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"txmail {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout)


def text_body(size, rnd):
    """Typical text mail of exactly `size` bytes: lines of up to about 76 characters, some with
    white space at the end, a double space or a tab inside, paragraphs between empty lines."""
    words = ["Thank", "you", "for", "your", "order.", "The", "invoice", "for", "November", "is",
             "attached;", "payment", "is", "due", "within", "30", "days.", "Regards,", "Grüße"]
    lines, total = [], 0
    while size - total > 160:
        line = ""
        while len(line) < 60 + rnd.randrange(14):
            sep = rnd.choice(["  ", "\t"]) if line and rnd.random() < 0.03 else (" " if line else "")
            line += sep + rnd.choice(words)
        line += rnd.choice(["", "", "", "", " ", " \t", "   "])
        line = line.encode("utf-8")[:76].decode("utf-8", "ignore") + "\r\n"
        if rnd.random() < 0.1:
            line += "\r\n"
        lines.append(line)
        total += len(line.encode("utf-8"))
    lines.append("x" * (size - total - 2) + "\r\n")
    return "".join(lines)


def messages():
    """(mail_options, rcpt_options, bytes) for 45 messages of many shapes, From shop.test."""
    rnd = random.Random(7)
    out = []
    def add(headers, body, utf8=False, eight_bit=False):
        msg = (headers + "\r\n" + body).encode("utf-8")
        opts = (["SMTPUTF8"] if utf8 else []) + (["BODY=8BITMIME"] if eight_bit or utf8 else [])
        out.append((opts, msg))
    base = "From: Shop <orders@shop.test>\r\nTo: Customer <c@dest.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    for i in range(6):  # plain text, assorted white space
        add(base + f"Subject: plain {i}\r\nMessage-ID: <p{i}@shop.test>\r\n",
            "Hello,\r\n" + " \t spaced   words \t\r\n" * i + "Bye\r\n")
    for i in range(4):  # long subjects folded over several lines, header white space
        subject = " ".join(f"word{j}" for j in range(40 + 10 * i))
        folded = "\r\n\t".join(subject[k:k + 60] for k in range(0, len(subject), 60))
        add(base + f"Subject:   {folded}  \r\nX-Tab:\tvalue\t with\ttabs\r\n", "folded header test\r\n")
    for i in range(5):  # 8-bit UTF-8 bodies
        add(base + f"Subject: 8bit {i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n", "Grüße aus Zürich – ½ € ✓ 日本語\r\n" * (i + 1), eight_bit=True)
    for i in range(4):  # raw UTF-8 headers (SMTPUTF8)
        add(f"From: Bücher <orders@shop.test>\r\nTo: Jürgen <c@dest.test>\r\nSubject: Ärger {i} – ok\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n", "Inhalt ö\r\n", utf8=True)
    for i in range(2):  # RFC 2047 encoded headers
        add(base + f"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_{i}?=\r\n", "encoded subject\r\n")
    add(base + "Subject: empty body\r\n", "")
    add(base + "Subject: only blank lines\r\n", "\r\n\r\n\r\n")
    add(base + "Subject: trailing blank lines\r\n", "text\r\n\r\n\r\n\r\n")
    add(base + "Subject: no final newline\r\n", "last line without CRLF")
    for n in (200, 500, 990):  # long lines
        add(base + f"Subject: long line {n}\r\n", "x" * n + "\r\n" + "y " * (n // 2) + "\r\n")
    add(base + "Subject: dots\r\n", ".leading dot\r\n..two dots\r\n.\r\n ..\r\nend\r\n")
    for i in range(5):  # multipart with attachments
        boundary = f"b{i}xyz"
        attachment = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(3000 * (i + 1)))).decode()
        attachment = attachment.replace("\n", "\r\n")
        body = (f"--{boundary}\r\nContent-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n"
                f"--alt{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain part {i}\r\n"
                f"--alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html part {i}</p>\r\n--alt{i}--\r\n"
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename=\"f{i}.bin\"\r\n\r\n{attachment}--{boundary}--\r\n")
        add(base + f"Subject: attachment {i}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n", body)
    add("from: orders@shop.test\r\nTO: c@dest.test\r\nSUBJECT: odd case\r\nreply-to: help@shop.test\r\n"
        "In-Reply-To: <a@x.test>\r\nReferences: <a@x.test>\r\n <b@x.test>\r\n\t<c@x.test>\r\n"
        "List-Unsubscribe: <https://shop.test/u?x=1>,\r\n <mailto:u@shop.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        "case and list headers\r\n")
    add(base + "Cc: " + ",\r\n ".join(f"cc{j}@dest.test" for j in range(30)) + "\r\nSubject: many cc\r\n", "cc\r\n")
    add(base + "Subject: duplicate headers\r\nX-Dup: 1\r\nX-Dup: 2\r\nComments: one\r\nComments: two\r\n", "dups\r\n")
    add(base + "Subject: html only\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n",
        "<html>\r\n  <body>   spaced   </body>\r\n</html>   \r\n")
    add(base + "Subject: quoted-printable\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n",
        "caf=C3=A9 =\r\nsoft break\r\n")
    add(base + "Subject: crlf runs\r\n", "a\r\n\r\n\r\nb\r\n \r\n\t\r\nc\r\n")
    add(base + "Subject: big\r\n", ("0123456789" * 99 + "\r\n") * 200)
    # The sizes issue perf-1 names (the vectorized body canonicalization): 1 KiB, 100 KiB and
    # 20 MB of text, each message exactly that long.
    for size in SIZES:
        head = base + f"Subject: text of {size} bytes\r\nContent-Type: text/plain; charset=utf-8\r\n" \
               "Content-Transfer-Encoding: 8bit\r\n"
        add(head, text_body(size - len(head.encode()) - 2, random.Random(size)), eight_bit=True)
        check(len(out[-1][1]) == size, f"text of {size} bytes is {len(out[-1][1])} long")
    add(base + "Subject: signed by the customer too\r\n", "their signature stays\r\n")  # last: see below
    return out


sink = Sink("127.0.0.31", free_port())
try:
    with DnsServer(txt_zone([])) as dns:
        delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.31:{sink.port}"\n'
        extra = (f'[dns]\nservers = ["{dns.address}"]\n[dkim]\ned25519 = true\n[publish]\nzone = "svc.test"\n')
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            added = cli(tx, "domain", "add", "shop.test", "--account", "shop")
            check([k["state"] for k in added["keys"]] == ["pending", "pending"], f"keys {added['keys']}")
            records = {r["purpose"] + ":" + r["name"]: r for r in added["records"]}
            check(records["spf:shop.test"]["value"] == "v=spf1 include:_spf.svc.test ~all", f"{records}")
            # Unverified: the strict account may not send yet.
            s = smtplib.SMTP("127.0.0.1", tx.ports["submission"], timeout=20)
            s.starttls()
            s.login("shop", PASSWORD)
            early = b"From: orders@shop.test\r\nTo: c@dest.test\r\nSubject: too early\r\n\r\nx\r\n"
            try:
                s.sendmail("bounce@shop.test", ["c@dest.test"], early)
                fail("an unverified domain could send")
            except smtplib.SMTPDataError as e:
                check(e.smtp_code == 550 and b"5.7.1" in e.smtp_error and b"not verified" in e.smtp_error, f"{e}")
            s.quit()
            # Publish what txmail asked for (plus a customer key for their own signature).
            customer_key = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                                          capture_output=True, check=True).stdout
            customer_pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=customer_key,
                                          capture_output=True, check=True).stdout
            published = [(r["name"], r["value"]) for r in added["records"]]
            published.append(("own._domainkey.customer.test", "v=DKIM1; k=rsa; p=" + base64.b64encode(customer_pub).decode()))
            dns.update(txt_zone(published))
            verified = cli(tx, "domain", "verify", "shop.test")
            check(verified["verified"], f"not verified: {verified['records']}")
            check([k["state"] for k in verified["keys"]] == ["active", "active"], f"{verified['keys']}")

            msgs = messages()
            check(len(msgs) >= 40, f"only {len(msgs)} messages")
            s = smtplib.SMTP("127.0.0.1", tx.ports["submission"], timeout=30)
            s.starttls()
            s.login("shop", PASSWORD)
            for i, (opts, msg) in enumerate(msgs):
                if i == len(msgs) - 1:  # a message the customer signed: theirs stays, ours is added
                    msg = pydkim.sign(msg, b"own", b"customer.test", customer_key) + msg
                s.sendmail("bounce@shop.test", ["c@dest.test"], msg, mail_options=opts)
            s.quit()
            got = wait_for("all deliveries", lambda: len(sink.messages()) >= len(msgs) and sink.messages(), timeout=120)
            for size in SIZES:
                check(any(f"Subject: text of {size} bytes\r\n" in m["data"] for m in got), f"no text of {size} bytes")

            paths, tampered_paths = [], []
            for i, m in enumerate(got):
                data = m["data"].encode("utf-8", "surrogateescape")
                check(data.count(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.test; s=txm1;") == 1,
                      f"message {i}: no RSA signature of ours")
                check(b"a=ed25519-sha256; c=relaxed/relaxed; d=shop.test; s=txm1e;" in data, f"message {i}: no Ed25519")
                verdicts = python_verdicts(data, dns.port)
                ours = [v for v in verdicts if v[0] == "shop.test"]
                check(len(ours) == 2 and all(v[2] for v in verdicts), f"message {i}: python3-dkim says {verdicts}")
                path = os.path.join(tx.dir, f"delivered-{i}.eml")
                with open(path, "wb") as f:
                    f.write(data)
                paths.append(path)
                if len(data) > TAMPER_LIMIT:
                    continue
                # Tampered copies: one word of the body, then one signed header.
                head, _, body = data.partition(b"\r\n\r\n")
                changed_body = head + b"\r\n\r\n" + (body.replace(b"e", b"E", 1) if b"e" in body else body + b"extra\r\n")
                changed_head = head.replace(b"Subject:", b"Subject: [changed]", 1).replace(
                    b"SUBJECT:", b"SUBJECT: [changed]", 1) + b"\r\n\r\n" + body
                for kind, bad in (("body", changed_body), ("header", changed_head)):
                    bad_verdicts = [v for v in python_verdicts(bad, dns.port) if v[0] == "shop.test"]
                    check(bad_verdicts and not any(v[2] for v in bad_verdicts),
                          f"message {i}: python3-dkim accepts a changed {kind}: {bad_verdicts}")
                    p = os.path.join(tx.dir, f"tampered-{kind}-{i}.eml")
                    with open(p, "wb") as f:
                        f.write(bad)
                    tampered_paths.append(p)
            # Debian 12's Mail::DKIM (1.20230212) predates its Ed25519 support: it must pass every
            # RSA signature and call the Ed25519 one unsupported, nothing else.
            unsupported = ("invalid", "invalid_(unsupported_algorithm_ed25519-sha256)")
            perl = perl_verdicts(paths + tampered_paths, dns.port)
            for p in paths:
                rsa = [v for v in perl[p] if v[1] != "txm1e"]
                ed = [v for v in perl[p] if v[1] == "txm1e"]
                check(("shop.test", "txm1", "pass") in [v[:3] for v in rsa] and all(v[2] == "pass" for v in rsa)
                      and [v[2:] for v in ed] == [unsupported], f"{p}: Mail::DKIM says {perl[p]}")
            for p in tampered_paths:
                ours = [v for v in perl[p] if v[:2] == ("shop.test", "txm1")]
                check(ours and all(v[2] == "fail" for v in ours), f"{p}: Mail::DKIM accepts it: {perl[p]}")
            signed_by_customer = [p for p in paths if b"d=customer.test" in open(p, "rb").read()]
            check(len(signed_by_customer) == 1, "the customer-signed message is missing")
            customer = perl[signed_by_customer[0]]
            check(("customer.test", "own") in [(v[0], v[1]) for v in customer if v[2] == "pass"],
                  f"the customer's own signature was not kept intact: {customer}")
            # txmail's own verifier agrees, through DNS.
            out = subprocess.run([TXMAIL, "dkim", "verify", paths[0], "--config", tx.config, "--json"],
                                 capture_output=True, text=True, timeout=30)
            check(out.returncode == 0 and all(v["ok"] for v in json.loads(out.stdout)), f"dkim verify: {out.stdout}{out.stderr}")
            out = subprocess.run([TXMAIL, "dkim", "verify", tampered_paths[0], "--config", tx.config],
                                 capture_output=True, text=True, timeout=30)
            check(out.returncode == 1 and "body hash mismatch" in out.stdout, f"dkim verify of a changed body: {out.stdout}")
            check(tx.stop() == 0, "txmail did not stop cleanly")
finally:
    sink.stop()
print("ok")
