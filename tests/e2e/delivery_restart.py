"""Restart under load: 5,000 messages accepted (smtp-source; the last 300 of 40 KB, whose
bodies live in body segments), delivery under way, kill -9; after the restart every message
reaches the MX whole; duplicates (at least once, never zero times) are counted and bounded
by what was in flight."""
import re
import subprocess
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
dest IN MX 10 mx.dest.test.
mx.dest IN A 127.0.0.71
"""
ACCOUNTS = f'[[account]]\nname = "loader"\npassword = "{PASSWORD}"\nallow_ips = ["127.0.0.1/32"]\nallow_unverified_domains = true\nhourly_limit = 0\n'
TOTAL = 5000
LARGE = 300

sink = Sink("127.0.0.71", PORT, delay=0.002)
try:
    with DnsServer(ZONE) as dns:
        delivery = (f'mx_port = {PORT}\nidle_connection = "500ms"\nmax_messages_per_connection = 1000\n'
                    'retry_schedule = ["1s"]\nretry_every = "1s"\n'
                    '[[delivery.policy]]\ndomain = "dest.test"\nmax_connections = 4\n')
        tx = Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', accounts=ACCOUNTS, delivery=delivery,
                    smtp_settings="max_connections_per_ip = 100")
        tx.start()
        # Most are small; the last LARGE are 40 KB, kept in body segments, still queued at the kill.
        for count, size in ((TOTAL - LARGE, 512), (LARGE, 40_000)):
            out = subprocess.run(["smtp-source", "-s", "10", "-m", str(count), "-l", str(size), "-f", "load@sender.test",
                                  "-t", "rcpt@dest.test", f"127.0.0.1:{tx.ports['relay']}"], capture_output=True,
                                 text=True, timeout=300)
            check(out.returncode == 0, f"smtp-source failed: {out.stdout} {out.stderr}")
        delivered_before = wait_for("delivery under way", lambda: (lambda n: n >= 500 and n)(len(os.listdir(sink.dir)) - 1),
                                    timeout=120)
        tx.kill9()
        before = len(sink.messages())
        check(before < TOTAL, "everything was delivered before the kill: the test proves nothing")
        tx.start()
        wait_for("every message at the MX", lambda: len({re.search(r"\tid (\S+)", m["data"]).group(1)
                                                          for m in sink.messages()}) >= TOTAL, timeout=240)
        msgs = sink.messages()
        jobs = [re.search(r"\tid (\S+)", m["data"]).group(1) for m in msgs]
        unique = set(jobs)
        duplicates = len(jobs) - len(unique)
        check(len(unique) == TOTAL, f"{len(unique)} distinct messages delivered, want {TOTAL}")
        large = {re.search(r"\tid (\S+)", m["data"]).group(1) for m in msgs if len(m["data"]) > 40_000}
        check(len(large) == LARGE, f"{len(large)} distinct large messages delivered whole, want {LARGE}")
        check(duplicates <= 50, f"{duplicates} duplicates: more than what can have been in flight")
        tx.stop()
        check(tx.spool() == [], "jobs left in the spool after everything was delivered")
        print(f"delivered before kill={before} total={len(jobs)} distinct={len(unique)} duplicates={duplicates}")
        shutil.rmtree(tx.dir, ignore_errors=True)
finally:
    sink.stop()
print("ok")
