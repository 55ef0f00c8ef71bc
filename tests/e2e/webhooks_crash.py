"""Push notifications survive a crash (issue core-5, acceptance 3): during heavy event flow
(2,000 messages relayed with smtp-source, each giving STARTED, PROCESSED and DELIVERED events
pushed to the account's default endpoint) txmail is killed with SIGKILL; after the restart
every event's tag in the event log reaches the receiver at least once."""
import sqlite3
import subprocess
from txmail_harness import *
from webhook_receiver import WebhookReceiver

ACCOUNTS = (f'[[account]]\nname = "loader"\npassword = "{PASSWORD}"\nallow_ips = ["127.0.0.1/32"]\n'
            'allow_unverified_domains = true\nhourly_limit = 0\n')
TOTAL = 2000


def logged_tags(tx):
    db = sqlite3.connect(f"file:{os.path.join(tx.data_dir, 'events.db')}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in db.execute("SELECT tag FROM events")}
    finally:
        db.close()


def received(receiver):
    return {n["tag"] for _, n in receiver.notifications()}


receiver = WebhookReceiver()
sink = Sink("127.0.0.55", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.55:{sink.port}"\n'
    tx = Txmail(accounts=ACCOUNTS, delivery=delivery, smtp_settings="max_connections_per_ip = 100",
                extra="[notifications]\nallow_private_targets = true\n")
    tx.start()
    put = http(tx, "PUT", "/v2/webhooks/endpoint", {"url": receiver.url("/crash")}, token=True,
               headers={"X-Txmail-Account": "loader"})
    check(put.status == 200, f"{put}")
    load = subprocess.Popen(["smtp-source", "-s", "10", "-m", str(TOTAL), "-l", "512", "-f", "load@sender.test",
                             "-t", "rcpt@dest.test", f"127.0.0.1:{tx.ports['relay']}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("events flowing to the receiver", lambda: len(received(receiver)) >= 600, timeout=120)
    tx.kill9()
    before = len(received(receiver))
    load.wait(timeout=120)
    tx.start()
    # Settled: the relayed load delivered (nothing queued), every event read by the dispatcher
    # and its outbox empty; then every logged tag must have reached the receiver.
    wait_for("the node settled", lambda: metric(tx, "txmail_queue_jobs") == 0 and notifications_idle(tx), timeout=180)
    want = logged_tags(tx)
    got = received(receiver)
    check(want and want <= got, f"{len(want - got)} of {len(want)} events never reached the receiver")
    check(len(want) >= before, f"only {len(want)} events were logged, {before} were received before the kill")
    print(f"events logged {len(want)}, received before the kill {before}, after {len(received(receiver))}, "
          f"notifications received {len(receiver.notifications())} (duplicates allowed)")
    check(tx.stop() == 0, "txmail did not stop cleanly")
finally:
    receiver.stop()
    sink.stop()
print("ok")
