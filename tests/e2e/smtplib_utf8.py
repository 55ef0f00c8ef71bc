"""Python's smtplib (a real client) submits with SMTPUTF8 and with 8BITMIME; the spool keeps
the bytes intact (an 8-bit body converted to quoted-printable when the header fields are ASCII),
Message-ID and Date are added when missing."""
import base64
import smtplib
import ssl
from txmail_harness import *

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

with Txmail() as tx:
    utf8_msg = ("From: Jos\u00e9 <jos\u00e9@exp\u00e9diteur.test>\r\nTo: \u7528\u6237@\u4f8b\u5b50.test\r\n"
                "Subject: \u00e9t\u00e9 \u2600\r\n\r\nBonjour \u00e0 tous \u2014 \u4f60\u597d\r\n").encode()
    eight_msg = ("From: a@sender.test\r\nTo: b@rcpt.test\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                 "Gr\u00fc\u00dfe aus K\u00f6ln\r\n").encode()
    with smtplib.SMTP("127.0.0.1", tx.ports["submission"], local_hostname="client.test") as s:
        s.starttls(context=ctx)
        s.login("alice", PASSWORD)
        check(s.has_extn("smtputf8") and s.has_extn("8bitmime"), "extensions not offered")
        r1 = s.sendmail("jos\u00e9@exp\u00e9diteur.test", ["\u7528\u6237@\u4f8b\u5b50.test"], utf8_msg,
                        mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        r2 = s.sendmail("a@sender.test", ["b@rcpt.test", "c@rcpt.test"], eight_msg, mail_options=["BODY=8BITMIME"])
        check(r1 == {} and r2 == {}, "recipients refused")
    # smtps (port 465, implicit TLS)
    with smtplib.SMTP_SSL("127.0.0.1", tx.ports["submissions"], local_hostname="client.test", context=ctx) as s:
        s.login("alice", PASSWORD)
        s.sendmail("a@sender.test", ["d@rcpt.test"], b"Subject: via 465\r\n\r\nimplicit TLS\r\n")
    tx.stop()
    jobs = tx.spool(messages=True)
    check(len(jobs) == 3, f"{len(jobs)} jobs spooled")
    by_sender = {j["sender"]: j for j in jobs}
    u = by_sender["jos\u00e9@exp\u00e9diteur.test"]
    check(u["smtputf8"] and u["recipients"][0]["address"] == "\u7528\u6237@\u4f8b\u5b50.test", "UTF-8 envelope")
    msg = base64.b64decode(u["message_b64"])
    check(msg.endswith(utf8_msg), "UTF-8 message bytes")
    check(b"\r\nMessage-ID: <" in msg and b"\r\nDate: " in msg, "Message-ID/Date not added")
    e = by_sender["a@sender.test"] if by_sender["a@sender.test"]["size"] > 0 else None
    eight = [j for j in jobs if j["sender"] == "a@sender.test" and len(j["recipients"]) == 2][0]
    # An 8-bit body is stored converted to 7-bit (quoted-printable), ready for any server
    # (docs/delivery.md, "8-bit content"); the UTF-8 message above cannot be (its header
    # fields are UTF-8) and is kept as sent.
    check(not eight["eight_bit"] and u["eight_bit"], "8-bit flags after conversion")
    stored = base64.b64decode(eight["message_b64"])
    check(all(b < 0x80 for b in stored), "8-bit octets stored")
    check(stored.endswith(eight_msg.replace(b"Encoding: 8bit", b"Encoding: quoted-printable").replace(
        "Gr\u00fc\u00dfe aus K\u00f6ln".encode(), b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln")), "converted message bytes")
    implicit = [j for j in jobs if j["recipients"][0]["address"] == "d@rcpt.test"][0]
    check(b"with ESMTPSA (TLSv1.3" in base64.b64decode(implicit["message_b64"]).replace(b"\r\n\t", b" "),
          "implicit TLS not recorded in Received")
print("ok")
