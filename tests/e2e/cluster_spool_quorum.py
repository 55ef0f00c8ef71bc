"""The replicated spool when the region's quorum is lost (issue site-2): a region on loopback
(nats-servers for sites a and b and the witness w), `cluster init`, and two nodes at site a:
node-a with the default [cluster] on_quorum_loss = "refuse", node-c with "local".

- A 20 MB message accepted at a while no MX answers is in the stream TXMAIL_SPOOL_a in chunks
  (the server's max_payload is 8 MB, chunks are 1 MiB): the stream holds more than 20 messages
  and more than 20 MB.
- The servers of b and w stopped: node-a gives neither 250 nor 202 to anything (SMTP and REST),
  however long it goes on; node-c acknowledges on its local disk alone and counts those jobs in
  txmail_cluster_local_only_jobs.
- The servers back: node-a takes traffic again without anybody doing anything; node-c's
  local-only jobs reach the stream (the gauge returns to 0).
- The MX starts: every acknowledged message arrives once (the 20 MB one byte for byte), none of
  the refused ones ever.
- The 20 MB job's parts deleted from the stream behind node-a's back: it is still delivered,
  and its removal from the stream (whose deletes the server answers "no message found") ends.
- A job left in node-a's part of the stream that node-a knows nothing of (what a put refused
  but stored when the quorum returned leaves) is found by node-a's sweep and removed; then both
  spool streams are empty and neither node has a finished job left to remove."""
import hashlib
import random
import smtplib
import string
import threading

from txmail_harness import *

GRACE = 6  # [cluster] quorum_grace, seconds


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, key, on_loss):
    return (f'[cluster]\nnats = ["{region.url("a")}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "{GRACE}s"\ntimeout = "1s"\npublish_timeout = "3s"\n'
            f'sites = ["a", "b"]\non_quorum_loss = "{on_loss}"\n')


def smtp_send(tx, subject, body="Your code is 123456.", timeout=30):
    """One message through the relay listener: the reply code of the end of data (or of
    whatever refused the transaction first)."""
    message = (f"From: shop@example.com\r\nTo: ann@dest.test\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject.replace(' ', '-')}@example.com>\r\n\r\n{body}\r\n")
    try:
        with smtplib.SMTP("127.0.0.1", tx.ports["relay"], timeout=timeout, source_address=(ALLOWED_IP, 0)) as s:
            s.sendmail("shop@example.com", ["ann@dest.test"], message)
        return 250
    except smtplib.SMTPResponseException as e:
        return e.smtp_code
    except smtplib.SMTPRecipientsRefused as e:
        return list(e.recipients.values())[0][0]
    except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
        return f"disconnected: {e}"


def rest_send(tx, subject):
    job = {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Your code"},
           "mail": {"from": {"email": "shop@example.com"}}, "recipients": [{"mail": {"to": [{"email": "bo@dest.test"}]}}]}
    return http(tx, "POST", "/v2/jobs", job, user="alice")


def spool_streams(tx):
    return {x["stream"]: x for x in cli(tx, "cluster", "status")["spool_streams"]}


def own_spool_prefix(tx):
    """The subject prefix of the spool the node owns, once the status lists it (the status reads
    the spools bucket, which may not answer yet just after a quorum returned)."""
    def owned():
        spools = cli(tx, "cluster", "status").get("spools", [])
        return [x["key"] for x in spools if x.get("owner") == tx.name] or None
    own = wait_for(f"{tx.name}'s spool in the cluster status", owned, timeout=60)
    check(len(own) == 1, f"{tx.name} owns {own}")
    return "txmail.spool." + own[0].removeprefix("spool/").replace("/", ".")


def answered(region, api, request):
    """js_api, asked again while the stream does not answer in time (just after the quorum came
    back its leader may still be catching up: CI saw a request time out there)."""
    tries = []

    def ask():
        try:
            return js_api(region, api, request)
        except (TimeoutError, ConnectionError) as e:
            tries.append(e)
            return None
    return wait_for(f"an answer to {api}", ask, timeout=60), len(tries)


def delete_parts_of_the_chunked_job(region, prefix):
    """Deletes every part (record and chunks) of the one job in TXMAIL_SPOOL_a with chunks under
    `prefix`; how many."""
    info, _ = answered(region, "STREAM.INFO.TXMAIL_SPOOL_a", {"subjects_filter": prefix + ".*.c.*"})
    jobs = {subject[len(prefix) + 1:].split(".")[0] for subject in info["state"].get("subjects", {})}
    check(len(jobs) == 1, f"jobs with chunks in the stream: {jobs}")
    info, _ = answered(region, "STREAM.INFO.TXMAIL_SPOOL_a", {"subjects_filter": f"{prefix}.{jobs.pop()}.>"})
    subjects = sorted(info["state"].get("subjects", {}))
    for subject in subjects:
        message, _ = answered(region, "STREAM.MSG.GET.TXMAIL_SPOOL_a", {"last_by_subj": subject})
        check("message" in message, f"{subject}: {message}")
        deleted, timeouts = answered(region, "STREAM.MSG.DELETE.TXMAIL_SPOOL_a", {"seq": message["message"]["seq"]})
        # Asked again after a timeout, the first request may have deleted it already.
        gone = timeouts > 0 and deleted.get("error", {}).get("err_code") == 10057
        check(deleted.get("success") is True or gone, f"deleting {subject}: {deleted}")
    return len(subjects)


def delivered(sink, subject):
    return [m for m in sink.messages() if f"Subject: {subject}\r\n" in m["data"]]


mx_port = free_port()
sink = None
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = (f'mx_port = {mx_port}\nidle_connection = "100ms"\nretry_schedule = ["1s"]\nretry_every = "1s"\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.52:{mx_port}"\n')
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, key, "refuse"),
                   delivery=delivery, smtp_settings='max_message_size = "30MB"', tls_files=True)
        c = Txmail(name="node-c", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, key, "local"),
                   delivery=delivery, tls_files=True)
        init = run("cluster", "init", "--config", a.config)
        check(init.returncode == 0 and "created: stream TXMAIL_SPOOL_a" in init.stdout, f"init: {init}")
        with a, c:
            # A 20 MB message, held (no MX answers yet), is in the stream in chunks.
            rng = random.Random(15)
            big_body = "\r\n".join("".join(rng.choices(string.ascii_letters + string.digits, k=76))
                                   for _ in range(20 * 1024 * 1024 // 78))
            check(smtp_send(a, "big one", big_body, timeout=120) == 250, "the 20 MB message was refused")
            stream = wait_for("the 20 MB message in the stream",
                              lambda: (lambda s: s.get("values", 0) > 20 and s.get("bytes", 0) > 20_000_000 and s)(
                                  spool_streams(a)["TXMAIL_SPOOL_a"]), timeout=60)
            print(f"20 MB message: {stream['values']} messages, {stream['bytes']} bytes in TXMAIL_SPOOL_a")

            # The quorum lost: a refuses everything, c keeps what it takes on its own disk.
            region.stop("b")
            region.stop("w")
            lost = time.monotonic()
            answers = []
            local = []
            n = 0
            pace = threading.Event()  # never set: paces the load at about 4 rounds a second
            while time.monotonic() - lost < GRACE + 6:
                pace.wait(0.25)
                n += 1
                answers.append(("smtp", n, smtp_send(a, f"refused {n}")))
                r = rest_send(a, f"refused rest {n}")
                answers.append(("rest", n, r.status))
                if r.status == 503:
                    check(r.headers.get("retry-after"), f"a 503 without Retry-After: {r}")
                if n <= 12:
                    local.append((f"local {n}", smtp_send(c, f"local {n}")))
            acked = [x for x in answers if x[2] in (250, 202)]
            check(not acked, f"node-a acknowledged while the quorum was lost: {acked}")
            print(f"quorum lost for {time.monotonic() - lost:.1f} s: node-a answered {len(answers)} submissions with "
                  f"{sorted(set(str(x[2]) for x in answers))}, never 250 or 202")
            check(all(code == 250 for _, code in local), f"node-c refused in local mode: {local}")
            check(metric(c, "txmail_cluster_local_only_jobs") == len(local),
                  f"node-c's local-only jobs: {metric(c, 'txmail_cluster_local_only_jobs')} of {len(local)}")
            check(metric(a, "txmail_cluster_replication_failures_total") > 0, "node-a counted no failure")

            # The quorum back: nobody does anything, a takes traffic again and c replicates.
            region.start("b")
            region.start("w")
            back = time.monotonic()
            wait_for("node-a to take a REST job", lambda: rest_send(a, "after return rest").status == 202, timeout=90)
            check(smtp_send(a, "after return smtp") == 250, "node-a refused SMTP after the return")
            print(f"quorum back -> node-a acknowledges again after {time.monotonic() - back:.1f} s")
            wait_for("node-c's local-only jobs replicated", lambda: metric(c, "txmail_cluster_local_only_jobs") == 0,
                     timeout=60)
            held = wait_for("the stream's state", lambda: spool_streams(c)["TXMAIL_SPOOL_a"].get("values"))
            check(held >= 21 + len(local), "c's jobs are not in the stream")

            # The 20 MB job's parts gone from the stream before it ends (what deletes whose
            # answers were lost in a leader change leave, the deletion then sent again): the
            # job's removal later still ends and empties the stream. A clustered server answers
            # the delete of a sequence whose whole block is gone "10057 no message found".
            gone = delete_parts_of_the_chunked_job(region, own_spool_prefix(a))
            print(f"deleted the 20 MB job's {gone} parts from the stream behind node-a's back")

            # The MX answers: everything acknowledged arrives once, nothing refused ever.
            sink = Sink("127.0.0.52", mx_port)
            wanted = ["big one", "after return rest", "after return smtp"] + [s for s, _ in local]
            wait_for("every acknowledged message", lambda: all(delivered(sink, s) for s in wanted), timeout=90)
            got = delivered(sink, "big one")[0]["data"]
            sent_body = big_body.encode()
            got_body = got.split("\r\n\r\n", 1)[1].encode("utf-8", "surrogateescape")
            check(hashlib.sha256(got_body.rstrip(b"\r\n")).hexdigest() == hashlib.sha256(sent_body).hexdigest(),
                  "the 20 MB message changed on its way")
            duplicates = [s for s in wanted if len(delivered(sink, s)) != 1]
            check(not duplicates, f"delivered more than once: {duplicates}")
            refused = [m for m in sink.messages() if "Subject: refused" in m["data"]]
            check(not refused, f"{len(refused)} refused messages were delivered")
            # A job left in the stream with nothing on node-a accounting for it (what a put refused
            # but stored when the quorum came back leaves): node-a's sweep removes it.
            orphan = own_spool_prefix(a) + ".01a00000-dead.m"
            ack = json.loads(nats_request(region.url("a"), orphan, b"left behind"))
            check(ack.get("stream") == "TXMAIL_SPOOL_a", f"the orphan was not stored: {ack}")
            wait_for("empty spool streams, and no finished job left to remove at either node",
                     lambda: {k: v.get("values") for k, v in spool_streams(a).items()} ==
                     {"TXMAIL_SPOOL_a": 0, "TXMAIL_SPOOL_b": 0} and
                     metric(a, "txmail_cluster_stream_pending") == 0 and
                     metric(c, "txmail_cluster_stream_pending") == 0, timeout=90)
            removed = metric(a, "txmail_cluster_spool_orphans_removed_total")
            check(removed >= 1, f"node-a's sweep removed {removed} orphans")
            print(f"node-a's sweep removed {removed} orphaned jobs from the stream "
                  f"(c's: {metric(c, 'txmail_cluster_spool_orphans_removed_total')})")
            check(a.stop() == 0 and c.stop() == 0, "a node did not stop cleanly")
finally:
    if sink:
        sink.stop()
print("ok")
