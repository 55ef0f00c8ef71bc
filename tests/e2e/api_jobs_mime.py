"""REST composition (issue core-4, acceptance 1): 30 varied jobs (UTF-8 and emoji subjects and
names, right-to-left text, long lines, binary attachments, inline images, Cc and Bcc, 1,000
recipients) are posted to /v2/jobs; each composed message is read from the spool and parsed
back with Python's email package (policy.default) and with Perl MIME-tools: every part, file
name, charset and header equals what was sent, and no Bcc address appears anywhere."""
import base64
import email
import email.policy
import os
import random
import re
import subprocess
from txmail_harness import *

LIB = os.path.dirname(os.path.abspath(__import__("txmail_harness").__file__))
rng = random.Random(20261128)


def b64(data):
    return base64.b64encode(data).decode()


def att(name, ctype, data, cid=None):
    a = {"name": name, "contentType": ctype, "content": b64(data)}
    if cid:
        a["contentId"] = cid
    return a


def rcpt(addr, name=None):
    return {"email": f"{name} <{addr}>" if name is not None else addr}


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + bytes(rng.randrange(256) for _ in range(300))
BINARY = bytes(rng.randrange(256) for _ in range(100_000))
ARABIC = "مرحبا بالعالم، هذه رسالة تجريبية"
HEBREW = "שלום עולם, זו הודעת בדיקה"
CJK = "这是一个很长的中文句子，用来测试主题行的编码和折叠。" * 12

cases = []


def case(subject, text=None, html=None, attachments=(), to=(), cc=(), bcc=(), frm="Sender <from@sender.test>",
         extra_mail=None, blocks=None, body_encoding=None):
    job = {"subject": {"content": subject}, "mail": {"from": {"email": frm}}}
    if html is not None:
        job["body"] = {"contentType": "text/html", "content": html}
        if text is not None:
            job["alternative"] = {"content": text}
    elif text is not None:
        job["body"] = {"contentType": "text/plain", "content": text}
    if body_encoding == "base64":
        job["body"]["contentEncoding"] = "base64"
        job["body"]["content"] = b64(job["body"]["content"].encode())
    if attachments:
        job["attachments"] = list(attachments)
    if blocks is None:
        mail = {}
        if to:
            mail["to"] = list(to)
        if cc:
            mail["cc"] = list(cc)
        if bcc:
            mail["bcc"] = list(bcc)
        mail.update(extra_mail or {})
        blocks = [{"mail": mail}]
    job["recipients"] = blocks
    cases.append((job, text, html))


A = rcpt("a@dest.test", "Anna")
case("plain ascii", text="Hello,\nthis is plain text.\n", to=[A])
case("html only", html="<html><body><p>Hello <b>world</b></p></body></html>", to=[A])
case("alternative", text="Plain version\n", html="<p>HTML version</p>", to=[A])
case("Grüße aus München 🎉🚀 emoji subject", text="Ünïcödé body 🎉\n", to=[rcpt("b@dest.test", "Zoë 🦄 Ñoño")])
case(ARABIC, text=ARABIC + "\n" + HEBREW + "\n", to=[rcpt("rtl@dest.test", "محمد")])
case("long line", text="x" * 5000 + "\nshort\n" + "y " * 3000, to=[A])
case(" ".join(["word"] * 99)[:500], text="subject of 500 characters", to=[A])
case(CJK[:500], text=CJK, to=[A])
case("binary attachment", text="see attached", attachments=[att("random.bin", "application/octet-stream", BINARY)], to=[A])
case("non-ascii file names", text="files", to=[A], attachments=[
    att("rapport été 2026 — très long nom de fichier avec beaucoup d'accents éèêë.pdf", "application/pdf", b"%PDF-1.4 fake"),
    att("日本語のファイル名.txt", "text/plain", "中身".encode()),
    att("Ünïcödé.csv", "text/csv", b"a,b\n1,2\n")])
case("inline image", html='<p>Logo: <img src="cid:logo@x"></p>', attachments=[att("logo.png", "image/png", PNG, "logo@x")], to=[A])
case("everything", text="text alt", html='<p><img src="cid:img1"></p>', to=[A],
     attachments=[att("logo.png", "image/png", PNG, "img1"), att("data.bin", "application/octet-stream", BINARY[:5000])])
case("cc and bcc", text="cc bcc", to=[A], cc=[rcpt("c1@dest.test", "Carbon One"), rcpt("c2@dest.test")],
     bcc=[rcpt("hidden1@bcc.test", "Hidden Person"), rcpt("hidden2@bcc.test")])
case("thousand recipients", text="many", to=[rcpt(f"to{i}@dest.test", f"To {i}") for i in range(400)],
     cc=[rcpt(f"cc{i}@dest.test") for i in range(300)], bcc=[rcpt(f"bcc{i}@bcc.test") for i in range(300)])
case("quotes in names", text="names", to=[rcpt("q@dest.test", '"Doe, John \\"JD\\""'), rcpt("r@dest.test", "O'Brien (Work)")])
case("reply to", text="reply", to=[A], extra_mail={"replyTo": {"email": "Replies Désk <reply@sender.test>"},
                                                   "inReplyTo": "<orig-123@sender.test>"})
case("x headers", text="x", to=[A], extra_mail={"xHeaders": {"X-Campaign": "spring 2026", "X-Unicode": "välue ✓"},
                                                 "priority": "HIGH", "listUnsubscribe": "https://shop.test/u?id=1&x=2"})
case("priority and unsubscribe", text="p", to=[A], extra_mail={"priority": "LOW", "listUnsubscribe": "mailto:unsub@sender.test"})
case("base64 body input", text="décodé depuis base64\n", to=[A], body_encoding="base64")
case("dots and From", text=".leading dot\n..two dots\nFrom the start\n.\n", to=[A])
case("trailing spaces", text="line with trailing spaces   \nand tab\t\nend\n", to=[A])
case("equals =?UTF-8?B?Zm9v?= literal", text="a = b\n=?not a word?=\n=3D\n", to=[A])
case("attachments only", attachments=[att("only.txt", "text/plain", b"just a file\n")], to=[A])
case("ascii quote filename", text="q", to=[A], attachments=[att('we"ird\\name.txt', "text/plain", b"q")])
case("中文长文本", text=CJK * 3, to=[A])
case("Mixed ελληνικά русский עברית", text="tabs\there\tand\tthere\n", to=[A])
case("line endings", text="crlf\r\nlf\ncr\rend", to=[A])
case("several blocks", text="blocks", blocks=[
    {"mail": {"to": [rcpt("blk1@dest.test", "Block One")], "xHeaders": {"X-Block": "one"}}},
    {"mail": {"to": [rcpt("blk2@dest.test")], "bcc": [rcpt("hidden3@bcc.test")]}},
    {"mail": {"to": [rcpt("blk3@dest.test"), rcpt("blk4@dest.test", "Four")]}}])
case("html with long lines and unicode", html="<p>" + ("Ünïcödé " * 400) + "</p>", text="alt " * 500, to=[A])
case("envelope and header senders", text="senders", to=[A],
     frm="Envelope <bounce@sender.test>")
check(len(cases) == 30, f"{len(cases)} cases")
# The last case has distinct envelope and header senders.
cases[-1][0]["mail"]["mimeFrom"] = {"email": "Hëader Sender <news@sender.test>"}


def norm(s):
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return s[:-1] if s.endswith("\n") else s


def expected_mailboxes(entries):
    out = []
    for e in entries:
        v = e["email"]
        if "<" in v:
            name, addr = v.rsplit("<", 1)
            name = name.strip()
            if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out.append((name, addr.rstrip(">")))
        else:
            out.append(("", v))
    return out


def check_python(msg_bytes, job, text, html, block, where, job_id):
    m = email.message_from_bytes(msg_bytes, policy=email.policy.default)
    check(str(m["Subject"]) == job["subject"]["content"], f"{where}: subject {str(m['Subject'])[:80]!r}")
    mail = block["mail"]
    for field, key in (("To", "to"), ("Cc", "cc")):
        want = expected_mailboxes(mail.get(key, []))
        got = [(a.display_name, a.addr_spec) for a in m[field].addresses] if m[field] else []
        check(got == want, f"{where}: {field} {got[:3]} != {want[:3]}")
    check(m["Bcc"] is None, f"{where}: a Bcc header")
    hdr_from = job["mail"].get("mimeFrom", job["mail"]["from"])
    want_from = expected_mailboxes([hdr_from])
    got_from = [(a.display_name, a.addr_spec) for a in m["From"].addresses]
    check(got_from == want_from, f"{where}: From {got_from} != {want_from}")
    for k, v in mail.get("xHeaders", {}).items():
        check(str(m[k]) == v, f"{where}: {k} {m[k]!r}")
    if "replyTo" in mail:
        check([(a.display_name, a.addr_spec) for a in m["Reply-To"].addresses] == expected_mailboxes([mail["replyTo"]]), f"{where}: Reply-To")
        check(str(m["In-Reply-To"]) == mail["inReplyTo"], f"{where}: In-Reply-To")
    if mail.get("priority") == "LOW":
        check(str(m["X-Priority"]).startswith("5") and str(m["Importance"]) == "low", f"{where}: priority")
    if mail.get("priority") == "HIGH":
        check(str(m["X-Priority"]).startswith("1") and str(m["Importance"]) == "high", f"{where}: priority")
    if "listUnsubscribe" in mail:
        check(str(m["List-Unsubscribe"]) == "<" + mail["listUnsubscribe"] + ">", f"{where}: List-Unsubscribe")
        one_click = mail["listUnsubscribe"].startswith("https://")
        check((str(m["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click") if one_click
              else m["List-Unsubscribe-Post"] is None, f"{where}: one-click (RFC 8058) only for https")
    if "priority" not in mail:
        check(m["X-Priority"] is None and m["Importance"] is None, f"{where}: a priority nobody asked for")
    check(m["Message-ID"] and re.fullmatch(r"<\d{8}-\d{6}\." + re.escape(job_id) + r"#[0-9a-f]{8}#[0-9a-f]{8}@txmail\.test>",
                                           str(m["Message-ID"])), f"{where}: Message-ID {m['Message-ID']}")
    check(m["Message-ID"] is not None and m["Date"] is not None and str(m["MIME-Version"]) == "1.0", f"{where}: ids")
    if text is not None:
        part = m.get_body(preferencelist=("plain",))
        check(part is not None, f"{where}: no text/plain part")
        check(norm(part.get_content()) == norm(text), f"{where}: text differs")
        check(part.get_content_charset() == "utf-8", f"{where}: text charset {part.get_content_charset()}")
    if html is not None:
        part = m.get_body(preferencelist=("html",))
        check(part is not None, f"{where}: no text/html part")
        check(norm(part.get_content()) == norm(html), f"{where}: html differs")
    atts = job.get("attachments", [])
    leaves = [p for p in m.walk() if not p.is_multipart() and p.get_filename() is not None]
    check(len(leaves) == len(atts), f"{where}: {len(leaves)} attachments, sent {len(atts)}")
    for a, p in zip(atts, leaves):
        check(p.get_filename() == a["name"], f"{where}: filename {p.get_filename()!r} != {a['name']!r}")
        check(p.get_content_type() == a["contentType"], f"{where}: type {p.get_content_type()}")
        check(p.get_payload(decode=True) == base64.b64decode(a["content"]), f"{where}: attachment bytes of {a['name']!r}")
        if "contentId" in a:
            check(str(p["Content-ID"]) == "<" + a["contentId"] + ">", f"{where}: Content-ID {p['Content-ID']}")
            if html is not None:
                related = [x for x in m.walk() if x.get_content_type() == "multipart/related"]
                check(related and any(y is p for y in related[0].iter_parts()), f"{where}: inline part outside multipart/related")
    for line in msg_bytes.split(b"\r\n"):
        check(len(line) <= 998, f"{where}: a line of {len(line)} octets")
    check(b"\n" not in msg_bytes.replace(b"\r\n", b""), f"{where}: bare LF")


def check_perl(path, job, text, html, block, where):
    out = subprocess.run(["perl", os.path.join(LIB, "mime_parts.pl"), path], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"{where}: MIME-tools failed: {out.stderr}")
    got = json.loads(out.stdout)
    dec = lambda k: base64.b64decode(got[k]).decode() if k in got else None
    check(dec("subject") == job["subject"]["content"], f"{where}: MIME-tools subject {dec('subject')[:80]!r}")
    check("bcc" not in got, f"{where}: MIME-tools found Bcc")
    parts = got["parts"]
    if text is not None:
        tp = [p for p in parts if p["type"] == "text/plain" and not p["has_filename"]]
        check(tp and norm(base64.b64decode(tp[0]["body"]).decode()) == norm(text), f"{where}: MIME-tools text")
        check(tp[0]["charset"].lower() == "utf-8", f"{where}: MIME-tools charset")
    if html is not None:
        hp = [p for p in parts if p["type"] == "text/html"]
        check(hp and norm(base64.b64decode(hp[0]["body"]).decode()) == norm(html), f"{where}: MIME-tools html")
    files = [p for p in parts if p["has_filename"]]
    atts = job.get("attachments", [])
    check(len(files) == len(atts), f"{where}: MIME-tools found {len(files)} attachments")
    for a, p in zip(atts, files):
        name = base64.b64decode(p["filename"]).decode()
        check(name == a["name"], f"{where}: MIME-tools filename {name!r} != {a['name']!r}")
        check(p["type"] == a["contentType"], f"{where}: MIME-tools type {p['type']}")
        check(base64.b64decode(p["body"]) == base64.b64decode(a["content"]), f"{where}: MIME-tools bytes of {a['name']!r}")
        if "contentId" in a:
            check(p["cid"] == "<" + a["contentId"] + ">", f"{where}: MIME-tools Content-ID {p['cid']}")


with Txmail() as tx:
    posted = []
    for i, (job, text, html) in enumerate(cases):
        r = http(tx, "POST", "/v2/jobs", job, user="alice")
        check(r.status == 202, f"case {i}: {r}")
        statuses = {x["status"] for x in r.json["recipients"]}
        check(statuses == {"ACCEPTED"}, f"case {i}: {statuses}")
        posted.append(r.json)
    records = tx.spool(messages=True)
    by_mail = {}
    for rec in records:
        for rc in rec["recipients"]:
            by_mail[rc["mail_id"]] = rec
    tmp = os.path.join(tx.dir, "msg.eml")
    checked = 0
    for i, ((job, text, html), answer) in enumerate(zip(cases, posted)):
        job_id = answer["jobId"]
        ids = [x["mailId"] for x in answer["recipients"]]
        check(len(ids) == sum(len(b["mail"].get(k, [])) for b in job["recipients"] for k in ("to", "cc", "bcc")),
              f"case {i}: {len(ids)} mail ids")
        for bi, block in enumerate(job["recipients"]):
            first = f"{job_id}#{bi:08x}#00000000"
            rec = by_mail.get(first)
            check(rec is not None, f"case {i} block {bi}: not in the spool")
            raw = base64.b64decode(rec["message_b64"])
            want_rcpts = sorted(e.split("<")[-1].rstrip(">") for k in ("to", "cc", "bcc") for e in
                                (x["email"] for x in block["mail"].get(k, [])))
            check(sorted(x["address"] for x in rec["recipients"]) == want_rcpts, f"case {i} block {bi}: envelope recipients")
            check(rec["sender"] == job["mail"]["from"]["email"].split("<")[-1].rstrip(">"), f"case {i}: envelope sender")
            for b in job["recipients"]:
                for hidden in b["mail"].get("bcc", []):
                    addr = hidden["email"].split("<")[-1].rstrip(">")
                    check(addr.encode() not in raw, f"case {i}: Bcc address {addr} in the message")
                    if "<" in hidden["email"]:
                        check(b"Hidden Person" not in raw, f"case {i}: Bcc name in the message")
            where = f"case {i} ({job['subject']['content'][:30]!r}) block {bi}"
            check_python(raw, job, text, html, block, where, job_id)
            with open(tmp, "wb") as f:
                f.write(raw)
            check_perl(tmp, job, text, html, block, where)
            checked += 1
    check(checked == 32, f"{checked} messages checked")
print("ok")
