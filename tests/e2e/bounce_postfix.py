"""A bounce after acceptance from a real Postfix (issue bounce-1, acceptance 1). The test starts a
private Postfix on loopback (its own main.cf, master.cf, queue and data directories in a temp
dir) as the recipients' MX: it accepts mail for dest.test with 250 (local_recipient_maps is
empty), then its local delivery agent finds no such user and Postfix's bounce daemon sends its
own DSN to the envelope sender, txmail's return path b-<token>@<bounce domain>; Postfix's
transport_maps send mail for the bounce domain to txmail's inbound listener. The recipient's
events end BOUNCED/HARD_BOUNCE after DELIVERED, with the DSN's status and diagnostic; the account's
webhook receiver gets the BOUNCED event; the next job to the address is dropped
PREVIOUSLY_BOUNCED. Postfix runs as root (its daemons as the postfix user) and is stopped with
`postfix stop`, then by PID: the master's pid file, and every process left in its queue
directory."""
import signal

import jsonschema
from txmail_harness import *
from webhook_receiver import WebhookReceiver

BOUNCES = "bounces.txmail.test"
POSTFIX_IP = "127.0.0.125"
RECIPIENT = "no-such-user@dest.test"
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/webhook.schema.json")) as f:
    SCHEMA = json.load(f)

MAIN_CF = """compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = mx.dest.test
mydomain = dest.test
myorigin = dest.test
mydestination = dest.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Accept every local part at RCPT: the local delivery agent finds no such user after queueing.
local_recipient_maps =
alias_maps =
alias_database =
biff = no
# The DSN to the return path goes to txmail's inbound listener (the bounce domain's MX).
transport_maps = inline:{{ {bounces}=smtp:[127.0.0.1]:{inbound} }}
smtp_tls_security_level = none
smtpd_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
smtp_connect_timeout = 5s
"""

# master.cf: no chroot, the SMTP server on its own loopback address and port only.
MASTER_CF = """{ip}:{port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix instance: `postfix -c DIR/etc start` on IP:PORT."""

    def __init__(self, ip, port, inbound_port):
        check(os.geteuid() == 0, "a private Postfix needs root (its master binds and drops to the postfix user)")
        check(shutil.which("postfix") is not None, "postfix is not installed (scripts/install-deps.sh)")
        self.ip, self.port = ip, port
        self.dir = tempfile.mkdtemp(prefix="txmail-postfix-")
        os.chmod(self.dir, 0o755)  # its daemons run as the postfix user
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        for d in (self.etc, self.queue, os.path.join(self.dir, "data")):
            os.mkdir(d)
        shutil.chown(os.path.join(self.dir, "data"), user="postfix")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, bounces=BOUNCES, inbound=inbound_port))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(ip=ip, port=port))

    def start(self):
        for action in ("check", "start"):
            out = self.command(action)
            check(out.returncode == 0, f"postfix {action} failed: {out.stdout}{out.stderr}{self.log()[-2000:]}")
        wait_for("Postfix listening", self.listening, timeout=30)

    def command(self, action):
        # The postfix command writes its errors to stderr only on a terminal (else to syslog):
        # `script` gives it one, so that a failure says why.
        line = f"postfix -c {self.etc} {action}"
        return subprocess.run(["script", "-qec", line, "/dev/null"], capture_output=True, text=True, timeout=60)

    def listening(self):
        try:
            socket.create_connection((self.ip, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def processes(self):
        """The PIDs of this instance's processes: every Postfix daemon works in its queue directory."""
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.readlink(f"/proc/{pid}/cwd") == self.queue:
                        found.append(int(pid))
                except OSError:
                    pass
        return found

    def stop(self):
        """`postfix stop`, then SIGKILL to whatever is left: the master (its pid file) and every
        process in the queue directory."""
        master = self.master_pid()
        out = self.command("stop")
        if out.returncode == 0:
            deadline = time.time() + 10
            while self.processes() and time.time() < deadline:
                time.sleep(0.1)
        else:
            print(f"postfix stop failed: {out.stdout}{out.stderr}", file=sys.stderr)
        left = set(self.processes())
        if master and os.path.exists(f"/proc/{master}"):
            left.add(master)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for("no Postfix process left", lambda: not self.processes(), timeout=10)

    def cleanup(self, keep):
        if keep:
            print(f"Postfix files kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def job(subject):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Your order"},
            "mail": {"from": {"email": "orders@shop.test"}},
            "recipients": [{"mail": {"to": [{"email": RECIPIENT}]}}]}


def kinds(tx, job_id):
    return [(e["type"], e["subType"]) for e in events(tx, job_id)]


def hooked(receiver, job_id, kind):
    return [n for m, n in receiver.notifications("/hook")
            if m["jobId"] == job_id and (n["event"]["type"], n["event"]["subType"]) == kind]


receiver = WebhookReceiver()
postfix = None
ok = False
try:
    postfix_port = free_port()
    delivery = (f'idle_connection = "200ms"\n'
                f'[[delivery.route]]\ndomain = "dest.test"\nrelay = "{POSTFIX_IP}:{postfix_port}"\n')
    extra = (f'[bounces]\ndomain = "{BOUNCES}"\n[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n'
             '[notifications]\nallow_private_targets = true\n')
    with Txmail(extra=extra, delivery=delivery) as tx:
        postfix = Postfix(POSTFIX_IP, postfix_port, tx.ports["inbound"])
        postfix.start()
        put = http(tx, "PUT", "/v2/webhooks/endpoint", {"url": receiver.url("/hook")}, user="alice")
        check(put.status in (200, 201, 204), f"webhook endpoint: {put}")

        sent = http(tx, "POST", "/v2/jobs", job("Your order"), user="alice")
        check(sent.status == 202, f"{sent}")
        job_id = sent.json["jobId"]
        # Postfix says 250, then bounces; its DSN reaches the inbound listener.
        final = [("DELIVERED", "OK"), ("BOUNCED", "HARD_BOUNCE")]
        wait_for("BOUNCED after DELIVERED", lambda: kinds(tx, job_id) == final, timeout=40)
        dsn_sent = (rf"to=<b-[a-z0-9]+@{re.escape(BOUNCES)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                    rf"{tx.ports['inbound']}, .*status=sent")
        # Postfix logs the DSN as sent once txmail's 250 reached it: after the event, at times.
        try:
            wait_for("Postfix's log of the DSN sent to txmail", lambda: re.search(dsn_sent, postfix.log()), timeout=20)
        except SystemExit:
            print(f"the DSN was not sent to txmail: {postfix.log()[-2000:]}")
            raise
        log = postfix.log()
        check("status=bounced (unknown user" in log and "sender non-delivery notification" in log,
              f"Postfix did not bounce after queueing: {log[-2000:]}")
        evs = events(tx, job_id)
        delivered, bounced = evs
        check(delivered["reply"].startswith("250 2.0.0 Ok: queued as"), f"delivered: {delivered}")
        check("5.1.1" in bounced["reply"] and 'unknown user: "no-such-user"' in bounced["reply"],
              f"bounced: {bounced}")

        got = wait_for("the BOUNCED event at the webhook receiver",
                       lambda: hooked(receiver, job_id, ("BOUNCED", "HARD_BOUNCE")))
        check(got[0]["mail"]["email"] == RECIPIENT and "5.1.1" in got[0]["event"]["description"],
              f"webhook: {got[0]}")
        for r in receiver.got("/hook"):
            jsonschema.validate(r["body"], SCHEMA)

        wait_for("the address suppressed", lambda: http(
            tx, "GET", f"/v2/suppressions/{RECIPIENT}", user="alice").status == 200)
        again = http(tx, "POST", "/v2/jobs", job("Your next order"), user="alice")
        check(again.status == 202, f"{again}")
        check([(x["status"], x.get("reason")) for x in again.json["recipients"]] == [("DROPPED", "PREVIOUSLY_BOUNCED")],
              f"the next job: {again}")
        wait_for("the DROPPED event at the webhook receiver",
                 lambda: hooked(receiver, again.json["jobId"], ("DROPPED", "PREVIOUSLY_BOUNCED")))
        accepted = re.findall(r"smtpd\[\d+\]: \w+: client=", postfix.log())
        check(len(accepted) == 1, f"Postfix accepted {len(accepted)} messages, not 1: the next job reached it?")
        print(f"Postfix's DSN at the return path -> {bounced['reply']!r}; webhook got BOUNCED; "
              "next job dropped PREVIOUSLY_BOUNCED")
    ok = True
finally:
    if postfix:
        postfix.stop()
        postfix.cleanup(keep=not ok)
    receiver.stop()
print("ok")
