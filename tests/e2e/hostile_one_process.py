"""All the hostile traffic of issue harden-1 against one node, one after the other, with no
restart between: hostile base64 everywhere, a trickling SMTP command, partial HTTP headers, a
password guesser, a key twice in a JSON body, Expect without credentials, an overflowing chunk
size, NUL octets and an empty BDAT message, a notification endpoint behind NAT64, and a full
disk (the data directory is a small tmpfs the test mounts) refused and recovered from. Then the
same process still accepts and delivers a normal message, and kept every message it accepted.
Only the damaged-file cases are elsewhere (hostile_damaged_files.py): they are about what a
node finds when it starts."""
import base64
from txmail_harness import *

PORT = free_port()
sink = Sink("127.0.0.58", PORT)


def alive(tx, what):
    check(tx.proc.poll() is None, f"txmail ended after {what}: {tx.stderr()[-2000:]}")


def job(**over):
    j = {"subject": "x", "body": {"contentType": "text/plain", "content": "x"},
         "mail": {"from": {"email": "a@sender.test"}}, "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]}
    j.update(over)
    return j


try:
    delivery = f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.58:{sink.port}"\n'
    smtp = 'command_timeout = "3s"\ndata_timeout = "3s"\nmin_data_rate = 1000\n'
    tx = Txmail(tls_files=True, delivery=delivery, smtp_settings=smtp, node_settings='min_free_space = "24MiB"\n',
                extra='[notifications]\nallow_private_targets = false\n',
                http_settings='header_timeout = "3s"\nmax_connections_per_ip = 30\n')
    os.makedirs(tx.data_dir)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs", tx.data_dir],
                             capture_output=True, text=True)
    check(mounted.returncode == 0, f"cannot mount a tmpfs for the test: {mounted.stderr}")
    with tx:
        accepted = []
        # Base64 with hostile padding, wherever a stranger sends it.
        for bad in ("====", "a===", "A=A="):
            check(http(tx, "GET", "/v2/jobs/x", headers={"Authorization": "Basic " + bad}).status == 401, "Basic")
            r = http(tx, "POST", "/v2/jobs", job(attachments=[{"name": "a", "content": bad}]), user="alice")
            check(r.status == 400, f"attachment {bad}: {r}")
            d = Dialog(tx.ports["submission"])
            d.expect(220)
            d.cmd("EHLO client.test", 250)
            d.starttls()
            d.cmd("EHLO client.test", 250)
            d.cmd("AUTH PLAIN " + bad, 501, "5.5.2")
            d.close()
        alive(tx, "hostile base64")

        # A trickling command line is cut at command_timeout.
        d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
        d.expect(220)
        d.sock.settimeout(0.5)
        answer = b""
        start = time.time()
        for b in b"EHLO a-slow-client.example.test\r\n":
            try:
                d.sock.sendall(bytes([b]))
                answer += d.sock.recv(4096)
                break
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                break
        check(answer.startswith(b"421 4.4.2"), f"trickling command: {answer!r} after {time.time() - start:.1f}s")
        d.close()
        alive(tx, "a trickling command")

        # Partial HTTP headers are closed at header_timeout.
        partial = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", tx.ports["http"]), timeout=10, source_address=("127.0.0.21", 0))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            partial.append(s)
        check(http(tx, "GET", "/healthz", source="127.0.0.22").status == 200, "healthz beside partial headers")
        for s in partial:
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        alive(tx, "partial headers")

        # A password guesser locks out only its target user from its address.
        for _ in range(10):
            http(tx, "GET", "/v2/jobs/none", user="alice", password="wrong", source="127.0.0.23")
        check(http(tx, "GET", "/v2/jobs/none", user="alice", source="127.0.0.23").status == 429, "the guessed user")
        check(http(tx, "GET", "/v2/jobs/none", user="relayer", source="127.0.0.23").status == 404, "another user")
        check(http(tx, "GET", "/v2/admin/accounts", token=True, source="127.0.0.23").status == 200, "the admin token")

        # A key twice, Expect without credentials, an overflowing chunk size.
        r = http(tx, "POST", "/v2/jobs", raw_body=b'{"subject": "a", "subject": "b"}',
                 headers={"Content-Type": "application/json"}, user="alice")
        check(r.status == 400, f"a key twice: {r}")
        check(raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                      b"Expect: 100-continue\r\n\r\n").startswith(b"HTTP/1.1 401"), "Expect without credentials")
        check(raw_http(tx, b"POST /v2/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Basic "
                      + base64.b64encode(f"alice:{PASSWORD}".encode()) + b"\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nx\r\n")
              .startswith(b"HTTP/1.1 400"), "an overflowing chunk size")
        alive(tx, "hostile HTTP")

        # NUL octets and an empty message over SMTP.
        d = relay_session(tx)
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RCPT TO:<b@dest.test>", 250)
        d.cmd("DATA", 354)
        d.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
        d.expect(550, "5.6.0", "a NUL octet")
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RCPT TO:<b@dest.test>", 250)
        d.cmd("BDAT 0 LAST", 550, "5.6.0")
        d.cmd("QUIT", 221)
        alive(tx, "hostile SMTP data")

        # A notification endpoint on a NAT64 address (64:ff9b::/96 maps IPv4 loopback): refused.
        r = http(tx, "POST", "/v2/jobs", job(notification={"endPoint": {"url": "http://[64:ff9b::7f00:1]:9/hook"}}),
                 user="alice")
        check(r.status == 202, f"a job with a NAT64 endpoint: {r}")
        accepted.append(r.json["jobId"])
        wait_for("the NAT64 endpoint refused", lambda: "allow_private_targets" in tx.log_text())
        alive(tx, "a NAT64 endpoint")

        # A full disk: refused while full (SMTP 451, REST 503, /readyz 503), accepted again by
        # itself once space returns.
        filler = os.path.join(tx.data_dir, "filler")
        fill_disk(filler)
        code, text, _ = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: full\r\n\r\nx\r\n")
        check(code == 451 and text.startswith("4.3.0"), f"with the disk full: {code} {text}")
        check(http(tx, "POST", "/v2/jobs", job(), user="alice").status == 503, "REST with the disk full")
        check(http(tx, "GET", "/readyz").status == 503, "/readyz with the disk full")
        os.unlink(filler)
        accepted.append(wait_for("accepted after the disk was full", lambda: submit_as(
            tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: after full\r\n\r\nx\r\n")[2], timeout=20))
        wait_for("ready after the disk was full", lambda: http(tx, "GET", "/readyz").status == 200)
        alive(tx, "a full disk")

        # The same process still takes a normal message and delivers it.
        job_id = submit(tx, "a@sender.test", ["normal@dest.test"], "Subject: normal\r\n\r\nafter it all\r\n")
        got = wait_for("the normal message at the MX", lambda: [m for m in sink.messages()
                                                                 if "normal@dest.test" in m["rcpt_tos"]], timeout=60)
        check("after it all" in got[0]["data"], "the message body")
        wait_for("the DELIVERED event", lambda: events(tx, job_id, type="DELIVERED"))
        check(tx.proc.poll() is None, "txmail ended")
        # Nothing it accepted on the way was lost: each is delivered too.
        for j in accepted:
            wait_for(f"accepted job {j} delivered", lambda: events(tx, j, type="DELIVERED"), timeout=60)
finally:
    if "tx" in globals() and tx.proc and tx.proc.poll() is None:
        tx.proc.kill()
        tx.proc.wait()
    if "tx" in globals():
        subprocess.run(["umount", tx.data_dir], capture_output=True)
    sink.stop()
print("ok")
