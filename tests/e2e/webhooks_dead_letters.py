"""Dead letters are never lost to a replay that cannot write the outbox (issue quality-1,
defect 2): batches that ran out of tries are listed by GET /v2/webhooks/dead-letters; with the
node stopped the test makes webhooks.db's outbox refuse new rows (a trigger that aborts the
INSERT, then one that silently drops the row); POST /v2/webhooks/dead-letters/replay then
answers a problem (5xx), never a false success, and every dead letter is still listed. With
the outbox writable again the replay moves them all and the receiver gets them."""
import re
import sqlite3
from txmail_harness import *
from webhook_receiver import WebhookReceiver


def job(url):
    return {"subject": "dead", "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "ok@dest.test"}]}}]}


def dead_letters(tx):
    r = http(tx, "GET", "/v2/webhooks/dead-letters", user="alice")
    check(r.status == 200, f"dead letters: {r}")
    return sorted(d["id"] for d in r.json["deadLetters"])


def backlog(tx):  # batches waiting for a try, plus events the dispatcher has not read
    body = http(tx, "GET", "/metrics").body
    return sum(int(re.search(name + r" (\d+)", body).group(1))
               for name in ("txmail_webhook_retry_backlog", "txmail_webhook_lag_events"))


def change_state(tx, sql):
    """Runs `sql` on webhooks.db while the node is stopped."""
    db = sqlite3.connect(os.path.join(tx.data_dir, "webhooks.db"))
    try:
        db.executescript(sql)
    finally:
        db.close()


def replay_refused(tx, letters, what):
    tx.start()
    r = http(tx, "POST", "/v2/webhooks/dead-letters/replay", user="alice")
    check(500 <= r.status < 600 and r.headers.get("content-type", "").startswith("application/problem+json"),
          f"{what}: replay answered {r}, not a problem")
    check(dead_letters(tx) == letters, f"{what}: dead letters {dead_letters(tx)}, were {letters}")
    check(tx.stop() == 0, f"{what}: txmail did not stop cleanly")


receiver = WebhookReceiver()
sink = Sink("127.0.0.59", free_port())
tx = None
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.59:{sink.port}"\n'
    tx = Txmail(delivery=delivery,
                extra='[notifications]\nallow_private_targets = true\nretry_schedule = ["200ms"]\n')
    receiver.status["/dead"] = 503
    tx.start()
    r = http(tx, "POST", "/v2/jobs", job(receiver.url("/dead")), user="alice")
    check(r.status == 202, f"{r}")
    job_id = r.json["jobId"]
    wait_for("delivery", lambda: len(events(tx, job_id, phase=None)) >= 3)
    wait_for("every batch a dead letter", lambda: backlog(tx) == 0 and dead_letters(tx))
    letters = dead_letters(tx)
    tags = {e["tag"] for e in events(tx, job_id, phase=None)}
    check(tx.stop() == 0, "txmail did not stop cleanly")

    change_state(tx, "CREATE TRIGGER refuse BEFORE INSERT ON outbox"
                     " BEGIN SELECT RAISE(ABORT, 'the outbox refuses rows (test)'); END;")
    replay_refused(tx, letters, "an INSERT that fails")
    change_state(tx, "DROP TRIGGER refuse;"
                     "CREATE TRIGGER drop_rows BEFORE INSERT ON outbox BEGIN SELECT RAISE(IGNORE); END;")
    replay_refused(tx, letters, "an INSERT that inserts nothing")

    change_state(tx, "DROP TRIGGER drop_rows;")
    receiver.status["/dead"] = 200
    tx.start()
    r = http(tx, "POST", "/v2/webhooks/dead-letters/replay", user="alice")
    check(r.status == 200 and r.json["replayed"] == len(letters), f"replay: {r}")
    wait_for("the replayed batches", lambda: tags <= {n["tag"] for _, n in receiver.notifications("/dead")})
    check(dead_letters(tx) == [], "still dead after the replay")
    check(tx.stop() == 0, "txmail did not stop cleanly")
    shutil.rmtree(tx.dir, ignore_errors=True)
finally:
    if tx is not None and tx.proc is not None:
        tx.stop()
    receiver.stop()
    sink.stop()
print("ok")
