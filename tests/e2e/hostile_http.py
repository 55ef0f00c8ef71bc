"""Hostile HTTP clients and password guessers (issue harden-1, defects 5 and 6, and item 8's
Expect and chunk size): partial headers from one address no longer keep other clients out
(a per-address limit, a deadline for the whole header, health checks answered beyond the
connection limit); wrong passwords for one account lock out only that account from that
address (never another account, never the admin token), and X-Forwarded-For counts only from
a configured proxy."""
import base64
from txmail_harness import *

ACCOUNTS = "".join(f'[[account]]\nname = "{n}"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
                   for n in ("alice", "bob"))
HTTP = 'max_connections_per_ip = 20\nheader_timeout = "4s"\nmax_connections = 40\ntrusted_proxies = ["127.0.0.7/32"]\n'


def partial(tx, source):
    s = socket.create_connection(("127.0.0.1", tx.ports["http"]), timeout=10, source_address=(source, 0))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return s


def basic(user, password=PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


with Txmail(accounts=ACCOUNTS, http_settings=HTTP, tls_files=True) as tx:
    # Defect 5: partial requests from one address take its share (20), not everyone's: of 25,
    # five are refused at once, saying why.
    held = [partial(tx, "127.0.0.1") for _ in range(25)]
    for s in held:
        s.setblocking(False)

    answers = {}

    def refused_ones():
        for s in held:
            try:
                data = s.recv(4096)
                if data:
                    answers[s] = answers.get(s, b"") + data
            except (BlockingIOError, OSError):
                pass
        out = [s for s in held if answers.get(s, b"").startswith(b"HTTP/1.1 503")]
        return out if len(out) >= 5 else None
    refused = wait_for("five of 25 partial requests from one address refused", refused_ones, timeout=5)
    check(len(refused) == 5, f"{len(refused)} refused, want 5 (limit 20)")
    check(all(b"too many connections from your address" in answers[s] for s in refused), "the refusal says why")
    busy = raw_http(tx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.1")
    check(busy.startswith(b"HTTP/1.1 503"), f"one more from the same address: {busy[:80]!r}")
    check(http(tx, "GET", "/healthz", source="127.0.0.3").status == 200, "another address is kept out")
    held = [s for s in held if s not in refused]
    for s in held:
        s.setblocking(True)
    # The whole header must come within header_timeout (4 s): the partial ones are closed.
    t0 = time.time()
    for s in held:
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    took = time.time() - t0
    check(took < 7, f"partial headers were held {took:.1f}s (header_timeout 4s)")
    check(http(tx, "GET", "/healthz", source="127.0.0.1").status == 200, "the address is served again")
    print(f"25 partial headers from one address: 5 refused at once, others served, the rest closed in {took:.1f}s")

    # Health checks are answered beyond the connection limit (40 in all).
    held = [partial(tx, f"127.0.0.{10 + i // 20}") for i in range(40)]
    over = wait_for("a request past the connection limit refused", lambda: (lambda a: a.startswith(
        b"HTTP/1.1 503") and a)(raw_http(tx, b"GET /v2/jobs/x HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.30")),
        timeout=5)
    health = raw_http(tx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.30")
    check(health.startswith(b"HTTP/1.1 200"), f"a health check past the limit: {health[:80]!r}")
    for s in held:
        s.close()
    # The server counts a connection until it has read the close: wait until it has.
    wait_for("the held connections released", lambda: not raw_http(
        tx, b"GET /v2/jobs/x HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.30").startswith(b"HTTP/1.1 503"))

    # Expect: 100-continue without credentials: 401, no invitation to send the body.
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 401"), f"Expect without credentials: {answer[:80]!r}")
    # ... and with a wrong password: 401 too, still before any body.
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + b"Authorization: " + basic("bob", "not-his")["Authorization"].encode()
                     + b"\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n", source="127.0.0.40")
    check(answer.startswith(b"HTTP/1.1 401"), f"Expect with a wrong password: {answer[:80]!r}")
    # The right password is invited to send its body.
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + b"Authorization: " + basic("bob")["Authorization"].encode()
                     + b"\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", source="127.0.0.40")
    check(answer.startswith(b"HTTP/1.1 100"), f"Expect with the right password: {answer[:80]!r}")
    # Without Expect, a large body is not read before the credentials are checked either: the
    # 401 comes after the headers alone (the 1 MB body is never sent).
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 401"), f"a large body without credentials: {answer[:80]!r}")
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 401"), f"a chunked body without credentials: {answer[:80]!r}")
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + b"Authorization: " + basic("bob", "not-his")["Authorization"].encode()
                     + b"\r\nContent-Length: 1000000\r\n\r\n", source="127.0.0.41")
    check(answer.startswith(b"HTTP/1.1 401"), f"a large body with a wrong password: {answer[:80]!r}")
    # A small body without credentials is read and answered 401 as before.
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2\r\n\r\n{}")
    check(answer.startswith(b"HTTP/1.1 401"), f"a small body without credentials: {answer[:80]!r}")
    # A chunk size that overflows: 400, not a silent close.
    answer = raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + b"Authorization: " + basic("alice")["Authorization"].encode()
                     + b"\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx\r\n")
    check(answer.startswith(b"HTTP/1.1 400"), f"an overflowing chunk size: {answer[:80]!r}")

    # Item 8: a key twice in one object is refused, not "the last one wins".
    r = http(tx, "POST", "/v2/jobs", raw_body=b'{"subject": "a", "subject": "b", "body": {"contentType": "text/plain",'
             b' "content": "x"}, "mail": {"from": {"email": "a@sender.test"}},'
             b' "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]}',
             headers={"Content-Type": "application/json"}, user="alice")
    check(r.status == 400 and "subject twice" in r.body, f"a duplicate key: {r}")

    # Defect 6: ten wrong passwords for alice from one address.
    for _ in range(10):
        r = http(tx, "GET", "/v2/jobs/none", headers=basic("alice", "wrong"), source="127.0.0.1")
        check(r.status == 401, f"a wrong password: {r}")
    r = http(tx, "GET", "/v2/jobs/none", headers=basic("alice"), source="127.0.0.1")
    check(r.status == 429, f"alice after ten failures from this address: {r}")
    r = http(tx, "GET", "/v2/jobs/none", headers=basic("bob"), source="127.0.0.1")
    check(r.status == 404, f"bob from the same address is locked out too: {r}")
    r = http(tx, "GET", "/v2/admin/accounts", token=True, source="127.0.0.1")
    check(r.status == 200, f"the admin token from the same address: {r}")
    r = http(tx, "GET", "/v2/jobs/none", headers=basic("alice"), source="127.0.0.6")
    check(r.status == 404, f"alice from another address: {r}")
    d = Dialog(tx.ports["submission"], source="127.0.0.1")
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 454, "4.7.0")
    d.cmd("AUTH PLAIN " + auth_plain("bob", PASSWORD), 235, "2.7.0")
    d.cmd("QUIT", 221)

    # X-Forwarded-For: believed from the trusted proxy (127.0.0.7) only.
    for _ in range(10):
        http(tx, "GET", "/v2/jobs/none", headers={**basic("bob", "wrong"), "X-Forwarded-For": "203.0.113.9"},
             source="127.0.0.7")
    r = http(tx, "GET", "/v2/jobs/none", headers={**basic("bob"), "X-Forwarded-For": "203.0.113.9"}, source="127.0.0.7")
    check(r.status == 429, f"bob behind the proxy as 203.0.113.9: {r}")
    r = http(tx, "GET", "/v2/jobs/none", headers={**basic("bob"), "X-Forwarded-For": "203.0.113.10"}, source="127.0.0.7")
    check(r.status == 404, f"another client behind the same proxy: {r}")
    r = http(tx, "GET", "/v2/jobs/none",
             headers={**basic("bob"), "X-Forwarded-For": "198.51.100.1, 203.0.113.10"}, source="127.0.0.7")
    check(r.status == 404, f"a forged first hop must not matter: {r}")
    r = http(tx, "GET", "/v2/jobs/none", headers={**basic("bob"), "X-Forwarded-For": "203.0.113.9"}, source="127.0.0.8")
    check(r.status == 404, f"X-Forwarded-For from an untrusted peer was believed: {r}")
    check(tx.proc.poll() is None, "txmail ended")

    # Item 8: the data directory is the node's alone (message bodies, keys): 0700 and 0600.
    import stat
    loose = []
    for root, dirs, files in os.walk(tx.data_dir):
        for name in dirs + files:
            mode = os.stat(os.path.join(root, name)).st_mode
            if mode & 0o077:
                loose.append(f"{os.path.relpath(os.path.join(root, name), tx.data_dir)} {stat.filemode(mode)}")
    check(os.stat(tx.data_dir).st_mode & 0o077 == 0, f"data_dir {stat.filemode(os.stat(tx.data_dir).st_mode)}")
    check(not loose, f"readable by others: {loose[:5]}")
print("ok")
