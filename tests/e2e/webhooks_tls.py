"""Push notifications over TLS verify the endpoint's certificate (issue core-5, item 4): an
HTTPS receiver whose certificate chains to a trusted CA (named to txmail by SSL_CERT_FILE, as
OpenSSL's default verify paths allow) and matches the host name gets the notifications; a
receiver with a self-signed certificate, or reached by a name its certificate does not hold,
gets none, and the failures are retried, not skipped."""
import re
import subprocess
from txmail_harness import *
from webhook_receiver import WebhookReceiver


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def job(url):
    return {"subject": "tls", "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "ok@dest.test"}]}}]}


work = tempfile.mkdtemp(prefix="txmail-tls-")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=txmail test CA", cwd=work)
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "hook.key",
        "-out", "hook.csr", "-subj", "/CN=localhost", cwd=work)
with open(os.path.join(work, "ext.cnf"), "w") as f:
    f.write("subjectAltName=DNS:localhost\n")
openssl("x509", "-req", "-in", "hook.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "hook.pem",
        "-days", "2", "-extfile", "ext.cnf", cwd=work)
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "self.key",
        "-out", "self.pem", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", cwd=work)

trusted = WebhookReceiver(tls=(os.path.join(work, "hook.pem"), os.path.join(work, "hook.key")))
untrusted = WebhookReceiver(tls=(os.path.join(work, "self.pem"), os.path.join(work, "self.key")))
sink = Sink("127.0.0.56", free_port())
os.environ["SSL_CERT_FILE"] = os.path.join(work, "ca.pem")
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.56:{sink.port}"\n'
    extra = '[notifications]\nallow_private_targets = true\nretry_schedule = ["2s", "2s", "2s", "2s", "2s", "2s"]\n'
    with Txmail(delivery=delivery, extra=extra) as tx:
        good = http(tx, "POST", "/v2/jobs", job(trusted.url("/ok", host="localhost")), user="alice").json["jobId"]
        got = wait_for("notifications over verified TLS",
                       lambda: [n for m, n in trusted.notifications("/ok") if m["jobId"] == good and n["event"]["type"] == "DELIVERED"])
        check(got, "nothing over TLS")
        bad = http(tx, "POST", "/v2/jobs", job(untrusted.url("/self", host="localhost")), user="alice").json["jobId"]
        wrong_name = http(tx, "POST", "/v2/jobs", job(trusted.url("/name", host="127.0.0.1")), user="alice").json["jobId"]
        wait_for("the failures", lambda: "certificate verify failed" in tx.log_text() or
                 int(re.search(r"txmail_webhook_failures_total (\d+)", http(tx, "GET", "/metrics").body).group(1)) >= 2)
        # Retries happen, and fail again.
        failures = wait_for("the TLS failures retried", lambda: (lambda n: n >= 4 and n)(int(re.search(
            r"txmail_webhook_failures_total (\d+)", http(tx, "GET", "/metrics").body).group(1))), timeout=30)
        check(untrusted.got() == [], "a self-signed endpoint got notifications")
        check(trusted.got("/name") == [], "a certificate for another name was accepted")
finally:
    del os.environ["SSL_CERT_FILE"]
    trusted.stop()
    untrusted.stop()
    sink.stop()
    shutil.rmtree(work, ignore_errors=True)
print("ok")
