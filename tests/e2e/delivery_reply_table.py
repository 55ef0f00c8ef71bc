"""The reply table decides every delivery outcome (issue quality-1, defect 1): for each stage of
the client dialog (connect, greeting, EHLO, STARTTLS, MAIL, RCPT, DATA, end of data) and answer
(4xx, 5xx, no reply), a scripted MX answers that stage so, and delivery must do exactly what
docs/delivery.md's table says (this test reads the table from the docs; a unit test keeps the
docs equal to the code's table): the next MX or not, deferred or bounced, the destination site
backed off or not, with the reply in the event.

Every case is its own domain with two MX hosts on their own loopback addresses, all served by
one asyncio loop here, against one txmail. The first MX answers the case's stage with the
case's answer. The second either takes the mail (then a "next MX" row shows as a delivery via
the second host, and any other row as the second host never being asked) or answers like the
first (a "next MX" row then ends in a deferral with the second host's reply, and the site
backed off). A second message per case shows the back-off: deferred with the site's last
answer and no new question to either host, or, without a back-off, the first MX asked again.
"""
import asyncio
import os
import ssl
import threading
from txmail_harness import *

PORT = free_port()
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/delivery.md")

# What the first MX says at each stage; "none" closes the connection instead.
REPLIES = {
    "greeting": {"4xx": "421 4.3.2 {} busy", "5xx": "554 5.7.1 {} no service"},
    "EHLO/HELO": {"4xx": "450 4.7.1 {} later", "5xx": "550 5.7.1 {} we do not talk to you"},
    "STARTTLS": {"4xx": "454 4.7.0 {} TLS not available", "5xx": "554 5.7.3 {} no TLS here"},
    "MAIL": {"4xx": "451 4.3.0 {} system busy", "5xx": "550 5.7.1 {} sender refused"},
    "RCPT": {"4xx": "450 4.2.1 {} mailbox busy", "5xx": "550 5.1.1 {} no such user"},
    "DATA": {"4xx": "451 4.7.1 {} try later", "5xx": "554 5.5.1 {} no valid recipients"},
    "end of data": {"4xx": "451 4.3.0 {} queue full", "5xx": "554 5.6.0 {} content rejected"},
}
STAGES = ["connect"] + list(REPLIES)


def docs_table():
    lines = open(DOCS).read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("| stage | reply | decision | next MX |"))
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        row = dict(zip(head, [c.strip() for c in line.strip("|").split("|")]))
        row["stages"] = row["stage"].split(", ")
        rows.append(row)
    check(len(rows) > 10, f"no reply table found in {DOCS}")
    return rows


def pattern_matches(pattern, answer, reply):
    if pattern == "no reply":
        return answer == "none"
    if pattern == "extension not offered" or answer == "none":
        return False
    if pattern == "any other reply":
        return True
    code, enhanced = reply.split()[0], reply.split()[1]
    code_pattern, _, rest = pattern.partition(" ")
    if not all(p in ("x", c) for p, c in zip(code_pattern, code)) or len(code_pattern) != len(code):
        return False
    if rest == "without enhanced code":
        return False  # every scripted reply has one
    if rest:
        return all(p in ("x", e) for p, e in zip(rest.split("."), enhanced.split(".")))
    return True


def expected(rows, stage, answer, reply):
    """The first row of the docs' table that matches, as delivery must apply it."""
    for row in rows:
        if stage in row["stages"] and pattern_matches(row["reply"], answer, reply):
            return row
    fail(f"the docs' table has no row for {stage} {answer}")


class ScriptedMx:
    """One MX host: answers like a plain ESMTP server, except `fail_stage`, where it says
    `reply` (or closes the connection when reply is None). `hits` counts the questions at that
    stage, `messages` the mails taken."""

    def __init__(self, name, ip, fail_stage=None, reply=None, tls=None):
        self.name, self.ip, self.fail_stage, self.reply, self.tls = name, ip, fail_stage, reply, tls
        self.hits = 0
        self.connections = 0
        self.messages = 0

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            await self.dialog(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def answer(self, stage, writer, ok):
        """True when the dialog goes on."""
        if stage != self.fail_stage:
            writer.write(ok.encode() + b"\r\n")
            await writer.drain()
            return True
        self.hits += 1
        if self.reply is None:
            return False  # no reply: the connection closes
        writer.write(self.reply.format(self.name).encode() + b"\r\n")
        await writer.drain()
        return stage != "greeting"

    async def dialog(self, reader, writer):
        if not await self.answer("greeting", writer, f"220 {self.name} ESMTP"):
            return
        while True:
            line = (await reader.readline()).decode(errors="replace").rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                tls = self.fail_stage == "STARTTLS" or self.tls is not None
                ok = f"250-{self.name}\r\n" + ("250-STARTTLS\r\n" if tls else "") + "250 8BITMIME"
                go_on = await self.answer("EHLO/HELO", writer, ok)
            elif verb == "STARTTLS":
                go_on = await self.answer("STARTTLS", writer, "220 2.0.0 go ahead")
                if go_on and self.fail_stage != "STARTTLS":
                    await writer.start_tls(self.tls)
            elif verb == "MAIL":
                go_on = await self.answer("MAIL", writer, "250 2.1.0 ok")
            elif verb == "RCPT":
                go_on = await self.answer("RCPT", writer, "250 2.1.5 ok")
            elif verb == "DATA":
                go_on = await self.answer("DATA", writer, "354 go ahead")
                while go_on and (await reader.readline()) not in (b".\r\n", b""):
                    pass
                if go_on:
                    go_on = await self.answer("end of data", writer, "250 2.0.0 queued")
                    if go_on and self.fail_stage != "end of data":
                        self.messages += 1
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            else:  # RSET, NOOP
                writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
                go_on = True
            if not go_on:
                return


class Loop:
    """One asyncio loop in a thread serving every scripted MX."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.servers = []

    def serve(self, mx):
        async def start():
            return await asyncio.start_server(mx.handle, mx.ip, PORT)
        self.servers.append(asyncio.run_coroutine_threadsafe(start(), self.loop).result(10))
        return mx

    def stop(self):
        for s in self.servers:
            self.loop.call_soon_threadsafe(s.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


rows = docs_table()
cert_dir = tempfile.mkdtemp(prefix="txmail-reply-table-")
tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls_context.load_cert_chain(*self_signed(cert_dir, "mx2.test"))

# The cases: (stage, answer, second MX answers like the first).
cases = []
for stage in STAGES:
    for answer in (["none"] if stage == "connect" else ["4xx", "5xx", "none"]):
        reply = REPLIES.get(stage, {}).get(answer, "")
        row = expected(rows, stage, answer, reply)
        for same in ([False, True] if row["next MX"] == "yes" else [False]):
            cases.append(dict(stage=stage, answer=answer, reply=reply, row=row, same=same))

servers = Loop()
zone = "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 60\n"
policies = ""
for n, c in enumerate(cases):
    c["domain"] = domain = f"c{n}.test"
    names = [f"mx1.{domain}", f"mx2.{domain}"]
    ips = [f"127.1.{n}.1", f"127.1.{n}.2"]
    zone += f"c{n} IN MX 10 {names[0]}.\nc{n} IN MX 20 {names[1]}.\n"
    zone += f"mx1.c{n} IN A {ips[0]}\nmx2.c{n} IN A {ips[1]}\n"
    fail_stage = c["stage"] if c["stage"] != "connect" else None
    reply = c["reply"] if c["answer"] != "none" else None
    hosts = []
    for k in (0, 1):
        if c["stage"] == "connect" and (k == 0 or c["same"]):
            hosts.append(None)  # nobody listens: the connection is refused
        elif k == 0 or c["same"]:
            hosts.append(servers.serve(ScriptedMx(names[k], ips[k], fail_stage, reply)))
        else:
            hosts.append(servers.serve(ScriptedMx(names[k], ips[k], tls=tls_context)))
    c["mx"] = hosts
    if c["stage"] == "STARTTLS":  # an opportunistic client would go on in clear text
        policies += f'[[delivery.policy]]\ndomain = "{domain}"\ntls = "required"\n'


def hits(c):
    return [mx.hits if mx else 0 for mx in c["mx"]]


def last_event(tx, job):
    evs = events(tx, job)
    return evs[-1] if evs else None


def describe(c):
    return f"{c['stage']} {c['answer']} (second MX {'alike' if c['same'] else 'good'})"


TYPES = {"deferred": ("DEFERRED", "SOFT_BOUNCE"), "bounced": ("BOUNCED", "HARD_BOUNCE")}

try:
    with DnsServer(zone) as dns:
        delivery = (f'mx_port = {PORT}\nretry_schedule = ["1h"]\nidle_connection = "100ms"\n'
                    f'connect_timeout = "2s"\ncommand_timeout = "5s"\n' + policies)
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery="paused = false\n" + delivery) as tx:
            body = "Subject: reply table\r\n\r\nhello\r\n"
            for c in cases:
                c["job1"] = submit(tx, "a@sender.test", [f"user@{c['domain']}"], body)
            for c in cases:
                e = wait_for(f"the event of {describe(c)}", lambda: last_event(tx, c["job1"]))
                row, mx1, mx2 = c["row"], c["mx"][0], c["mx"][1]
                what = f"{describe(c)}: row {row}, event {e}"
                if row["next MX"] == "yes" and not c["same"]:
                    check(e["type"] == "DELIVERED" and e["remoteHost"].startswith("mx2."), f"no next MX: {what}")
                    check(mx2.messages == 1, f"second MX took {mx2.messages}: {what}")
                    print(f"{describe(c)}: next MX, delivered by {e['remoteHost']}")
                    continue
                check((e["type"], e["subType"]) == TYPES[row["decision"]], f"not {row['decision']}: {what}")
                last = c["mx"][1] if c["same"] else mx1
                if c["answer"] == "none":
                    check(e["reply"], f"no reply text: {what}")
                else:
                    check(c["reply"].format(last.name) in e["reply"], f"reply not in the event: {what}")
                if row["next MX"] == "no":
                    check(mx2.connections == 0, f"the second MX was asked: {what}")
                c["hits1"] = hits(c)
                c["event1"] = e
            # The second message: a back-off defers it at once, else the first MX is asked again.
            second = [c for c in cases if "event1" in c]
            for c in second:
                c["job2"] = submit(tx, "a@sender.test", [f"other@{c['domain']}"], body)
            for c in second:
                e = wait_for(f"the second event of {describe(c)}", lambda: last_event(tx, c["job2"]))
                row = c["row"]
                what = f"{describe(c)}: row {row}, second event {e}"
                if row["decision"] == "deferred" and row["scope"] == "destination site":
                    check(e["type"] == "DEFERRED" and e["reply"].startswith("destination site backed off: ")
                          and c["event1"]["reply"] in e["reply"], f"not backed off: {what}")
                    check(hits(c) == c["hits1"], f"a backed-off site was asked again: {what}")
                    verdict = "backed off"
                else:
                    check((e["type"], e["subType"]) == TYPES[row["decision"]], f"not {row['decision']}: {what}")
                    check(not e["reply"].startswith("destination site backed off"), f"backed off: {what}")
                    wait_for(f"the first MX asked again: {what}", lambda: hits(c)[0] > c["hits1"][0], timeout=10)
                    verdict = "asked again"
                print(f"{describe(c)}: {c['event1']['type']}/{c['event1']['subType']} "
                      f"{c['event1']['reply']!r}, next message: {verdict}")
            print(f"{len(cases)} cases, {len(second)} with a second message")
finally:
    servers.stop()
    shutil.rmtree(cert_dir, ignore_errors=True)
print("ok")
