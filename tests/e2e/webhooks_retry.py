"""Push notification retries (issue core-5, acceptance 2): with the receiver down for two
minutes, nothing is lost: the batches are retried (a shortened schedule, every 10 s) and all
arrive once it is up; 301 and 404 answers are not retried; with a short schedule the batches
that keep failing become dead letters, /v2/webhooks/dead-letters lists them and replay
delivers them; an endpoint on a private address is refused unless the operator allows it."""
from txmail_harness import *
from webhook_receiver import WebhookReceiver


def job(url, to="ok@dest.test"):
    return {"subject": "retry", "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": to}]}}]}


def tags(tx, job_id):
    return {e["tag"] for e in events(tx, job_id, phase=None)}


def received_tags(receiver, path=None):
    return {n["tag"] for _, n in receiver.notifications(path)}


receiver = WebhookReceiver()
sink = Sink("127.0.0.54", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.54:{sink.port}"\n'
    # Part 1: down for two minutes, then up; 301 and 404 are final.
    schedule = ", ".join(['"10s"'] * 15)
    with Txmail(delivery=delivery, extra=f"[notifications]\nallow_private_targets = true\nretry_schedule = [{schedule}]\n") as tx:
        receiver.stop()
        down_since = time.time()
        jobs = [http(tx, "POST", "/v2/jobs", job(receiver.url("/down")), user="alice").json["jobId"] for _ in range(5)]
        # The first five jobs' batches have failed and been tried again before the next five come.
        wait_for("retries while the receiver is down", lambda: metric(tx, "txmail_webhook_failures_total") >= 10, timeout=60)
        jobs += [http(tx, "POST", "/v2/jobs", job(receiver.url("/down")), user="alice").json["jobId"] for _ in range(5)]
        want = set()
        for j in jobs:
            want |= wait_for(f"{j} delivered", lambda: (lambda t: len(t) >= 3 and t)(tags(tx, j)))
        wait_for("two minutes of the receiver down", lambda: time.time() - down_since >= 120, timeout=150)
        receiver.start()
        got = wait_for("every event after the receiver came back",
                       lambda: (lambda t: want <= t and t)(received_tags(receiver, "/down")), timeout=60)
        check(want <= got, f"lost: {want - got}")
        check(metric(tx, "txmail_webhook_failures_total") > 0, "no failed attempt was counted")

        receiver.status["/moved"] = 301
        receiver.status["/gone"] = 404
        moved = http(tx, "POST", "/v2/jobs", job(receiver.url("/moved")), user="alice").json["jobId"]
        gone = http(tx, "POST", "/v2/jobs", job(receiver.url("/gone")), user="alice").json["jobId"]
        for j in (moved, gone):
            wait_for(f"{j} delivered", lambda: len(tags(tx, j)) >= 3)
        wait_for("the 301 and 404 answers", lambda: receiver.got("/moved") and receiver.got("/gone"))
        # Nothing is left to retry: the outbox is empty once each refusal was taken as final.
        wait_for("the notifications idle", lambda: notifications_idle(tx), timeout=60)
        # A job's events may come in more than one batch (acceptance, then delivery), but no
        # batch is sent twice: every notification tag reached each path exactly once.
        for path, j in (("/moved", moved), ("/gone", gone)):
            sent = [n["meta"]["tag"] for r in receiver.got(path) for n in r["body"]["notifications"]]
            check(sorted(sent) == sorted(tags(tx, j)), f"{path}: tags {len(sent)} sent, a batch retried or lost")
        refused = metric(tx, "txmail_webhook_refused_total")
        answered = len(receiver.got("/moved")) + len(receiver.got("/gone"))
        check(refused == answered, f"refusals counted {refused}, answered 301/404 {answered}")

    # Part 2: a short schedule runs out; dead letters, then replay.
    with Txmail(delivery=delivery, extra='[notifications]\nallow_private_targets = true\nretry_schedule = ["1s", "1s"]\n') as tx:
        receiver.status["/flaky"] = 503
        failing = http(tx, "POST", "/v2/jobs", job(receiver.url("/flaky")), user="alice").json["jobId"]
        wait_for("delivery", lambda: len(tags(tx, failing)) >= 3)

        # Every batch of the job (it may have been sent in more than one) has run out of tries.
        wait_for("the dead letters", lambda: notifications_idle(tx) and
                 http(tx, "GET", "/v2/webhooks/dead-letters", user="alice").json["deadLetters"], timeout=60)
        dead = http(tx, "GET", "/v2/webhooks/dead-letters", user="alice").json["deadLetters"]
        check(dead[0]["jobId"] == failing and dead[0]["attempts"] == 3 and dead[0]["lastError"] == "HTTP 503"
              and dead[0]["url"] == receiver.url("/flaky"), f"{dead}")
        attempts = len(receiver.got("/flaky"))
        check(attempts >= 3, f"{attempts} attempts")
        check(http(tx, "GET", "/v2/webhooks/dead-letters", user="relayer").json["deadLetters"] == [], "another account's")
        receiver.status["/flaky"] = 200
        replay = http(tx, "POST", "/v2/webhooks/dead-letters/replay", user="alice")
        check(replay.status == 200 and replay.json["replayed"] == len(dead), f"{replay}")
        want = tags(tx, failing)
        wait_for("the replayed batch", lambda: want <= received_tags(receiver, "/flaky"))
        check(http(tx, "GET", "/v2/webhooks/dead-letters", user="alice").json["deadLetters"] == [], "still dead")

    # Part 3: private targets are refused unless allowed.
    with Txmail(delivery=delivery) as tx:
        refused = http(tx, "POST", "/v2/jobs", job(receiver.url("/private")), user="alice").json["jobId"]
        wait_for("delivery", lambda: len(tags(tx, refused)) >= 3)
        wait_for("the refusal", lambda: "allow_private_targets" in tx.log_text())
        wait_for("the notifications idle", lambda: notifications_idle(tx))
        check(receiver.got("/private") == [], "a private target was called")
finally:
    receiver.stop()
    sink.stop()
print("ok")
