"""The witness lost under load (issue site-2): node-a and node-b take SMTP and REST submissions
while the witness's nats-server is killed (kill -9), 150 more messages are acknowledged at each
node (about 10 s), and it is restarted. Each site's spool stream is led from its own site
(the nodes see to it), so losing the witness costs no stream its leader.

- No acknowledged message is lost: all reach the sink.
- Neither site stalls for more than 10 seconds: the longest time between two acknowledgements
  at each node is printed and checked."""
from txmail_harness import *
from cluster_load import Load, Ledger

GRACE = 12


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, site, key):
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "{GRACE}s"\ntimeout = "2s"\npublish_timeout = "10s"\n'
            f'node_timeout = "8s"\nsites = ["a", "b"]\n')


def leaders(region):
    """Which server leads each spool stream (from site b's monitoring port)."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{region.monitor['b']}/jsz?streams=true", timeout=5) as r:
        z = json.loads(r.read())
    out = {}
    for account in z.get("account_details", []):
        for s in account.get("stream_detail", []):
            if s["name"].startswith("TXMAIL_SPOOL_"):
                out[s["name"]] = (s.get("cluster") or {}).get("leader")
    return out


sink = Sink("127.0.0.51", free_port())
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = (f'mx_port = {sink.port}\nidle_connection = "200ms"\nretry_schedule = ["1s"]\nretry_every = "1s"\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.51:{sink.port}"\n')
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, "a", key),
                   delivery=delivery, tls_files=True)
        b = Txmail(name="node-b", node_settings='site = "b"\nregion = "r1"', extra=node_config(region, "b", key),
                   delivery=delivery, tls_files=True)
        check(run("cluster", "init", "--config", a.config).returncode == 0, "init")
        with a, b:
            ledger = Ledger(sink)
            load = Load([a, b]).start()
            wait_for("load at both nodes",
                     lambda: len(load.acked_by("node-a")) >= 30 and len(load.acked_by("node-b")) >= 30, timeout=60)
            wait_for("each spool stream led from its own site", lambda: leaders(region) == {
                "TXMAIL_SPOOL_a": "A", "TXMAIL_SPOOL_b": "B"}, timeout=90)
            print(f"spool stream leaders: {leaders(region)}")
            killed = time.monotonic()
            region.kill("w")
            # Load without the witness: 150 more acknowledgements at each node (about 10 s).
            before = {n: len(load.acked_by(n)) for n in ("node-a", "node-b")}
            wait_for("load without the witness", lambda: all(
                len(load.acked_by(n)) >= before[n] + 150 for n in before), timeout=60)
            print(f"{time.monotonic() - killed:.1f} s of load without the witness")
            region.start("w")
            region.wait_ready()
            back = time.monotonic()
            wait_for("load acknowledged after the witness returned", lambda: any(
                t > back for t in load.acked_by("node-a").values()) and any(
                t > back for t in load.acked_by("node-b").values()), timeout=60)
            load.stop()
            everything = dict(load.acked)
            wait_for("every acknowledged message at the sink", lambda: not ledger.missing(everything), timeout=120)
            gaps = {n: load.longest_gap(n, since=killed - 1) for n in ("node-a", "node-b")}
            refused = [r for r in load.refused if r[3] > killed]
            print(f"witness killed: acknowledged {len(everything)}, lost 0, duplicates "
                  f"{len(ledger.duplicates())}, refused {len(refused)}, longest acceptance stall "
                  + ", ".join(f"{n} {g:.2f} s" for n, g in gaps.items()))
            check(all(g < 10 for g in gaps.values()), f"a stall of 10 s or more: {gaps}")
            check(a.stop() == 0 and b.stop() == 0, "a node did not stop cleanly")
finally:
    sink.stop()
print("ok")
