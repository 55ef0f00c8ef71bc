"""A full spool stream (issue site-2): a stream (or a server's store) that is full refuses every
write, the deleter's barrier included, but not deletes. Finished jobs must still leave it, or
the room they hold is never freed and intake stays refused.

- node-a holds three jobs (no MX answers) and restarts: the jobs it finds on its disk have no
  known stream sequences, so their removal writes a barrier and looks them up.
- TXMAIL_SPOOL_a is made full (max_msgs = what it holds, discard new): a publish is refused.
- The MX starts: the three jobs are delivered once each, and they leave the stream; node-a has
  no finished job left to remove (txmail_cluster_stream_pending 0, none at its stop), and the
  stream takes a publish again."""
import smtplib

from txmail_harness import *


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


mx_port = free_port()
sink = None
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        cluster = (f'[cluster]\nnats = ["{region.url("a")}"]\nmaster_key_file = "{key}"\n'
                   f'timeout = "2s"\npublish_timeout = "10s"\nsites = ["a", "b"]\n')
        delivery = (f'mx_port = {mx_port}\nidle_connection = "100ms"\nretry_schedule = ["1s"]\n'
                    f'retry_every = "1s"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.54:{mx_port}"\n')
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', tls_files=True, delivery=delivery,
                   extra=cluster)
        check(run("cluster", "init", "--config", a.config).returncode == 0, "init")
        with a:
            for n in range(3):
                with smtplib.SMTP("127.0.0.1", a.ports["relay"], timeout=60, source_address=(ALLOWED_IP, 0)) as s:
                    s.sendmail("shop@example.com", ["ann@dest.test"],
                               f"From: shop@example.com\r\nTo: ann@dest.test\r\nSubject: held {n}\r\n\r\nHi\r\n")
            check(a.stop() == 0, "node-a did not stop cleanly")
            a.start()
            wait_for("node-a's three jobs in the stream, nothing on its way",
                     lambda: spool_values(a)["TXMAIL_SPOOL_a"] == 3 and metric(a, "txmail_cluster_publishing") == 0,
                     timeout=60)

            info = js_api(region, "STREAM.INFO.TXMAIL_SPOOL_a", {})
            config = dict(info["config"], max_msgs=info["state"]["messages"])
            updated = js_api(region, "STREAM.UPDATE.TXMAIL_SPOOL_a", config)
            check("error" not in updated, f"making the stream full: {updated}")
            refused = json.loads(nats_request(region.url("a"), "txmail.spool.a.test.1.full.x", b""))
            check("error" in refused, f"the full stream took a publish: {refused}")
            print(f"TXMAIL_SPOOL_a full at {config['max_msgs']} messages: a publish gets {refused['error']}")

            sink = Sink("127.0.0.54", mx_port)
            wait_for("the three jobs at the sink", lambda: all(
                any(f"Subject: held {n}\r\n" in m["data"] for m in sink.messages()) for n in range(3)), timeout=60)
            wait_for("the finished jobs out of the full stream, nothing left to remove",
                     lambda: spool_values(a)["TXMAIL_SPOOL_a"] == 0 and metric(a, "txmail_cluster_stream_pending") == 0,
                     timeout=60)
            check(len(sink.messages()) == 3, f"{len(sink.messages())} messages at the sink, not 3")
            stored = json.loads(nats_request(region.url("a"), "txmail.spool.a.test.1.full.x", b""))
            check(stored.get("stream") == "TXMAIL_SPOOL_a", f"the stream takes no publish once emptied: {stored}")
            check(a.stop() == 0, "node-a did not stop cleanly")
            with open(a.log, errors="replace") as f:
                waiting = [line for line in f if "finished jobs wait in the stream" in line]
            check(not waiting, f"node-a stopped with removals unfinished: {waiting}")
            print("the three jobs were delivered and left the full stream")
finally:
    if sink:
        sink.stop()
print("ok")
